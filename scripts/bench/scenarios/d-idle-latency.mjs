// D: idle latency. One worker process waits on an empty queue; the bench commits one job every
// `interval` ms and records when each commit returned; the worker records when each handler
// started. Both times come from CLOCK_MONOTONIC, one clock for the machine. Then lateness of due
// work on the same idle worker: jobs delayed by dDelayMs (start − due, the due time taken before
// the enqueue call, so lateness is if anything over-stated), and for systems with schedules a
// cron tick every second (started_at − run_at, both by the database clock).
import {
  checkLedger,
  createDatabase,
  latencies,
  log,
  nowMs,
  percentile,
  sleep,
  withClient,
} from '../lib.mjs';
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

/** Jobs due dDelayMs after their enqueue, one every 23 ms (so several wait at once). */
async function runDelayed(producer, workers, n, sizes) {
  const m = sizes.dDelayedJobs;
  const dueAt = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    dueAt[i] = nowMs() + sizes.dDelayMs;
    await producer.delayed(n + i, sizes.dDelayMs);
    await sleep(23);
  }
  const complete = await waitProcessed(workers, n + m, nowMs() + sizes.dWaitS * 1000);
  return { m, dueAt, complete };
}

/** A schedule ticking every second for dCronTicks seconds. */
async function runTicks(producer, sizes) {
  await producer.scheduleEverySecond();
  await sleep(sizes.dCronTicks * 1000 + 1500);
  return true;
}

/** The ledger with seqs from `from` renumbered from 0. */
function shifted(ledger, from) {
  return { ...ledger, seqs: ledger.seqs.map((q) => q - from) };
}

function recordLateness(record, base, kind, late, waitedS, extra) {
  for (const p of [50, 99]) {
    const v = percentile(late, p);
    const censored = v === null || v === Number.POSITIVE_INFINITY;
    record({
      ...base,
      metric: `p${p} lateness, ${kind}`,
      value: censored ? null : v,
      unit: 'ms',
      better: 'lower',
      ...extra,
      ...(censored ? { na: `> ${waitedS} s or none ran` } : {}),
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
    const delayed = producer.delayed ? await runDelayed(producer, workers, n, sizes) : undefined;
    const ticks = producer.scheduleEverySecond ? await runTicks(producer, sizes) : false;
    const ledger = await workers.stop();
    workers = undefined;
    const ledgerJobs = { ...ledger, seqs: ledger.seqs.filter((q) => q !== -1) };
    const all = n + (delayed?.m ?? 0);
    const check = checkLedger(ledgerJobs.seqs, all);
    const verified = complete ? check.ok : check.duplicates === 0 && check.outOfRange === 0;
    const lat = latencies(commitAt, ledgerJobs, n);
    recordPercentiles(record, base, lat, sizes.dWaitS, {
      complete,
      verified,
      detail: { jobs: n, intervalMs: sizes.dIntervalMs, ...check },
    });
    if (delayed) {
      const late = latencies(delayed.dueAt, shifted(ledgerJobs, n), delayed.m);
      recordLateness(record, base, 'delayed', late, sizes.dWaitS, {
        complete: delayed.complete,
        verified,
        detail: { jobs: delayed.m, delayMs: sizes.dDelayMs },
      });
    }
    if (ticks) {
      const late = await withClient(db.url, (c) => system.tickLateness(c));
      recordLateness(record, base, 'cron tick', late, sizes.dWaitS, {
        complete: late.length >= sizes.dCronTicks,
        verified: true,
        detail: { ticks: late.length, cron: '* * * * * *' },
      });
    }
  } finally {
    workers?.kill();
    await producer?.close();
    await db.drop();
  }
}

/** Runs D for every system × worker variant. */
export async function run(ctx) {
  for (const system of ctx.systems) {
    for (const variant of ctx.variants.filter(
      (v) => v in system.workerVariants && !system.workerVariants[v].isDrainOnly,
    )) {
      await runOne(ctx, system, variant);
    }
  }
}
