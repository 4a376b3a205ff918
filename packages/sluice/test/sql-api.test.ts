import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { cancelJob, defineTask, enqueue, type JobOptions } from 'sluice';
import { createQueue, pauseQueue, resumeQueue } from 'sluice/admin';
import { useTestDatabase } from '../../../test/setup/db.js';

const db = useTestDatabase();
const anything = defineTask({ name: 'anything', schema: z.unknown() });

async function query<R extends pg.QueryResultRow>(text: string, values?: unknown[]) {
  return (await db.current.pool.query<R>(text, values)).rows;
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

/**
 * Relations of more than 8 pages (64 KiB) that the plan of `sql` reads with a Seq Scan. Smaller
 * ones (an empty default partition, a queue with a handful of jobs) are cheapest to scan.
 */
async function seqScannedRelations(sql: string) {
  const [row] = await query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (FORMAT JSON) ${sql}`);
  const scanned: string[] = [];
  const walk = (n: PlanNode) => {
    if (n['Node Type'] === 'Seq Scan' && n['Relation Name']) scanned.push(n['Relation Name']);
    n.Plans?.forEach(walk);
  };
  walk(row!['QUERY PLAN'][0].Plan);
  const large = await query<{ relname: string }>(
    `SELECT relname FROM pg_class WHERE relnamespace = 'sluice'::regnamespace
     AND relname = ANY($1) AND relpages > 8`,
    [scanned],
  );
  return large.map((r) => r.relname);
}

/** Inserts a finished job straight into history, `agoSeconds` before now. */
async function historyRow(queue: string, state: 'completed' | 'cancelled', agoSeconds: number) {
  await query(
    `INSERT INTO sluice.job_history (id, queue, task, payload, state, priority, run_at, attempt,
       max_attempts, created_at, finished_at)
     VALUES (nextval('sluice.job_id_seq'), $1, 'anything', '{}', $2, 0, now(), 1, 25, now(),
       now() - $3 * interval '1 second')`,
    [queue, state, agoSeconds],
  );
}

async function deadRow(queue: string) {
  const [row] = await query<{ id: string }>(
    `INSERT INTO sluice.dead_letter (id, queue, task, payload, priority, run_at, attempt,
       max_attempts, reason, created_at)
     VALUES (nextval('sluice.job_id_seq'), $1, 'anything', '{}', 0, now(), 3, 3, 'boom', now())
     RETURNING id`,
    [queue],
  );
  return row!.id;
}

describe('queue_stats', () => {
  it('counts each state of a queue on a small controlled dataset', async () => {
    await createQueue({ db: db.current.pool, name: 'stats' });
    await createQueue({ db: db.current.pool, name: 'other' });
    const add = (options: JobOptions) =>
      enqueue(anything, {}, { db: db.current.pool, queue: 'stats', ...options });
    for (let i = 0; i < 3; i++) await add({ runAt: new Date(Date.now() - 600_000 + i * 1000) });
    for (let i = 0; i < 2; i++) await add({ delayMs: 3_600_000 });
    const running = await add({});
    const blocked = await add({});
    await query(
      `UPDATE sluice.job SET state = 'running', attempt = 1, worker_id = 'w', started_at = now(),
         lease_expires_at = now() + interval '30 seconds' WHERE id = $1`,
      [running.id],
    );
    await query(`UPDATE sluice.job SET state = 'blocked' WHERE id = $1`, [blocked.id]);
    await deadRow('stats');
    await deadRow('stats');
    for (const ago of [10, 600, 1800, 3000]) await historyRow('stats', 'completed', ago);
    await historyRow('stats', 'completed', 7200); // older than an hour
    await historyRow('stats', 'cancelled', 60); // not a completion
    await historyRow('other', 'completed', 60);
    await enqueue(anything, {}, { db: db.current.pool, queue: 'other' });

    const rows = await query(`SELECT * FROM sluice.queue_stats WHERE queue = ANY($1) ORDER BY 1`, [
      ['other', 'stats'],
    ]);
    const age = (r: Record<string, unknown>) => r.oldest_ready_age_seconds as number;
    expect(age(rows[1]!)).toBeGreaterThanOrEqual(599);
    expect(age(rows[1]!)).toBeLessThan(660);
    expect(rows.map((r) => ({ ...r, oldest_ready_age_seconds: undefined }))).toEqual([
      {
        queue: 'other',
        is_paused: false,
        ready: '1',
        scheduled: '0',
        running: '0',
        blocked: '0',
        dead: '0',
        completed_last_hour: '1',
        oldest_ready_age_seconds: undefined,
      },
      {
        queue: 'stats',
        is_paused: false,
        ready: '3',
        scheduled: '2',
        running: '1',
        blocked: '1',
        dead: '2',
        completed_last_hour: '4',
        oldest_ready_age_seconds: undefined,
      },
    ]);
  });

  it('pause_queue and resume_queue flip is_paused, from SQL and from code', async () => {
    const paused = async () =>
      (
        await query<{ p: boolean }>(
          `SELECT is_paused AS p FROM sluice.queue_stats WHERE queue = 'stats'`,
        )
      )[0]!.p;
    expect(await query(`SELECT sluice.pause_queue('stats') AS ok`)).toEqual([{ ok: true }]);
    expect(await paused()).toBe(true);
    expect(await query(`SELECT sluice.resume_queue('stats') AS ok`)).toEqual([{ ok: true }]);
    expect(await paused()).toBe(false);
    expect(await pauseQueue({ db: db.current.pool, name: 'stats' })).toBe(true);
    expect(await paused()).toBe(true);
    expect(await resumeQueue({ db: db.current.pool, name: 'stats' })).toBe(true);
    expect(await paused()).toBe(false);
    // An unknown queue is reported as false, not NULL.
    expect(await query(`SELECT sluice.pause_queue('nope') AS ok`)).toEqual([{ ok: false }]);
    expect(await query(`SELECT sluice.resume_queue('nope') AS ok`)).toEqual([{ ok: false }]);
    expect(await pauseQueue({ db: db.current.pool, name: 'nope' })).toBe(false);
  });
});

describe('cancel_job', () => {
  it('moves a pending job to history as cancelled, once', async () => {
    const { id } = await enqueue(anything, { keep: 'me' }, { db: db.current.pool, queue: 'stats' });
    expect(await query(`SELECT sluice.cancel_job($1) AS ok`, [id])).toEqual([{ ok: true }]);
    expect(await query(`SELECT 1 FROM sluice.job WHERE id = $1`, [id])).toEqual([]);
    expect(
      await query(
        `SELECT state, payload, cancel_reason, finished_at <= now() AS done
         FROM sluice.job_history WHERE id = $1`,
        [id],
      ),
    ).toEqual([
      { state: 'cancelled', payload: { keep: 'me' }, cancel_reason: 'cancelled', done: true },
    ]);
    expect(await query(`SELECT sluice.cancel_job($1) AS ok`, [id])).toEqual([{ ok: false }]);
    expect(await query(`SELECT sluice.cancel_job(-1) AS ok`)).toEqual([{ ok: false }]);
  });

  it('flags a running job and tells its worker; cancelJob gives the reason', async () => {
    const { id } = await enqueue(anything, {}, { db: db.current.pool, queue: 'stats' });
    await query(`UPDATE sluice.job SET state = 'running', attempt = 1 WHERE id = $1`, [id]);
    const listener = new pg.Client({ connectionString: db.current.url });
    await listener.connect();
    const heard: string[] = [];
    listener.on('notification', (n) => heard.push(n.payload ?? ''));
    await listener.query('LISTEN "sluice:cancel"');
    expect(await cancelJob({ db: db.current.pool, id })).toBe(true);
    await listener.query('SELECT 1');
    expect(heard).toEqual([id]);
    await listener.end();
    const [row] = await query<{ state: string; flagged: boolean }>(
      `SELECT state, cancel_requested_at IS NOT NULL AS flagged FROM sluice.job WHERE id = $1`,
      [id],
    );
    expect(row).toEqual({ state: 'running', flagged: true });

    const pending = await enqueue(anything, {}, { db: db.current.pool, queue: 'stats' });
    expect(await cancelJob({ db: db.current.pool, id: pending.id, reason: 'user asked' })).toBe(
      true,
    );
    expect(
      await query(`SELECT cancel_reason FROM sluice.job_history WHERE id = $1`, [pending.id]),
    ).toEqual([{ cancel_reason: 'user asked' }]);
  });
});

describe('with a million pending jobs', () => {
  const ids = { pending: '', completed: '', dead: '' };
  beforeAll(async () => {
    await query(`DELETE FROM sluice.job WHERE queue = 'default'`);
    await query(
      `INSERT INTO sluice.job (queue, task, payload, run_at)
       SELECT 'default', 'bulk', '{}', now() - interval '1 minute' FROM generate_series(1, 1000000)`,
    );
    // A day of history (a completion every ~0.4 s) and a dead-letter backlog. History is written
    // in finished_at order, as completions append it: its BRIN index relies on that.
    await query(
      `INSERT INTO sluice.job_history (id, queue, task, payload, state, priority, run_at, attempt,
         max_attempts, created_at, finished_at)
       SELECT nextval('sluice.job_id_seq'), 'default', 'bulk', '{}', 'completed', 0, now(), 1, 25,
         now(), now() - (200000 - g) * interval '430 milliseconds'
       FROM generate_series(1, 200000) g
       -- No row within five minutes of the one-hour boundary: the expectation and the view read
       -- the clock moments apart, and a row crossing the boundary between them failed CI once.
       WHERE (200000 - g) * 0.43 NOT BETWEEN 3300 AND 3900`,
    );
    await query(
      `INSERT INTO sluice.dead_letter (id, queue, task, payload, priority, run_at, attempt,
         max_attempts, reason, created_at)
       SELECT nextval('sluice.job_id_seq'), 'default', 'bulk', '{}', 0, now(), 25, 25, 'x', now()
       FROM generate_series(1, 20000)`,
    );
    await query('ANALYZE sluice.job, sluice.job_history, sluice.dead_letter, sluice.queue');
    ids.pending = (await query<{ id: string }>(`SELECT max(id) AS id FROM sluice.job`))[0]!.id;
    ids.completed = (
      await query<{ id: string }>(
        `SELECT max(id) AS id FROM sluice.job_history WHERE queue = 'default'`,
      )
    )[0]!.id;
    ids.dead = (await query<{ id: string }>(`SELECT max(id) AS id FROM sluice.dead_letter`))[0]!.id;
  }, 180_000);

  it('queue_stats reads no history partition in full and counts right', async () => {
    // The check can see a full scan: an unindexed filter on history has one.
    const control = await seqScannedRelations(
      `SELECT count(*) FROM sluice.job_history WHERE task = 'x'`,
    );
    expect(control.some((r) => r.startsWith('job_history_'))).toBe(true);
    const scans = await seqScannedRelations('SELECT * FROM sluice.queue_stats');
    // A partition most of whose rows finished within the hour (today's, in the first hours after
    // midnight UTC) is rightly read whole; any other must not be.
    const older = (
      await query<{ part: string }>(
        `SELECT tableoid::regclass::text AS part FROM sluice.job_history GROUP BY 1
         HAVING avg((finished_at > now() - interval '1 hour')::int) < 0.5`,
      )
    ).map((r) => r.part.replace(/^sluice\./, ''));
    expect(scans.filter((r) => r.startsWith('job_history') && older.includes(r))).toEqual([]);

    const [analyzed] = await query<{ 'QUERY PLAN': [{ 'Execution Time': number }] }>(
      'EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM sluice.queue_stats',
    );
    const ms = analyzed!['QUERY PLAN'][0]['Execution Time'];
    console.log(`queue_stats with 1,000,000 pending jobs: ${ms.toFixed(1)} ms`);

    const [expected] = await query(
      `SELECT (SELECT count(*) FROM sluice.job_history WHERE queue = 'default' AND state = 'completed'
         AND finished_at > now() - interval '1 hour') AS completed_last_hour`,
    );
    const [row] = await query(
      `SELECT ready, scheduled, dead, completed_last_hour FROM sluice.queue_stats WHERE queue = 'default'`,
    );
    expect(row).toEqual({ ready: '1000000', scheduled: '0', dead: '20000', ...expected });
  });

  it('all_jobs finds a job by id through indexes and reports its state', async () => {
    for (const [state, id] of [
      ['pending', ids.pending],
      ['completed', ids.completed],
      ['dead', ids.dead],
    ] as const) {
      const scans = await seqScannedRelations(`SELECT * FROM sluice.all_jobs WHERE id = ${id}`);
      expect({ state, seqScans: scans }).toEqual({ state, seqScans: [] });
      expect(await query(`SELECT id, state FROM sluice.all_jobs WHERE id = $1`, [id])).toEqual([
        { id, state },
      ]);
    }
  });
});
