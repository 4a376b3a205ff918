// D: idle latency. One worker process waits on an empty queue; the bench commits one job every
// `interval` ms and records when each commit returned; the worker records when each handler
// started. Both times come from CLOCK_MONOTONIC, one clock for the machine.
import { checkLedger, createDatabase, latencies, log, nowMs, percentile, sleep } from '../lib.mjs';
import { forkWorkers } from '../workers.mjs';

/** Scenario id and title. */
export const id = 'D';
export const title = 'idle latency, commit to handler start';

async function waitProcessed(workers, n, deadline) {
  while (workers.processed() < n) {
    if (nowMs() > deadline) return false;
    await sleep(5);
  }
  return true;
}

/** Records p50/p95/p99 rows for one run; percentiles reached by missing jobs are censored. */
export function recordPercentiles(record, base, lat, waitedS, extra) {
  for (const p of [50, 95, 99]) {
    const v = percentile(lat, p);
    const censored = v === Number.POSITIVE_INFINITY;
    record({
      ...base,
      metric: `p${p} latency`,
      value: censored ? null : v,
      unit: 'ms',
      better: 'lower',
      ...extra,
      ...(censored ? { na: `> ${waitedS} s: some jobs never ran while the bench waited` } : {}),
    });
  }
}

async function runOne({ serverUrl, sizes, record }, system, variant) {
  const n = sizes.dJobs;
  const base = { scenario: 'D', system: system.name, variant, procs: 1 };
  const why = system.workerUnavailable();
  if (why) {
    for (const p of [50, 95, 99]) {
      record({
        ...base,
        metric: `p${p} latency`,
        value: null,
        unit: 'ms',
        better: 'lower',
        na: why,
      });
    }
    return;
  }
  const db = await createDatabase(serverUrl, `d_${system.name}_${variant}`);
  let workers;
  let producer;
  try {
    await system.install(db.url, variant);
    producer = await system.openProducer(db.url, variant);
    workers = await forkWorkers({
      system: system.name,
      variant,
      url: db.url,
      procs: 1,
      recordTimes: true,
    });
    await workers.start();
    await sleep(1000); // let LISTEN connect and the first empty polls pass: the worker is idle
    log(`D ${system.name}/${variant}: ${n} jobs, one every ${sizes.dIntervalMs} ms`);
    const commitAt = new Float64Array(n);
    const t0 = nowMs();
    for (let i = 0; i < n; i++) {
      const wait = t0 + i * sizes.dIntervalMs - nowMs();
      if (wait > 0) await sleep(wait);
      await producer.one(i);
      commitAt[i] = nowMs();
    }
    const complete = await waitProcessed(workers, n, nowMs() + sizes.dWaitS * 1000);
    const ledger = await workers.stop();
    workers = undefined;
    const check = checkLedger(ledger.seqs, n);
    const lat = latencies(commitAt, ledger, n);
    recordPercentiles(record, base, lat, sizes.dWaitS, {
      complete,
      verified: complete ? check.ok : check.duplicates === 0 && check.outOfRange === 0,
      detail: { jobs: n, intervalMs: sizes.dIntervalMs, ...check },
    });
  } finally {
    workers?.kill();
    await producer?.close();
    await db.drop();
  }
}

/** Runs D for every system × worker variant. */
export async function run(ctx) {
  for (const system of ctx.systems) {
    for (const variant of ctx.variants) await runOne(ctx, system, variant);
  }
}
