import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '@sluice/testkit';
import { InvalidOptionsError, type Logger } from 'sluice';
import { createQueue, Maintenance, type MaintenanceConfig } from 'sluice/admin';
import { useTestDatabase } from '../../../../test/setup/db.js';

const db = useTestDatabase();
const quiet: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
const started: Maintenance[] = [];

/** ANALYZE is off unless a test asks for it, so only the ANALYZE test analyzes. */
function makeMaintenance(config: MaintenanceConfig = {}) {
  const m = new Maintenance(
    { pool: db.current.pool, schema: 'sluice', logger: quiet },
    { analyzeIntervalMs: 0, startDelayMs: 0, ...config },
  );
  started.push(m);
  return m;
}

afterEach(async () => {
  for (const m of started.splice(0)) {
    await m.stop();
    expect(m.isRunning).toBe(false);
  }
});

const q = <R extends object>(text: string, values: unknown[] = []) =>
  db.current.pool.query<R & Record<string, unknown>>(text, values).then((r) => r.rows);

/** A history row finished `ago` before now (e.g. '10 days'). */
async function historyRow(id: number, queue: string, finishedAgo: string) {
  await q(
    `INSERT INTO sluice.job_history (id, queue, task, payload, state, priority, run_at, attempt,
       max_attempts, created_at, finished_at)
     VALUES ($1, $2, 't', '{}', 'completed', 0, now(), 1, 1, now(), now() - $3::interval)`,
    [id, queue, finishedAgo],
  );
}

async function deadLetter(id: number, queue: string, failedAgo: string) {
  await q(
    `INSERT INTO sluice.dead_letter (id, queue, task, payload, priority, run_at, attempt,
       max_attempts, reason, created_at, failed_at)
     VALUES ($1, $2, 't', '{}', 0, now(), 1, 1, 'test', now(), now() - $3::interval)`,
    [id, queue, failedAgo],
  );
}

/** Name of the day partition (UTC) holding `ago`. */
async function partitionOf(ago: string) {
  const rows = await q<{ name: string }>(
    `SELECT name FROM sluice.history_partitions WHERE now() - $1::interval >= from_at AND now() - $1::interval < to_at`,
    [ago],
  );
  return rows[0]?.name;
}

describe('Maintenance', () => {
  it('drops history partitions past every queue retention, never touching sluice.job', async () => {
    // 'short' keeps history 3 days, 'default' 7: a partition goes only past 7 days.
    await createQueue({ db: db.current.pool, name: 'short', historyRetention: '3 days' });
    await q(
      `SELECT sluice.create_history_partitions((now() AT TIME ZONE 'UTC')::date - 10, 1),
              sluice.create_history_partitions((now() AT TIME ZONE 'UTC')::date - 5, 1)`,
    );
    await historyRow(1, 'default', '10 days');
    await historyRow(2, 'short', '5 days');
    await historyRow(3, 'default', '1 minute');
    const old = (await partitionOf('10 days'))!;
    const middle = (await partitionOf('5 days'))!;
    const today = (await partitionOf('1 minute'))!;
    expect([old, middle, today].every(Boolean)).toBe(true);
    // Unfinished work is never retention's business, however far off or old.
    await q(
      `INSERT INTO sluice.job (queue, task, run_at, created_at) VALUES
         ('default', 'later', now() + interval '90 days', now()),
         ('default', 'ancient', now() - interval '400 days', now() - interval '400 days')`,
    );

    const run = await makeMaintenance().runOnce();

    expect(run.partitionsDropped).toEqual([old]);
    const left = (await q<{ name: string }>(`SELECT name FROM sluice.history_partitions`)).map(
      (r) => r.name,
    );
    expect(left).not.toContain(old);
    expect(left).toEqual(expect.arrayContaining([middle, today]));
    expect(
      (await q<{ id: string }>(`SELECT id FROM sluice.job_history ORDER BY id`)).map((r) => r.id),
    ).toEqual(['2', '3']);
    expect(await q(`SELECT task FROM sluice.job ORDER BY task`)).toEqual([
      { task: 'ancient' },
      { task: 'later' },
    ]);
  });

  it('creates day partitions from yesterday to 3 days ahead, rescuing rows parked in the default partition', async () => {
    // A row finished "in 5 days" (clock skew, or a test) lands in the default partition; the
    // partition for its day must still be creatable, with the row moved into it.
    await historyRow(10, 'default', '-5 days');
    expect(await q(`SELECT id FROM sluice.job_history_default`)).toHaveLength(1);
    await makeMaintenance({ partitionsAheadDays: 6 }).runOnce();
    const rows = await q<{ covered: number }>(
      `SELECT count(*)::int AS covered FROM generate_series(-1, 6) AS d
       WHERE EXISTS (SELECT 1 FROM sluice.history_partitions p
         WHERE p.from_at <= now() + d * interval '1 day' AND p.to_at > now() + d * interval '1 day')`,
    );
    expect(rows[0]!.covered).toBe(8);
    expect(await q(`SELECT id FROM sluice.job_history_default`)).toHaveLength(0);
    expect(await q(`SELECT id FROM sluice.job_history WHERE id = 10`)).toHaveLength(1);
    // Idempotent.
    expect((await makeMaintenance({ partitionsAheadDays: 6 }).runOnce()).partitionsCreated).toBe(0);
  });

  it('purges dead letters older than their own queue retention, in batches', async () => {
    await createQueue({ db: db.current.pool, name: 'brief', deadLetterRetention: '1 day' });
    await deadLetter(101, 'brief', '2 days'); // past 1 day: purged
    await deadLetter(102, 'brief', '2 days');
    await deadLetter(103, 'brief', '1 hour'); // kept
    await deadLetter(104, 'default', '10 days'); // default keeps 30 days: kept
    await deadLetter(105, 'default', '40 days'); // purged
    await deadLetter(106, 'gone', '40 days'); // queue without a row: 30 days, purged
    const run = await makeMaintenance({ deadLetterBatchSize: 1 }).runOnce();
    expect(run.deadLettersDeleted).toBe(4);
    expect(
      (await q<{ id: string }>(`SELECT id FROM sluice.dead_letter ORDER BY id`)).map((r) => r.id),
    ).toEqual(['103', '104']);
  });

  it('analyzes the partitioned parents, which autovacuum never does, at most every analyzeIntervalMs', async () => {
    const stats = () =>
      q<{ relname: string; last_analyze: Date | null; reltuples: number }>(
        `SELECT s.relname, s.last_analyze, c.reltuples FROM pg_stat_user_tables s
         JOIN pg_class c ON c.oid = s.relid
         WHERE s.relid IN ('sluice.job'::regclass, 'sluice.job_history'::regclass) ORDER BY 1`,
      );
    const before = await stats();
    expect(before.map((r) => r.reltuples)).toEqual([-1, -1]); // never analyzed
    const m = makeMaintenance({ analyzeIntervalMs: 600_000 });
    expect((await m.runOnce()).isAnalyzed).toBe(true);
    await eventually(async () => {
      const after = await stats();
      expect(after.map((r) => r.relname)).toEqual(['job', 'job_history']);
      for (const r of after) {
        expect(r.last_analyze).not.toBeNull();
        expect(r.reltuples).toBeGreaterThanOrEqual(0);
      }
    });
    expect((await m.runOnce()).isAnalyzed).toBe(false);
    // Another process sees the recent ANALYZE through the statistics system.
    expect((await makeMaintenance({ analyzeIntervalMs: 600_000 }).runOnce()).isAnalyzed).toBe(
      false,
    );
  });

  it('runs on its interval until stopped', async () => {
    const m = makeMaintenance({ intervalMs: 20 });
    let runs = 0;
    m.on('run', () => runs++);
    await m.start();
    await eventually(() => expect(runs).toBeGreaterThanOrEqual(3));
    await m.stop();
    const after = runs;
    expect(m.isRunning).toBe(false);
    expect(runs).toBe(after);
  });

  it('waits startDelayMs before its first run, and stop() during the wait ends it at once', async () => {
    const m = makeMaintenance({ intervalMs: 20, startDelayMs: 400 });
    let runs = 0;
    m.on('run', () => runs++);
    const t0 = Date.now();
    await m.start();
    await new Promise((r) => setTimeout(r, 200));
    expect(runs).toBe(0);
    await eventually(() => expect(runs).toBeGreaterThanOrEqual(1));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    await m.stop();

    const waiting = makeMaintenance({ startDelayMs: 60_000 });
    await waiting.start();
    const stopAt = Date.now();
    await waiting.stop();
    expect(Date.now() - stopAt).toBeLessThan(1000);
    expect(waiting.config.startDelayMs).toBe(60_000);
    expect(
      new Maintenance({ pool: db.current.pool, schema: 'sluice', logger: quiet }).config
        .startDelayMs,
    ).toBe(10_000);
  });

  it('rejects invalid config with InvalidOptionsError', () => {
    expect(() => makeMaintenance({ intervalMs: -1 })).toThrow(InvalidOptionsError);
  });
});
