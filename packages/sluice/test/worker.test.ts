import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  createWorker,
  defineTask,
  enqueue,
  enqueueMany,
  PermanentError,
  type Worker,
  type WorkerOptions,
} from 'sluice';
import { createQueue } from 'sluice/admin';
import { eventually } from '@sluice/testkit';
import { useTestDatabase } from '../../../test/setup/db.js';

const db = useTestDatabase();
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const workers: Worker[] = [];

function start(options: Omit<WorkerOptions, 'db'> & { db?: WorkerOptions['db'] }) {
  const w = createWorker({ db: db.current.url, logger: quiet, pollIntervalMs: 200, ...options });
  workers.push(w);
  return w.start().then(() => w);
}

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop({ graceMs: 1000 })));
  await db.current.pool.query(
    'TRUNCATE sluice.job, sluice.job_history, sluice.dead_letter, sluice.worker, sluice.worker_waiting, sluice.leader',
  );
});

async function q<T = Record<string, unknown>>(text: string, values: unknown[] = []) {
  return (await db.current.pool.query(text, values)).rows as T[];
}

describe('worker', () => {
  it('the job lease, the leader lease and the stale-worker cutoff are separate knobs', async () => {
    const task = defineTask({ name: 'knobs', schema: z.object({}) }).handle(() => undefined);
    const w = await start({
      tasks: [task],
      leaseMs: 30_000,
      leaderLeaseMs: 1200,
      staleWorkerMs: 800,
    });
    await eventually(async () => {
      const [r] = await q<{ worker_id: string; ms: number }>(
        `SELECT worker_id, extract(epoch FROM expires_at - now()) * 1000 AS ms FROM sluice.leader`,
      );
      expect(r?.worker_id).toBe(w.id);
      expect(Number(r!.ms)).toBeLessThanOrEqual(1200);
    });
    // A registered worker silent for longer than staleWorkerMs is removed by the leader, though
    // the job lease (30 s) is far from over.
    await q(
      `INSERT INTO sluice.worker (id, host, pid, queues, concurrency, heartbeat_at)
       VALUES ('silent', 'h', 1, '{default}', 1, now() - interval '1 second')`,
    );
    await eventually(async () => {
      expect(await q(`SELECT id FROM sluice.worker WHERE id = 'silent'`)).toEqual([]);
    });
  });

  it('takes a pg.Pool as db, copying its settings into a pool of its own, and commits durably on request', async () => {
    const pg = (await import('pg')).default;
    const appName = `user-pool-${Date.now()}`;
    const userPool = new pg.Pool({
      connectionString: db.current.url,
      max: 2,
      application_name: appName,
    });
    try {
      const task = defineTask({ name: 'pooled', schema: z.object({}) }).handle(() => 'ok');
      const { id } = await enqueue(task, {}, { db: userPool });
      const w = await start({ db: userPool, tasks: [task], commitMode: 'durable', concurrency: 4 });
      await eventually(async () => {
        const [r] = await q(`SELECT state FROM sluice.job_history WHERE id = $1`, [id]);
        expect(r).toEqual({ state: 'completed' });
      });
      // The worker's connections carry the pool's settings: at most its max and LISTEN, besides
      // the user's own idle connection from the enqueue.
      const [row] = await q<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1`,
        [appName],
      );
      expect(row!.n).toBeGreaterThan(1);
      expect(row!.n).toBeLessThanOrEqual(1 + 2 + 1);
      await w.stop({ graceMs: 1000 });
      expect(userPool.totalCount).toBeLessThanOrEqual(1); // only the enqueue used it
    } finally {
      await userPool.end();
    }
  });

  it('runs every job once and moves it to history with its result', async () => {
    const seen = new Map<number, number>();
    const createdAt = new Map<string, Date>();
    const task = defineTask({ name: 'count', schema: z.object({ n: z.number() }) }).handle(
      ({ n }, ctx) => {
        seen.set(n, (seen.get(n) ?? 0) + 1);
        createdAt.set(ctx.job.id, ctx.job.createdAt);
        return { doubled: n * 2 };
      },
    );
    await enqueueMany(
      Array.from({ length: 500 }, (_, n) => ({ task, payload: { n } })),
      { db: db.current.pool },
    );
    await start({ tasks: [task], concurrency: 8 });
    await eventually(async () => {
      const [r] = await q<{ n: string }>(`SELECT count(*) AS n FROM sluice.job_history`);
      expect(r!.n).toBe('500');
    });
    expect(seen.size).toBe(500);
    expect([...seen.values()].every((c) => c === 1)).toBe(true);
    const [row] = await q(
      `SELECT state, result, attempt FROM sluice.job_history WHERE payload->>'n' = '21'`,
    );
    expect(row).toEqual({ state: 'completed', result: { doubled: 42 }, attempt: 1 });
    // The handler saw each job's created_at, to the millisecond.
    const created = await q<{ id: string; created_at: Date }>(
      `SELECT id, created_at FROM sluice.job_history`,
    );
    expect(created.every((c) => createdAt.get(c.id)?.getTime() === c.created_at.getTime())).toBe(
      true,
    );
    expect(await q(`SELECT * FROM sluice.job`)).toEqual([]);
  });

  it('a handler may take its context apart: destructured fields and functions still work', async () => {
    const seen: unknown[] = [];
    const task = defineTask({ name: 'parts', schema: z.object({}) }).handle(
      async (_p, { attempt, maxAttempts, job, signal, heartbeat, progress, logger }) => {
        await heartbeat();
        await progress({ step: 1 });
        logger.info({}, 'from a destructured logger');
        seen.push(attempt, maxAttempts, job.task, job.createdAt instanceof Date, signal.aborted);
        return 'ok';
      },
    );
    const w = await start({ tasks: [task] });
    const progressed: unknown[] = [];
    w.on('job:progress', (e: { progress: unknown }) => progressed.push(e.progress));
    const { id } = await enqueue(task, {}, { db: db.current.pool, maxAttempts: 4 });
    await eventually(async () =>
      expect(await q(`SELECT state, progress FROM sluice.job_history WHERE id = $1`, [id])).toEqual(
        [{ state: 'completed', progress: { step: 1 } }],
      ),
    );
    expect(seen).toEqual([1, 4, 'parts', true, false]);
    expect(progressed).toEqual([{ step: 1 }]);
  });

  it('wakes on NOTIFY: an idle worker starts a committed job within milliseconds', async () => {
    let startedAt = 0;
    const task = defineTask({ name: 'ping', schema: z.object({}) }).handle(() => {
      startedAt = Date.now();
    });
    // Poll only every 60 s so that only the notification can explain a quick start.
    await start({ tasks: [task], pollIntervalMs: 60_000 });
    await eventually(async () =>
      expect((await q(`SELECT * FROM sluice.worker_waiting`)).length).toBe(1),
    );
    const latencies: number[] = [];
    for (let i = 0; i < 5; i++) {
      startedAt = 0;
      const t0 = Date.now();
      await enqueue(task, {}, { db: db.current.pool });
      await eventually(() => startedAt > 0, { intervalMs: 1 });
      latencies.push(startedAt - t0);
    }
    latencies.sort((a, b) => a - b);
    expect(latencies[2]).toBeLessThan(200);
  });

  it('retries with back-off, records each error, and completes on a later attempt', async () => {
    const task = defineTask({
      name: 'flaky',
      schema: z.object({}),
      retry: { kind: 'fixed', delayMs: 50 },
    }).handle((_p, ctx) => {
      if (ctx.attempt < 3) throw new Error(`boom ${ctx.attempt}`);
      return 'ok';
    });
    const retried: { durationMs?: number }[] = [];
    const completed: { job: { id: string }; durationMs?: number }[] = [];
    const w = await start({ tasks: [task] });
    w.on('job:retried', (e) => retried.push(e));
    w.on('job:completed', (e) => completed.push(e));
    const { id } = await enqueue(task, {}, { db: db.current.pool });
    await eventually(async () =>
      expect(await q(`SELECT state FROM sluice.job_history WHERE id = $1`, [id])).toEqual([
        { state: 'completed' },
      ]),
    );
    const [row] = await q<{
      attempt: number;
      errors: { message: string; attempt: number; at: string }[];
    }>(`SELECT attempt, errors FROM sluice.job_history WHERE id = $1`, [id]);
    expect(row!.attempt).toBe(3);
    expect(row!.errors.map((e) => [e.attempt, e.message])).toEqual([
      [1, 'boom 1'],
      [2, 'boom 2'],
    ]);
    expect(row!.errors[0]!.at).toBeTruthy();
    expect(retried).toHaveLength(2);
    // Events carry how long the attempt took, from handler start to the outcome being written.
    await eventually(() => expect(completed.map((e) => e.job.id)).toEqual([id]));
    for (const e of [...retried, ...completed]) expect(e.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('dead-letters after maxAttempts, and PermanentError at once; replay twice runs once', async () => {
    let runs = 0;
    let isFixed = false;
    const always = defineTask({
      name: 'always-fails',
      schema: z.object({}),
      maxAttempts: 3,
      retry: { kind: 'fixed', delayMs: 10 },
    }).handle(() => {
      runs++;
      if (!isFixed) throw new Error('still broken');
    });
    const permanent = defineTask({ name: 'permanent', schema: z.object({}) }).handle(() => {
      throw new PermanentError('account deleted');
    });
    await start({ tasks: [always, permanent] });
    const { id } = await enqueue(always, {}, { db: db.current.pool });
    const { id: pid } = await enqueue(permanent, {}, { db: db.current.pool });
    await eventually(async () =>
      expect((await q(`SELECT id FROM sluice.dead_letter`)).length).toBe(2),
    );
    const rows = await q<{
      id: string;
      attempt: number;
      reason: string;
      errors: unknown[];
      queue: string;
    }>(`SELECT id, attempt, reason, errors, queue FROM sluice.dead_letter ORDER BY id`);
    expect(rows.map((r) => [r.id, r.attempt, r.reason, r.errors.length, r.queue])).toEqual([
      [id, 3, 'attempts_exhausted', 3, 'default'],
      [pid, 1, 'permanent', 1, 'default'],
    ]);
    expect(runs).toBe(3);
    isFixed = true;
    const [a] = await q<{ r: string | null }>(`SELECT sluice.replay_dead_letter($1) AS r`, [id]);
    const [b] = await q<{ r: string | null }>(`SELECT sluice.replay_dead_letter($1) AS r`, [id]);
    expect(a!.r).toBe(id);
    expect(b!.r).toBeNull();
    await eventually(async () =>
      expect(await q(`SELECT state FROM sluice.job_history WHERE id = $1`, [id])).toEqual([
        { state: 'completed' },
      ]),
    );
    expect(runs).toBe(4);
    const [n] = await q<{ n: number }>(
      `SELECT sluice.replay_dead_letters('default', 'permanent') AS n`,
    );
    expect(n!.n).toBe(1);
  });

  it('a payload that no longer parses goes straight to dead letters with the zod issues', async () => {
    const v2 = defineTask({ name: 'versioned', schema: z.object({ email: z.string() }) });
    await q(`SELECT sluice.enqueue('versioned', '{"mail": "old@example.com"}')`);
    await start({ tasks: [v2.handle(() => undefined)] });
    await eventually(async () =>
      expect((await q(`SELECT * FROM sluice.dead_letter`)).length).toBe(1),
    );
    const [row] = await q<{ reason: string; errors: { issues: { path: string[] }[] }[] }>(
      `SELECT reason, errors FROM sluice.dead_letter`,
    );
    expect(row!.reason).toBe('permanent');
    expect(row!.errors[0]!.issues[0]!.path).toEqual(['email']);
  });

  it('times out a handler that ignores its signal, freeing the slot, and retries per policy', async () => {
    let signalled = false;
    const slow = defineTask({
      name: 'slow',
      schema: z.object({}),
      timeoutMs: 100,
      maxAttempts: 2,
      retry: { kind: 'fixed', delayMs: 10 },
    }).handle((_p, ctx) => {
      ctx.signal.addEventListener('abort', () => (signalled = true));
      return new Promise(() => undefined); // never settles, ignores the signal
    });
    const quick = defineTask({ name: 'quick', schema: z.object({}) }).handle(() => 'done');
    await start({ tasks: [slow, quick], concurrency: 1 });
    const { id } = await enqueue(slow, {}, { db: db.current.pool });
    await enqueue(quick, {}, { db: db.current.pool });
    await eventually(async () =>
      expect((await q(`SELECT id FROM sluice.dead_letter WHERE id = $1`, [id])).length).toBe(1),
    );
    expect(signalled).toBe(true);
    const [row] = await q<{ errors: { name: string }[] }>(`SELECT errors FROM sluice.dead_letter`);
    expect(row!.errors.map((e) => e.name)).toEqual(['TimeoutError', 'TimeoutError']);
    // With one slot, the quick job could only run because the timed-out one let go of it.
    await eventually(async () =>
      expect((await q(`SELECT * FROM sluice.job_history WHERE task = 'quick'`)).length).toBe(1),
    );
  });

  it('claims only for free slots plus the buffer and respects pause', async () => {
    await createQueue({ db: db.current.pool, name: 'paused-q' });
    await q(`SELECT sluice.pause_queue('paused-q')`);
    const t = defineTask({ name: 'p', queue: 'paused-q', schema: z.object({}) }).handle(
      () => undefined,
    );
    await enqueueMany(
      Array.from({ length: 20 }, () => ({ task: t, payload: {} })),
      { db: db.current.pool },
    );
    const gate = defineTask({ name: 'gate', schema: z.object({}) }).handle(
      () => new Promise((r) => setTimeout(r, 300)),
    );
    await enqueueMany(
      Array.from({ length: 100 }, () => ({ task: gate, payload: {} })),
      { db: db.current.pool },
    );
    await start({ tasks: [t, gate], concurrency: 4, bufferSize: 2 });
    await eventually(async () =>
      expect((await q(`SELECT * FROM sluice.job WHERE state = 'running'`)).length).toBeGreaterThan(
        0,
      ),
    );
    const [r] = await q<{ n: string }>(
      `SELECT count(*) AS n FROM sluice.job WHERE state = 'running'`,
    );
    expect(Number(r!.n)).toBeLessThanOrEqual(6);
    expect(
      (await q(`SELECT * FROM sluice.job WHERE queue = 'paused-q' AND state <> 'pending'`)).length,
    ).toBe(0);
    await q(`SELECT sluice.resume_queue('paused-q')`);
    await eventually(async () =>
      expect((await q(`SELECT * FROM sluice.job_history WHERE queue = 'paused-q'`)).length).toBe(
        20,
      ),
    );
  });

  it('poll-only mode (for PgBouncer transaction pooling) runs jobs with no LISTEN and no waiting marks', async () => {
    const task = defineTask({ name: 'polled', schema: z.object({}) }).handle(() => 'ok');
    await start({ tasks: [task], isListenEnabled: false, pollIntervalMs: 100 });
    const { id } = await enqueue(task, {}, { db: db.current.pool });
    await eventually(async () =>
      expect(await q(`SELECT state FROM sluice.job_history WHERE id = $1`, [id])).toEqual([
        { state: 'completed' },
      ]),
    );
    expect(await q(`SELECT * FROM sluice.worker_waiting`)).toEqual([]);
    const listeners = await q(
      `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'`,
    );
    expect(listeners).toEqual([]);
  });
});

describe('worker details', () => {
  it('the last progress value a handler set is the one stored, however fast it came', async () => {
    const task = defineTask({
      name: 'progressive',
      schema: z.object({ fail: z.boolean() }),
    }).handle(async ({ fail }, ctx) => {
      await ctx.progress(50);
      await ctx.progress(100);
      if (fail) throw new PermanentError('after progress');
    });
    await start({ tasks: [task] });
    const done = await enqueue(task, { fail: false }, { db: db.current.pool });
    const dead = await enqueue(task, { fail: true }, { db: db.current.pool });
    await eventually(async () => {
      expect(await q(`SELECT progress FROM sluice.job_history WHERE id = $1`, [done.id])).toEqual([
        { progress: 100 },
      ]);
      expect(await q(`SELECT progress FROM sluice.dead_letter WHERE id = $1`, [dead.id])).toEqual([
        { progress: 100 },
      ]);
    });
  });
});
