// C: drain N pre-loaded no-op jobs with 1 and 2 worker processes. The clock runs from the moment
// the workers are told to start to the moment the database shows no unfinished job.
import pg from 'pg';
import * as raw from '../systems/raw-sql.mjs';
import { checkLedger, createDatabase, log, nowMs, seqBatches, settle, sleep } from '../lib.mjs';
import { forkWorkers } from '../workers.mjs';

/** Scenario id and title. */
export const id = 'C';
export const title = 'drain pre-loaded no-op jobs';

/** Pre-loads N jobs through the system's own bulk enqueue (not timed). */
export async function preload(system, url, variant, n) {
  const producer = await system.openProducer(url, variant);
  try {
    for (const seqs of seqBatches(0, n, 5000)) await producer.bulk(seqs);
  } finally {
    await producer.close();
  }
}

/**
 * Waits until the workers report `n` handler runs, then polls the database every 5 ms until no
 * job is unfinished. Returns the end time, or null at the deadline.
 */
async function waitDrained(system, client, workers, n, deadline) {
  while (workers.processed() < n * 0.95) {
    if (nowMs() > deadline) return null;
    await sleep(5);
  }
  for (;;) {
    const left = await system.unfinished(client);
    const at = nowMs();
    if (left === 0) return at;
    if (at > deadline) return null;
    await sleep(5);
  }
}

async function drainRaw(serverUrl, n) {
  const db = await createDatabase(serverUrl, 'c_raw');
  try {
    await raw.installDrainTable(db.url, n);
    await settle(db.url);
    log(`C raw-sql: drain ${n} rows with 2 connections`);
    const r = await raw.drain(db.url, 2);
    return { ...r, rate: (n / r.elapsedMs) * 1000, ok: r.deleted === n && r.left === 0 };
  } finally {
    await db.drop();
  }
}

async function runOne({ serverUrl, sizes, record }, system, variant, procs) {
  const n = sizes.cJobs;
  const base = { scenario: 'C', system: system.name, variant, procs, metric: 'drain rate' };
  const why = system.workerUnavailable();
  if (why) {
    record({ ...base, value: null, unit: 'jobs/s', better: 'higher', na: why });
    return;
  }
  const db = await createDatabase(serverUrl, `c_${system.name}_${variant}_${procs}`);
  const client = new pg.Client({ connectionString: db.url });
  let workers;
  try {
    await system.install(db.url, variant);
    await preload(system, db.url, variant, n);
    await settle(db.url);
    await client.connect();
    workers = await forkWorkers({ system: system.name, variant, url: db.url, procs });
    log(`C ${system.name}/${variant}: drain ${n} jobs with ${procs} process(es)`);
    const t0 = nowMs();
    await workers.start();
    const end = await waitDrained(system, client, workers, n, t0 + sizes.cTimeoutS * 1000);
    const elapsedMs = (end ?? nowMs()) - t0;
    const left = await system.unfinished(client);
    const ledger = await workers.stop();
    workers = undefined;
    const check = checkLedger(ledger.seqs, n);
    const done = n - left;
    record({
      ...base,
      value: (done / elapsedMs) * 1000,
      unit: 'jobs/s',
      better: 'higher',
      complete: end !== null,
      // Timed out: every job that ran, ran once; the others are simply not done yet.
      verified: end !== null ? check.ok : check.duplicates === 0 && check.outOfRange === 0,
      detail: { jobs: n, elapsedMs, done, ...check },
      ...(end === null
        ? {
            note: `timed out after ${sizes.cTimeoutS} s with ${done}/${n} done; rate over that time`,
          }
        : {}),
    });
  } finally {
    workers?.kill();
    await client.end().catch(() => undefined);
    await db.drop();
  }
}

/** Runs the raw-SQL ceiling, then every system × variant × 1 and 2 processes. */
export async function run(ctx) {
  const n = ctx.sizes.cJobs;
  // The ceiling runs first and last; its mean is the reference for the runs in between.
  const before = await drainRaw(ctx.serverUrl, n);
  for (const system of ctx.systems) {
    for (const variant of ctx.variants.filter((v) => v in system.workerVariants)) {
      for (const procs of [1, 2]) await runOne(ctx, system, variant, procs);
    }
  }
  const after = await drainRaw(ctx.serverUrl, n);
  ctx.record({
    scenario: 'C',
    system: 'raw-sql',
    variant: 'ceiling',
    procs: 2,
    metric: 'drain rate',
    value: (before.rate + after.rate) / 2,
    unit: 'jobs/s',
    better: 'higher',
    verified: before.ok && after.ok,
    detail: { jobs: n, runs: [before, after] },
    note: '2 connections; mean of a run before and a run after the systems',
  });
}
