// E: steady load. The bench enqueues `rate` jobs/s for `seconds` (a bulk call every 10 ms with
// the jobs due by then) while 2 worker processes run them; latency is commit to handler start,
// backlog is the unfinished jobs when production stops.
import pg from 'pg';
import { checkLedger, createDatabase, latencies, log, nowMs, sleep } from '../lib.mjs';
import { forkWorkers } from '../workers.mjs';
import { recordPercentiles } from './d-idle-latency.mjs';

/** Scenario id and title. */
export const id = 'E';
export const title = 'steady load';

async function runOne({ serverUrl, sizes, record }, system, variant) {
  const { eRate: rate, eSeconds: seconds, eProcs: procs } = sizes;
  const n = Math.round(rate * seconds);
  const base = { scenario: 'E', system: system.name, variant, procs };
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
    record({
      ...base,
      metric: 'backlog at end',
      value: null,
      unit: 'jobs',
      better: 'lower',
      na: why,
    });
    return;
  }
  const db = await createDatabase(serverUrl, `e_${system.name}_${variant}`);
  const client = new pg.Client({ connectionString: db.url });
  let workers;
  let producer;
  try {
    await system.install(db.url, variant);
    producer = await system.openProducer(db.url, variant);
    await client.connect();
    workers = await forkWorkers({
      system: system.name,
      variant,
      url: db.url,
      procs,
      recordTimes: true,
    });
    await workers.start();
    await sleep(1000);
    log(`E ${system.name}/${variant}: ${rate} jobs/s for ${seconds} s, ${procs} processes`);
    const commitAt = new Float64Array(n);
    const backlog = [];
    let sent = 0;
    const t0 = nowMs();
    let nextSample = t0 + 1000;
    while (sent < n) {
      const due = Math.min(n, Math.floor(((nowMs() - t0) * rate) / 1000)) - sent;
      if (due > 0) {
        const seqs = Array.from({ length: due }, (_, k) => sent + k);
        await producer.bulk(seqs);
        const at = nowMs();
        for (const s of seqs) commitAt[s] = at;
        sent += due;
      }
      if (nowMs() >= nextSample) {
        backlog.push(await system.unfinished(client));
        nextSample += 1000;
      }
      await sleep(10);
    }
    const producedMs = nowMs() - t0;
    const backlogEnd = await system.unfinished(client);
    const deadline = nowMs() + sizes.eWaitS * 1000;
    while (workers.processed() < n && nowMs() < deadline) await sleep(5);
    const complete = workers.processed() >= n;
    const ledger = await workers.stop();
    workers = undefined;
    const check = checkLedger(ledger.seqs, n);
    const verified = complete ? check.ok : check.duplicates === 0 && check.outOfRange === 0;
    const detail = {
      jobs: n,
      producedRate: (n / producedMs) * 1000,
      backlogPerSecond: backlog,
      ...check,
    };
    recordPercentiles(record, base, latencies(commitAt, ledger, n), sizes.eWaitS, {
      complete,
      verified,
      detail,
    });
    record({
      ...base,
      metric: 'backlog at end',
      value: backlogEnd,
      unit: 'jobs',
      better: 'lower',
      complete,
      verified,
      detail: { backlogPerSecond: backlog, producedRate: detail.producedRate },
    });
  } finally {
    workers?.kill();
    await producer?.close();
    await client.end().catch(() => undefined);
    await db.drop();
  }
}

/** Runs E for every system × worker variant. */
export async function run(ctx) {
  for (const system of ctx.systems) {
    for (const variant of ctx.variants.filter(
      (v) => v in system.workerVariants && !system.workerVariants[v].isDrainOnly,
    )) {
      await runOne(ctx, system, variant);
    }
  }
}
