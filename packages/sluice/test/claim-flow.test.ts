// Claims under sustained load: they never outrun the completions, and claims that start where
// the last full claim started (instead of walking the finished jobs' dead index entries from the
// head) still take a higher-priority job next and never leave behind a job that sorts earlier.
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  chain,
  createWorker,
  defineTask,
  enqueue,
  enqueueMany,
  migrate,
  step,
  type Task,
  type Worker,
} from 'sluice';
import { eventually } from '@sluice/testkit';
import { useTestDatabase } from '../../../test/setup/db.js';

const db = useTestDatabase();
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const workers: Worker[] = [];

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop({ graceMs: 1000 })));
  await db.current.pool.query(
    'TRUNCATE sluice.job, sluice.job_history, sluice.worker, sluice.worker_waiting, sluice.leader',
  );
});

const Seq = z.object({ seq: z.number().int() });

async function finishedCount(): Promise<number> {
  const { rows } = await db.current.pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM sluice.job_history',
  );
  return rows[0]!.n;
}

/**
 * A pg client class whose queries pass through `intercept` first: when it returns true it has
 * taken the query (`send` sends it on unchanged; the last argument is the pool's callback).
 */
function interceptingClient(
  intercept: (text: string, args: unknown[], send: () => void) => boolean,
): typeof pg.Client {
  return class extends pg.Client {
    override query(...args: unknown[]): never {
      const config = args[0] as string | { text: string };
      const text = typeof config === 'string' ? config : config.text;
      const send = () => (super.query as (...a: unknown[]) => void)(...args);
      if (intercept(text, args, send)) return undefined as never;
      return (super.query as (...a: unknown[]) => never)(...args);
    }
  };
}

/** One slot, no buffer, a poll too long to matter: every start comes from a wake-up. */
async function startOneSlotWorker(task: Task, Client?: typeof pg.Client): Promise<Worker> {
  const w = createWorker({
    db: Client ? { connectionString: db.current.url, Client } : db.current.url,
    tasks: [task],
    logger: quiet,
    concurrency: 1,
    bufferSize: 0,
    pollIntervalMs: 60_000,
  });
  workers.push(w);
  await w.start();
  return w;
}

/**
 * A backlog of `n` 2 ms jobs drained by one slot with a buffer of 20 (claims of ~10, each full,
 * so claims run from a start point), 60 of them already run; `order` records each seq run.
 */
async function drainingBacklog(name: string, n: number) {
  const order: number[] = [];
  const task = defineTask({ name, schema: Seq }).handle(async ({ seq }) => {
    order.push(seq);
    await new Promise((r) => setTimeout(r, 2));
  });
  await enqueueMany(
    Array.from({ length: n }, (_, seq) => ({ task, payload: { seq } })),
    { db: db.current.pool },
  );
  const w = createWorker({
    db: db.current.url,
    tasks: [task],
    logger: quiet,
    concurrency: 1,
    bufferSize: 20,
  });
  workers.push(w);
  await w.start();
  await eventually(() => expect(order.length).toBeGreaterThanOrEqual(60), {
    timeoutMs: 20_000,
    intervalMs: 5,
  });
  return { order, task };
}

describe('claims under sustained load', () => {
  it('claims never outrun the completions: slow outcome writes hold claiming back', async () => {
    // Every completion statement answers 200 ms late; the no-op jobs finish at once.
    class SlowCompletions extends pg.Client {
      override query(...args: unknown[]): never {
        const config = args[0] as string | { text: string };
        const text = typeof config === 'string' ? config : config.text;
        const cb = args[args.length - 1];
        if (typeof cb === 'function' && text.includes('WITH done AS')) {
          args[args.length - 1] = (err: unknown, res: unknown) =>
            setTimeout(() => (cb as (e: unknown, r: unknown) => void)(err, res), 200);
        }
        return (super.query as (...a: unknown[]) => never)(...args);
      }
    }
    const task = defineTask({ name: 'flow-noop', schema: Seq }).handle(() => undefined);
    await enqueueMany(
      Array.from({ length: 60 }, (_, seq) => ({ task, payload: { seq } })),
      { db: db.current.pool },
    );
    const w = createWorker({
      db: { connectionString: db.current.url, Client: SlowCompletions },
      tasks: [task],
      logger: quiet,
      concurrency: 2,
      bufferSize: 2,
    });
    workers.push(w);
    await w.start();
    let mostHeld = 0;
    await eventually(
      async () => {
        const { rows } = await db.current.pool.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM sluice.job WHERE state = 'running'",
        );
        mostHeld = Math.max(mostHeld, rows[0]!.n);
        expect(await finishedCount()).toBe(60);
      },
      { timeoutMs: 60_000, intervalMs: 25 },
    );
    // Capacity 4: at most 4 claimed plus 4 unwritten outcomes before claims wait, and a claim
    // of up to 4 in flight. Without the hold, the worker claimed all 60 within the first write.
    expect(mostHeld).toBeGreaterThan(0);
    expect(mostHeld).toBeLessThanOrEqual(12);
  });

  it('a higher-priority job enqueued during a drain is claimed next', async () => {
    const { order, task } = await drainingBacklog('flow-ordered', 600);
    const ranBefore = order.length;
    await enqueue(task, { seq: -1 }, { db: db.current.pool, priority: 10 });
    await eventually(() => expect(order).toContain(-1), { timeoutMs: 20_000, intervalMs: 5 });
    // Within the buffer already claimed (21) and one more claim, far from the 1 s a fallback
    // from the head would take (~400 jobs here).
    expect(order.indexOf(-1) - ranBefore).toBeLessThanOrEqual(3 * 21);
  });

  it('a job that sorts before the claims’ start point runs within about a second', async () => {
    const { order, task } = await drainingBacklog('flow-backlog', 2500);
    // Due an hour ago: it sorts before every job of the backlog, behind the claims' start.
    const at = Date.now();
    await enqueue(task, { seq: -1 }, { db: db.current.pool, runAt: new Date(Date.now() - 3.6e6) });
    await eventually(() => expect(order).toContain(-1), { timeoutMs: 30_000, intervalMs: 5 });
    const waitedMs = Date.now() - at;
    // Head claims come at least every second; the backlog takes several seconds more.
    expect(waitedMs).toBeLessThan(3000);
    expect(order.length).toBeLessThan(2000);
  });

  it('after a higher-priority job, a lower-priority one is still claimed at once', async () => {
    const started: number[] = [];
    const task = defineTask({ name: 'flow-mixed', schema: Seq }).handle(({ seq }) => {
      started.push(seq);
    });
    const w = createWorker({
      db: db.current.url,
      tasks: [task],
      logger: quiet,
      pollIntervalMs: 60_000,
    });
    workers.push(w);
    await w.start();
    await enqueue(task, { seq: 10 }, { db: db.current.pool, priority: 10 });
    await eventually(() => expect(started).toEqual([10]), { timeoutMs: 5000, intervalMs: 5 });
    // The next claim starts at priority 10; the job of priority 0 is below that start point.
    await enqueue(task, { seq: 0 }, { db: db.current.pool, priority: 0 });
    await eventually(() => expect(started).toEqual([10, 0]), { timeoutMs: 5000, intervalMs: 5 });
  });

  it('each step of a chain starts on its release, not at the next poll', async () => {
    const started: number[] = [];
    const task = defineTask({ name: 'flow-chain', schema: Seq }).handle(({ seq }) => {
      started.push(seq);
    });
    const w = createWorker({
      db: db.current.url,
      tasks: [task],
      logger: quiet,
      concurrency: 64,
      bufferSize: 3000,
      pollIntervalMs: 60_000,
    });
    workers.push(w);
    await w.start();
    // A big room starts a second claim beside the first; a sliver of it that came back "full"
    // cleared the waiting mark, and a released step's NOTIFY was then never sent.
    await chain(Array.from({ length: 200 }, (_, seq) => step(task, { seq }))).enqueue({
      db: db.current.pool,
    });
    await eventually(() => expect(started).toHaveLength(200), {
      timeoutMs: 30_000,
      intervalMs: 10,
    });
  });

  it('a failed claim is retried within a second, not at the next poll', async () => {
    let failures = 1;
    const FailingClaim = interceptingClient((text, args) => {
      const cb = args[args.length - 1];
      if (typeof cb !== 'function' || !text.includes("SET state = 'running'") || failures <= 0) {
        return false;
      }
      failures--;
      setImmediate(() => (cb as (e: unknown) => void)(new Error('injected claim failure')));
      return true;
    });
    const task = defineTask({ name: 'flow-retry', schema: Seq }).handle(() => undefined);
    await enqueue(task, { seq: 1 }, { db: db.current.pool });
    const errors: unknown[] = [];
    const w = createWorker({
      db: { connectionString: db.current.url, Client: FailingClaim },
      tasks: [task],
      logger: { ...quiet, error: (obj: unknown) => errors.push(obj) },
      pollIntervalMs: 60_000,
    });
    workers.push(w);
    const at = Date.now();
    await w.start();
    await eventually(async () => expect(await finishedCount()).toBe(1), {
      timeoutMs: 10_000,
      intervalMs: 20,
    });
    expect(errors).toHaveLength(1);
    expect(Date.now() - at).toBeLessThan(5000);
  });

  it('a delayed job enqueued while the worker was busy starts when due, not at the next poll', async () => {
    const started: { seq: number; at: number }[] = [];
    const task = defineTask({ name: 'flow-busy-delayed', schema: Seq }).handle(async ({ seq }) => {
      started.push({ seq, at: Date.now() });
      if (seq === 0) await new Promise((r) => setTimeout(r, 800));
    });
    await startOneSlotWorker(task);
    // Settled: the start's and the listener's first claims (which look up due times) are done.
    await eventually(async () => {
      const { rowCount } = await db.current.pool.query('SELECT 1 FROM sluice.worker_waiting');
      expect(rowCount).toBe(1);
    });
    await new Promise((r) => setTimeout(r, 500));
    await enqueue(task, { seq: 0 }, { db: db.current.pool });
    await eventually(() => expect(started).toHaveLength(1), { timeoutMs: 5000, intervalMs: 5 });
    // The only slot is taken, so no worker waits on the queue and this insert sends no NOTIFY.
    const at = Date.now();
    await enqueue(task, { seq: 1 }, { db: db.current.pool, delayMs: 1500 });
    await eventually(() => expect(started).toHaveLength(2), { timeoutMs: 15_000, intervalMs: 10 });
    expect(started[1]!.at - at).toBeLessThan(10_000);
  });

  it('a job committed between an empty claim and the waiting mark starts at once, not at the poll', async () => {
    const started: number[] = [];
    const task = defineTask({ name: 'flow-mark-race', schema: Seq }).handle(async ({ seq }) => {
      started.push(seq);
      if (seq === 1) await new Promise((r) => setTimeout(r, 300));
    });
    // Armed while job 1 runs: after the empty claims that follow it, job 2 commits just before
    // the worker writes its waiting mark, so job 2's insert finds no mark and sends no NOTIFY.
    // The mark's write waits until the claims beside it have ended (none sees job 2).
    let isRacing = false;
    let waitingAtRace = -1;
    const pool = db.current.pool;
    const RacingClaim = interceptingClient((text, _args, send) => {
      if (!isRacing || !text.includes('INSERT INTO sluice.worker_waiting')) return false;
      isRacing = false;
      void (async () => {
        await new Promise((r) => setTimeout(r, 200));
        waitingAtRace = (await pool.query('SELECT 1 FROM sluice.worker_waiting')).rowCount!;
        await enqueue(task, { seq: 2 }, { db: pool });
      })().then(send);
      return true;
    });
    await startOneSlotWorker(task, RacingClaim);
    await enqueue(task, { seq: 1 }, { db: pool });
    await eventually(() => expect(started).toEqual([1]), { timeoutMs: 5000, intervalMs: 5 });
    isRacing = true;
    await eventually(() => expect(started).toEqual([1, 2]), { timeoutMs: 5000, intervalMs: 5 });
    expect(waitingAtRace).toBe(0);
  });

  it('claims update their rows by ctid, never by reading the partition’s whole primary key', async () => {
    // A queue that looks nearly empty to the planner (analyzed empty) while a snapshot keeps
    // every finished job's entries: through the parent, each claim read all of them.
    const task = defineTask({ name: 'flow-ctid', schema: Seq }).handle(() => undefined);
    const { rows } = await db.current.pool.query<{ part: string }>(
      `SELECT partition_name AS part FROM sluice.queue WHERE name = 'default'`,
    );
    const part = rows[0]!.part;
    await db.current.pool.query(`ANALYZE sluice."${part}"`);
    const holder = new pg.Client({ connectionString: db.current.url });
    await holder.connect();
    await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await holder.query('SELECT count(*) FROM sluice.job');
    const pkeyReads = async () => {
      const r = await db.current.pool.query<{ n: number }>(
        `SELECT coalesce(idx_tup_read, 0)::float8 AS n FROM pg_stat_user_indexes
         WHERE schemaname = 'sluice' AND indexrelname = $1`,
        [`${part}_pkey`],
      );
      return r.rows[0]?.n ?? 0;
    };
    try {
      const before = await pkeyReads();
      const w = createWorker({ db: db.current.url, tasks: [task], logger: quiet });
      workers.push(w);
      await w.start();
      const n = 600;
      for (let seq = 0; seq < n; seq += 3) {
        await enqueueMany(
          [0, 1, 2].map((k) => ({ task, payload: { seq: seq + k } })),
          { db: db.current.pool },
        );
        await new Promise((r) => setTimeout(r, 2));
      }
      await eventually(async () => expect(await finishedCount()).toBe(n), {
        timeoutMs: 30_000,
        intervalMs: 20,
      });
      // Its backends flush their statistics when they exit.
      await workers.pop()!.stop();
      await new Promise((r) => setTimeout(r, 1000));
      // Lookups by id read a few entries a job at most; a claim through the whole key read
      // every entry of the partition: ~100,000 here.
      expect((await pkeyReads()) - before).toBeLessThan(20 * n);
    } finally {
      await holder.end();
    }
  });

  it('a worker in another schema claims from that schema’s partitions', async () => {
    // The claim names its partition: the name must be qualified with the worker's schema.
    await migrate({ db: db.current.pool, schema: 'other_q' });
    try {
      const started: number[] = [];
      const task = defineTask({ name: 'flow-schema', schema: Seq }).handle(({ seq }) => {
        started.push(seq);
      });
      const w = createWorker({
        db: db.current.url,
        schema: 'other_q',
        tasks: [task],
        logger: quiet,
      });
      workers.push(w);
      await w.start();
      await enqueue(task, { seq: 1 }, { db: db.current.pool, schema: 'other_q' });
      await eventually(() => expect(started).toEqual([1]), { timeoutMs: 10_000, intervalMs: 10 });
      await workers.pop()!.stop();
    } finally {
      await db.current.pool.query('DROP SCHEMA other_q CASCADE');
    }
  });
});
