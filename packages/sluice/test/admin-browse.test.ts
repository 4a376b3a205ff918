// The sluice/admin functions behind the dashboard: filtered, keyset-paged job and dead-letter
// lists, finishes per minute, workers with running counts, the audit log and withTransaction.
import { describe, expect, it } from 'vitest';
import {
  countFinishedPerMinute,
  listAuditLog,
  listDeadLetters,
  listJobs,
  listQueueCounts,
  listQueueStats,
  listWorkers,
  purgeDeadLetters,
  recordAudit,
  withTransaction,
} from 'sluice/admin';
import { useTestDatabase } from '../../../test/setup/db.js';

const db = useTestDatabase();

async function enqueue(task: string, uniqueKey: string | null = null, runAt = 'now()') {
  const { rows } = await db.current.pool.query<{ id: string }>(
    `SELECT sluice.enqueue($1, '{}', 'default', ${runAt}, 0, NULL, $2) AS id`,
    [task, uniqueKey],
  );
  return rows[0]!.id;
}

async function deadLetters(rows: { task: string; failedAgo: string }[]) {
  const { rows: out } = await db.current.pool.query<{ id: string }>(
    `INSERT INTO sluice.dead_letter (id, queue, task, payload, priority, run_at, attempt,
       max_attempts, reason, created_at, failed_at)
     SELECT nextval('sluice.job_id_seq'), 'default', t, '{}', 0, now(), 1, 1, 'permanent', now(),
       now() - ago::interval
     FROM unnest($1::text[], $2::text[]) AS x(t, ago) RETURNING id`,
    [rows.map((r) => r.task), rows.map((r) => r.failedAgo)],
  );
  return out.map((r) => r.id);
}

describe('listJobs filters and keyset pages', () => {
  it('filters by task, id, unique key, created range, and pages by beforeId', async () => {
    const a = await enqueue('lj-a', 'key-1');
    const b = await enqueue('lj-b');
    const c = await enqueue('lj-a');
    const t = { db: db.current.pool };
    expect((await listJobs({ ...t, task: 'lj-a' })).map((j) => j.id)).toEqual([c, a]);
    expect((await listJobs({ ...t, uniqueKey: 'key-1' })).map((j) => j.id)).toEqual([a]);
    expect((await listJobs({ ...t, id: b })).map((j) => j.id)).toEqual([b]);
    expect(
      await listJobs({ ...t, task: 'lj-a', createdAfter: new Date(Date.now() + 60e3) }),
    ).toEqual([]);
    expect(
      (await listJobs({ ...t, task: 'lj-a', createdBefore: new Date(Date.now() + 60e3) })).length,
    ).toBe(2);
    const first = await listJobs({ ...t, limit: 2 });
    expect(first.map((j) => j.id)).toEqual([c, b]);
    const next = await listJobs({ ...t, limit: 2, beforeId: first.at(-1)!.id });
    expect(next.map((j) => j.id)).toEqual([a]);
    await expect(listJobs({ ...t, beforeId: '1; drop' })).rejects.toThrow(/not a job id/);
  });
});

describe('dead letters by filter', () => {
  it('pages by (failed_at, id) and purges by the replay filter', async () => {
    const ids = await deadLetters([
      { task: 'dl-a', failedAgo: '3 hours' },
      { task: 'dl-a', failedAgo: '2 hours' },
      { task: 'dl-b', failedAgo: '1 hour' },
      { task: 'dl-b', failedAgo: '1 minute' },
    ]);
    const t = { db: db.current.pool, queue: 'default' };
    const page1 = await listDeadLetters({ ...t, limit: 2 });
    expect(page1.map((d) => d.id)).toEqual([ids[3], ids[2]]);
    const last = page1.at(-1)!;
    const page2 = await listDeadLetters({
      ...t,
      limit: 2,
      before: { failedAt: last.failedAt, id: last.id },
    });
    expect(page2.map((d) => d.id)).toEqual([ids[1], ids[0]]);
    const recent = await listDeadLetters({ ...t, since: new Date(Date.now() - 90 * 60e3) });
    expect(recent.map((d) => d.id)).toEqual([ids[3], ids[2]]);
    expect(
      await purgeDeadLetters({ ...t, task: 'dl-b', since: new Date(Date.now() - 30 * 60e3) }),
    ).toBe(1);
    expect(await purgeDeadLetters({ ...t, task: 'dl-a' })).toBe(2);
    expect((await listDeadLetters(t)).map((d) => d.id)).toEqual([ids[2]]);
  });
});

describe('countFinishedPerMinute', () => {
  it('counts completed, cancelled and dead per queue and minute within the window', async () => {
    await db.current.pool.query(
      `INSERT INTO sluice.job_history (id, queue, task, payload, state, priority, run_at, attempt,
         max_attempts, created_at, finished_at)
       SELECT nextval('sluice.job_id_seq'), 'default', 'h', '{}'::jsonb, s, 0, now(), 1, 1, now(),
         date_trunc('minute', now()) - m * interval '1 minute' + interval '1 second'
       FROM unnest(ARRAY['completed','completed','cancelled','completed'], ARRAY[0, 0, 0, 5]) AS x(s, m)
       UNION ALL
       SELECT nextval('sluice.job_id_seq'), 'default', 'h', '{}'::jsonb, 'completed', 0, now(), 1, 1, now(),
         now() - interval '3 hours'`,
    );
    const rows = await countFinishedPerMinute({ db: db.current.pool });
    const mine = rows.filter((r) => r.queue === 'default');
    const total = mine.reduce((n, r) => n + r.completed, 0);
    expect(total).toBe(3);
    expect(mine.reduce((n, r) => n + r.cancelled, 0)).toBe(1);
    expect(mine.at(-1)).toMatchObject({ completed: 2, cancelled: 1 });
    await expect(countFinishedPerMinute({ db: db.current.pool, minutes: 0 })).rejects.toThrow(
      /minutes/,
    );
  });
});

describe('listQueueCounts', () => {
  it('equals queue_stats without completedLastHour, for all queues or one', async () => {
    await enqueue('qc');
    await enqueue('qc', null, "now() + interval '1 hour'");
    const counts = await listQueueCounts({ db: db.current.pool });
    const stats = await listQueueStats({ db: db.current.pool });
    const round = <T extends { oldestReadyAgeSeconds: number }>(r: T) => ({
      ...r,
      oldestReadyAgeSeconds: Math.round(r.oldestReadyAgeSeconds / 10),
    });
    expect(counts.map(round)).toEqual(
      stats.map(({ completedLastHour: _, ...rest }) => round(rest)),
    );
    const [one, ...none] = await listQueueCounts({ db: db.current.pool, queue: 'default' });
    expect(none).toEqual([]);
    expect(one).toMatchObject({ queue: 'default', scheduled: 1 });
    expect(one!.ready).toBeGreaterThan(0);
    await expect(listQueueCounts({ db: db.current.pool, queue: 'no such' })).rejects.toThrow();
  });
});

describe('listWorkers', () => {
  it('reports running jobs per worker and the leases it holds', async () => {
    await db.current.pool.query(
      `INSERT INTO sluice.worker (id, host, pid, queues, concurrency) VALUES
         ('lw-1', 'h1', 1, '{default}', 4), ('lw-2', 'h2', 2, '{default}', 4);
       INSERT INTO sluice.leader (name, worker_id, expires_at) VALUES ('lw-lease', 'lw-2', now() + interval '1 minute')`,
    );
    const id = await enqueue('lw');
    await db.current.pool.query(
      `UPDATE sluice.job SET state = 'running', worker_id = 'lw-1', started_at = now(), attempt = 1,
         lease_expires_at = now() + interval '1 minute' WHERE id = $1`,
      [id],
    );
    const workers = (await listWorkers({ db: db.current.pool })).filter((w) =>
      w.id.startsWith('lw-'),
    );
    expect(workers.map((w) => [w.id, w.running, w.leads])).toEqual([
      ['lw-1', 1, []],
      ['lw-2', 0, ['lw-lease']],
    ]);
    expect(workers[0]!.heartbeatAgeSeconds).toBeLessThan(60);
  });
});

describe('audit log and withTransaction', () => {
  it('records in the caller’s transaction: a rollback leaves no entry', async () => {
    const pool = db.current.pool;
    await withTransaction({ pool }, (client) =>
      recordAudit({ db: client, actor: 'ada', action: 'queue.pause', target: 'default', count: 1 }),
    );
    await expect(
      withTransaction({ pool }, async (client) => {
        await recordAudit({ db: client, actor: 'bob', action: 'queue.pause', count: 1 });
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    await recordAudit({
      db: pool,
      actor: 'cy',
      action: 'dead_letter.purge_matching',
      filter: { queue: 'x' },
      count: 3,
    });
    const all = await listAuditLog({ db: pool });
    expect(all.map((e) => e.actor)).toEqual(['cy', 'ada']);
    expect(all[0]).toMatchObject({
      action: 'dead_letter.purge_matching',
      filter: { queue: 'x' },
      count: 3,
      target: null,
    });
    expect((await listAuditLog({ db: pool, beforeId: all[0]!.id })).map((e) => e.actor)).toEqual([
      'ada',
    ]);
    expect((await listAuditLog({ db: pool, action: 'queue.pause' })).map((e) => e.actor)).toEqual([
      'ada',
    ]);
    await expect(recordAudit({ db: pool, actor: '', action: 'x' })).rejects.toThrow(/actor/);
  });

  it('sets a statement timeout for the transaction only, and READ ONLY on request', async () => {
    const pool = db.current.pool;
    await expect(
      withTransaction({ pool, statementTimeoutMs: 50 }, (c) => c.query('SELECT pg_sleep(1)')),
    ).rejects.toMatchObject({ code: '57014' });
    const inside = await withTransaction({ pool, statementTimeoutMs: 1234 }, (c) =>
      c.query<{ t: string }>(`SELECT current_setting('statement_timeout') AS t`),
    );
    expect(inside.rows[0]!.t).toBe('1234ms');
    const c = await pool.connect();
    try {
      const after = await c.query<{ t: string }>(
        `SELECT current_setting('statement_timeout') AS t`,
      );
      expect(after.rows[0]!.t).toBe('0');
    } finally {
      c.release();
    }
    await expect(
      withTransaction({ pool, isReadOnly: true }, (c) =>
        recordAudit({ db: c, actor: 'ro', action: 'x' }),
      ),
    ).rejects.toMatchObject({ code: '25006' });
  });
});
