// K: soak (opt-in: `--only K`). A steady `kRate` jobs/s for `kMinutes` while a REPEATABLE READ
// transaction, opened after `kHoldStartS`, stays open for `kHoldMinutes`: it keeps vacuum from
// removing the dead rows every claim and completion leaves. Per window: p99 of commit → handler
// start, and dead tuples; while it is held, whether `sluice doctor` warns about the snapshot; after
// it closes, how long until the window p99 is back within 2× its baseline.
import pg from 'pg';
import { createDatabase, latencies, log, nowMs, percentile, sleep } from '../lib.mjs';
import { forkWorkers } from '../workers.mjs';

/** Scenario id and title. */
export const id = 'K';
export const title = 'soak with a long-held snapshot';
/** Not part of a default run: it takes kMinutes. */
export const isOptIn = true;

async function deadTuples(client) {
  const { rows } = await client.query(
    `SELECT coalesce(sum(n_dead_tup), 0)::float8 AS dead FROM pg_stat_user_tables`,
  );
  return rows[0].dead;
}

async function runOne({ serverUrl, sizes, record }, system) {
  const { kRate: rate, kWindowS: windowS } = sizes;
  const seconds = sizes.kMinutes * 60;
  const n = Math.round(rate * seconds);
  const base = { scenario: 'K', system: system.name, variant: 'best', procs: 1 };
  const db = await createDatabase(serverUrl, `k_${system.name}`);
  const client = new pg.Client({ connectionString: db.url });
  const holder = new pg.Client({ connectionString: db.url });
  let workers;
  let producer;
  try {
    await system.install(db.url, 'best');
    producer = await system.openProducer(db.url, 'best');
    await Promise.all([client.connect(), holder.connect()]);
    workers = await forkWorkers({
      system: system.name,
      variant: 'best',
      url: db.url,
      procs: 1,
      recordTimes: true,
    });
    await workers.start();
    log(
      `K ${system.name}: ${rate} jobs/s for ${sizes.kMinutes} min, snapshot held ${sizes.kHoldMinutes} min`,
    );
    const commitAt = new Float64Array(n);
    const sampleAt = [];
    let sent = 0;
    const t0 = nowMs();
    const holdFrom = t0 + sizes.kHoldStartS * 1000;
    const holdTo = holdFrom + sizes.kHoldMinutes * 60_000;
    let held = 'before';
    let doctorWarned = null;
    let nextSample = t0 + windowS * 1000;
    while (sent < n) {
      const now = nowMs();
      if (held === 'before' && now >= holdFrom) {
        await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
        await holder.query('SELECT count(*) FROM pg_class'); // takes the snapshot
        held = 'held';
      } else if (held === 'held' && now >= holdTo) {
        await holder.query('COMMIT');
        held = 'after';
      }
      const due = Math.min(n, Math.floor(((now - t0) * rate) / 1000)) - sent;
      if (due > 0) {
        const seqs = Array.from({ length: due }, (_, k) => sent + k);
        await producer.bulk(seqs);
        const at = nowMs();
        for (const s of seqs) commitAt[s] = at;
        sent += due;
      }
      if (nowMs() >= nextSample) {
        sampleAt.push({ t: nextSample, dead: await deadTuples(client), held });
        // Once the snapshot is older than a window, the doctor (threshold: one window) must say so.
        const heldMs = nowMs() - holdFrom;
        if (
          held === 'held' &&
          !doctorWarned &&
          heldMs >= windowS * 1000 &&
          system.name === 'sluice'
        ) {
          const { inspectSchema } = await import('sluice/admin');
          const report = await inspectSchema({ db: client, oldSnapshotAfterMs: windowS * 1000 });
          doctorWarned = report.oldSnapshots.length > 0;
        }
        nextSample += windowS * 1000;
      }
      await sleep(10);
    }
    if (held === 'held') await holder.query('COMMIT');
    const deadline = nowMs() + 30_000;
    while (workers.processed() < n && nowMs() < deadline) await sleep(10);
    const ledger = await workers.stop();
    workers = undefined;
    const lat = latencies(commitAt, ledger, n);
    // Window p99s by commit time.
    const windows = [];
    for (let w = 0; w * windowS < seconds; w++) {
      const from = t0 + w * windowS * 1000;
      const to = from + windowS * 1000;
      const inWindow = [];
      for (let i = 0; i < n; i++)
        if (commitAt[i] >= from && commitAt[i] < to) inWindow.push(lat[i]);
      windows.push({ from, to, p99: percentile(inWindow, 99) });
    }
    const baseline = percentile(
      windows.filter((w) => w.to <= holdFrom).map((w) => w.p99),
      50,
    );
    const worstHeld = Math.max(
      ...windows.filter((w) => w.from >= holdFrom && w.to <= holdTo).map((w) => w.p99),
    );
    const back = windows.find((w) => w.from >= holdTo && w.p99 <= 2 * baseline);
    record({ ...base, metric: 'claim p99 baseline', value: baseline, unit: 'ms', better: 'lower' });
    record({
      ...base,
      metric: 'claim p99 worst while held',
      value: worstHeld,
      unit: 'ms',
      better: 'lower',
    });
    record({
      ...base,
      metric: 'recovery to ≤ 2× baseline',
      value: back ? (back.to - holdTo) / 1000 : null,
      unit: 's',
      better: 'lower',
      ...(back ? {} : { na: 'not back within the run' }),
      note: `window ${windowS} s`,
    });
    record({
      ...base,
      metric: 'dead tuples at release',
      value: Math.max(...sampleAt.filter((s) => s.held === 'held').map((s) => s.dead)),
      unit: 'rows',
      better: 'lower',
      detail: {
        samples: sampleAt.map((s) => ({
          at: Math.round((s.t - t0) / 1000),
          dead: s.dead,
          held: s.held,
        })),
        windows: windows.map((w) => ({ at: Math.round((w.from - t0) / 1000), p99: w.p99 })),
      },
    });
    if (doctorWarned !== null) {
      record({
        ...base,
        metric: 'doctor warned while held',
        value: doctorWarned ? 1 : 0,
        unit: 'yes=1',
        better: 'higher',
      });
    }
  } finally {
    workers?.kill();
    await producer?.close();
    await holder.end().catch(() => undefined);
    await client.end().catch(() => undefined);
    await db.drop();
  }
}

/** Sluice, and the PostgreSQL peers if asked for with --systems. */
export async function run(ctx) {
  for (const system of ctx.systems.filter((s) =>
    ['sluice', 'graphile-worker', 'pg-boss'].includes(s.name),
  )) {
    await runOne(ctx, system);
  }
}
