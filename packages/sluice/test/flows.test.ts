import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import {
  enqueueMany,
  chain,
  chord,
  createWorker,
  defineTask,
  flow,
  InvalidFlowError,
  MAX_FLOW_MEMBERS,
  type SluiceDatabase,
  LeaseLostError,
  PermanentError,
  step,
  tree,
  UnknownQueueError,
  enqueue,
  type Worker,
  type WorkerOptions,
  type DependencyResult,
} from 'sluice';
import { createQueue, inspectSchema, Maintenance, replayDeadLetter } from 'sluice/admin';
import { eventually } from '@sluice/testkit';
import { useTestDatabase } from '../../../test/setup/db.js';
import { jobComplete } from '../src/queries/job-worker.js';
import { toExecutor } from '../src/core/db.js';

const db = useTestDatabase();
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const workers: Worker[] = [];

function start(options: Omit<WorkerOptions, 'db'>) {
  const w = createWorker({ db: db.current.url, logger: quiet, pollIntervalMs: 200, ...options });
  workers.push(w);
  return w.start().then(() => w);
}

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop({ graceMs: 1000 })));
  await db.current.pool.query(
    `TRUNCATE sluice.job, sluice.job_history, sluice.dead_letter, sluice.job_dependency,
       sluice.worker, sluice.worker_waiting, sluice.leader`,
  );
});

async function q<T = Record<string, unknown>>(text: string, values: unknown[] = []) {
  return (await db.current.pool.query(text, values)).rows as T[];
}

async function stateOf(id: string) {
  const [r] = await q<{ state: string }>(`SELECT state FROM sluice.all_jobs WHERE id = $1`, [id]);
  return r?.state;
}

const order = z.object({ orderId: z.string() });

describe('flows', () => {
  it('order fulfilment: ship waits for charge and reserve (two queues) and reads both results in order', async () => {
    await createQueue({ db: db.current.pool, name: 'shipping' });
    const seen: DependencyResult[][] = [];
    const charge = defineTask({ name: 'charge', schema: order });
    const reserve = defineTask({ name: 'reserve', schema: order });
    const ship = defineTask({ name: 'ship', schema: order, queue: 'shipping' });
    const f = flow();
    const c = f.add(charge, { orderId: 'o1' });
    const r = f.add(reserve, { orderId: 'o1' });
    const s = f.add(ship, { orderId: 'o1' }, { dependsOn: [c, r] });
    const out = await f.enqueue({ db: db.current.pool });
    expect(out.ids).toHaveLength(3);
    expect(out.flowId).toBe(out.ids[0]);
    expect(await stateOf(out.idOf(s))).toBe('blocked');
    const [stats] = await q<{ blocked: string }>(
      `SELECT blocked FROM sluice.queue_stats WHERE queue = 'shipping'`,
    );
    expect(Number(stats!.blocked)).toBe(1);
    await start({
      tasks: [
        charge.handle(({ orderId }) => ({ charged: orderId })),
        reserve.handle(({ orderId }) => ({ reserved: orderId })),
        ship.handle(async (_p, ctx) => {
          seen.push(await ctx.dependencies());
          return 'shipped';
        }),
      ],
      queues: ['default', 'shipping'],
    });
    await eventually(async () => expect(await stateOf(out.idOf(s))).toBe('completed'));
    expect(seen).toHaveLength(1);
    expect(seen[0]!.map((d) => [d.id, d.task, d.state, d.result])).toEqual([
      [out.idOf(c), 'charge', 'completed', { charged: 'o1' }],
      [out.idOf(r), 'reserve', 'completed', { reserved: 'o1' }],
    ]);
    const members = await q<{ id: string; state: string; depends_on: string[] }>(
      `SELECT id::text, state, depends_on::text[] FROM sluice.flow_members WHERE flow_id = $1 ORDER BY id`,
      [out.flowId],
    );
    expect(members.map((m) => m.state)).toEqual(['completed', 'completed', 'completed']);
    expect(members[2]!.depends_on).toEqual([out.idOf(c), out.idOf(r)]);
  });

  it('a chain passes each result to the next step; a chord gives its callback every result', async () => {
    const add = defineTask({ name: 'add', schema: z.object({ n: z.number() }) });
    const sum = defineTask({ name: 'sum', schema: z.object({}) });
    const chainOut = await chain(
      Array.from({ length: 5 }, (_, i) => step(add, { n: i + 1 })),
    ).enqueue({ db: db.current.pool });
    const chordOut = await chord(
      Array.from({ length: 20 }, (_, i) => step(add, { n: i })),
      step(sum, {}),
    ).enqueue({ db: db.current.pool });
    const starts: string[] = [];
    await start({
      tasks: [
        add.handle(async ({ n }, ctx) => {
          starts.push(ctx.job.id);
          const [prev] = await ctx.dependencies();
          return ((prev?.result as number | undefined) ?? 0) + n;
        }),
        sum.handle(async (_p, ctx) => {
          const deps = await ctx.dependencies();
          return deps.reduce((t, d) => t + (d.result as number), 0);
        }),
      ],
      concurrency: 4,
    });
    const last = chainOut.ids.at(-1)!;
    const callback = chordOut.ids.at(-1)!;
    await eventually(async () => {
      expect(await stateOf(last)).toBe('completed');
      expect(await stateOf(callback)).toBe('completed');
    });
    const [r1] = await q<{ result: number }>(
      `SELECT result FROM sluice.job_history WHERE id = $1`,
      [last],
    );
    expect(r1!.result).toBe(15);
    const [r2] = await q<{ result: number }>(
      `SELECT result FROM sluice.job_history WHERE id = $1`,
      [callback],
    );
    expect(r2!.result).toBe(190);
    // Chain steps started strictly in order.
    const chainStarts = starts.filter((id) => chainOut.ids.includes(id));
    expect(chainStarts).toEqual(chainOut.ids);
  });

  it('failure policies: fail dead-letters the dependent naming the dependency, ignore runs it, cancel cancels it', async () => {
    const boom = defineTask({ name: 'boom', schema: z.object({}), maxAttempts: 1 });
    const after = defineTask({ name: 'after', schema: z.object({ policy: z.string() }) });
    const f = flow();
    const b = f.add(boom, {});
    const failing = f.add(after, { policy: 'fail' }, { dependsOn: [b] });
    const ignoring = f.add(
      after,
      { policy: 'ignore' },
      { dependsOn: [{ job: b, onFailure: 'ignore' }] },
    );
    const cancelling = f.add(
      after,
      { policy: 'cancel' },
      { dependsOn: [{ job: b, onFailure: 'cancel' }] },
    );
    // Failure travels down: a job waiting on the failed dependent fails too.
    const grandchild = f.add(after, { policy: 'fail' }, { dependsOn: [failing] });
    const out = await f.enqueue({ db: db.current.pool });
    const seen: DependencyResult[] = [];
    await start({
      tasks: [
        boom.handle(() => {
          throw new PermanentError('card declined');
        }),
        after.handle(async ({ policy }, ctx) => {
          if (policy === 'ignore') seen.push(...(await ctx.dependencies()));
          return policy;
        }),
      ],
    });
    await eventually(async () => {
      expect(await stateOf(out.idOf(failing))).toBe('dead');
      expect(await stateOf(out.idOf(grandchild))).toBe('dead');
      expect(await stateOf(out.idOf(ignoring))).toBe('completed');
      expect(await stateOf(out.idOf(cancelling))).toBe('cancelled');
    });
    const [dl] = await q<{ reason: string; errors: { name: string; dependency: string }[] }>(
      `SELECT reason, errors FROM sluice.dead_letter WHERE id = $1`,
      [out.idOf(failing)],
    );
    expect(dl!.reason).toBe('dependency_failed');
    expect(dl!.errors.at(-1)).toMatchObject({ name: 'DependencyFailed', dependency: out.idOf(b) });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ id: out.idOf(b), state: 'dead', result: null });
    expect(seen[0]!.error).toMatchObject({ message: 'card declined' });
    const [h] = await q<{ cancel_reason: string }>(
      `SELECT cancel_reason FROM sluice.job_history WHERE id = $1`,
      [out.idOf(cancelling)],
    );
    expect(h!.cancel_reason).toContain(`dependency ${out.idOf(b)} was dead`);
  });

  it('replaying a dead member that then completes releases what waited on it, down the flow', async () => {
    let shouldFail = true;
    const flaky = defineTask({ name: 'flaky', schema: z.object({}), maxAttempts: 1 });
    const next = defineTask({ name: 'next', schema: z.object({}) });
    const f = flow();
    const a = f.add(flaky, {});
    const b = f.add(next, {}, { dependsOn: [a] });
    const c = f.add(next, {}, { dependsOn: [b] });
    const out = await f.enqueue({ db: db.current.pool });
    await start({
      tasks: [
        flaky.handle(() => {
          if (shouldFail) throw new Error('flaky');
          return 'ok';
        }),
        next.handle(() => 'next'),
      ],
    });
    await eventually(async () => expect(await stateOf(out.idOf(c))).toBe('dead'));
    shouldFail = false;
    expect(await replayDeadLetter({ db: db.current.pool, id: out.idOf(a) })).toBe(out.idOf(a));
    // b and c are blocked again until a completes, then run in order.
    await eventually(async () => {
      expect(await stateOf(out.idOf(a))).toBe('completed');
      expect(await stateOf(out.idOf(b))).toBe('completed');
      expect(await stateOf(out.idOf(c))).toBe('completed');
    });
  });

  it('cancel_flow cancels every unfinished member at once; expiry moves an unstarted job to history', async () => {
    const t = defineTask({ name: 'slow', schema: z.object({}) });
    const f = flow();
    const a = f.add(t, {}, { delayMs: 60_000 });
    f.add(t, {}, { dependsOn: [a] });
    const out = await f.enqueue({ db: db.current.pool });
    const [{ n }] = (await q<{ n: number }>(`SELECT sluice.cancel_flow($1) AS n`, [
      out.flowId,
    ])) as [{ n: number }];
    expect(n).toBe(2);
    expect(await q(`SELECT 1 FROM sluice.job`)).toEqual([]);
    const states = await q<{ state: string }>(
      `SELECT state FROM sluice.flow_members WHERE flow_id = $1`,
      [out.flowId],
    );
    expect(states.map((s) => s.state)).toEqual(['cancelled', 'cancelled']);

    // Expiry: the first step expires before a worker is there; its dependent follows 'fail'.
    const g = flow();
    const e = g.add(t, {}, { expiresAt: new Date(Date.now() + 300) });
    const d = g.add(t, {}, { dependsOn: [e] });
    const expOut = await g.enqueue({ db: db.current.pool });
    await new Promise((r) => setTimeout(r, 600));
    let ran = 0;
    await start({ tasks: [t.handle(() => void ran++)] });
    await eventually(async () => {
      expect(await stateOf(expOut.idOf(e))).toBe('expired');
      expect(await stateOf(expOut.idOf(d))).toBe('dead');
    });
    expect(ran).toBe(0);
  });

  it('refuses bad flows with typed errors before writing, and the caller transaction stays usable', async () => {
    const t = defineTask({ name: 't', schema: z.object({ n: z.number() }) });
    const client = await db.current.pool.connect();
    try {
      await client.query('BEGIN');
      await expect(() => flow().enqueue({ db: client })).rejects.toBeInstanceOf(InvalidFlowError);
      const other = flow().add(t, { n: 1 });
      expect(() => flow().add(t, { n: 1 }, { dependsOn: [other] })).toThrow(InvalidFlowError);
      const missing = flow();
      missing.add(t, { n: 1 }, { dependsOn: ['999999999'] });
      await expect(missing.enqueue({ db: client })).rejects.toThrow(/does not exist/);
      const unknownQueue = flow();
      unknownQueue.add(t, { n: 1 }, { queue: 'nope' });
      await expect(unknownQueue.enqueue({ db: client })).rejects.toBeInstanceOf(UnknownQueueError);
      expect(() => flow().add(t, { n: 'x' } as never)).toThrow(/payload/i);
      expect(() =>
        flow().add(t, { n: 1 }, { runAt: new Date(Date.now() + 1000), expiresAt: new Date() }),
      ).toThrow(/expiresAt must be after runAt/);
      // Still usable: the refusals wrote nothing and raised nothing in the transaction.
      await client.query('SELECT 1');
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    expect(await q(`SELECT 1 FROM sluice.job`)).toEqual([]);
    // A dead dependency by id needs onFailure: 'ignore'.
    const [{ id: deadId }] = (await q<{ id: string }>(
      `INSERT INTO sluice.dead_letter (id, queue, task, payload, priority, run_at, attempt, max_attempts, reason, created_at)
       VALUES (nextval('sluice.job_id_seq'), 'default', 't', '{}', 0, now(), 1, 1, 'permanent', now()) RETURNING id::text`,
    )) as [{ id: string }];
    const dep = flow();
    dep.add(t, { n: 1 }, { dependsOn: [deadId] });
    await expect(dep.enqueue({ db: db.current.pool })).rejects.toThrow(/is dead: replay it first/);
    const ok = flow();
    ok.add(t, { n: 1 }, { dependsOn: [{ job: deadId, onFailure: 'ignore' }] });
    const out = await ok.enqueue({ db: db.current.pool });
    expect(await stateOf(out.ids[0]!)).toBe('pending');
  });

  it('a tree (BullMQ parent with children) runs the parent after its children; a DAG depends on an earlier job by id', async () => {
    const t = defineTask({ name: 'node', schema: z.object({ name: z.string() }) });
    const started: string[] = [];
    const earlier = await enqueue(t, { name: 'earlier' }, { db: db.current.pool, delayMs: 300 });
    const out = await tree({
      ...step(t, { name: 'root' }),
      children: [
        { ...step(t, { name: 'left' }), children: [step(t, { name: 'leaf' })] },
        step(t, { name: 'right' }),
      ],
    }).enqueue({ db: db.current.pool });
    const dag = flow();
    dag.add(t, { name: 'after-earlier' }, { dependsOn: [earlier.id, out.ids.at(-1)!] });
    await dag.enqueue({ db: db.current.pool });
    await start({ tasks: [t.handle(({ name }) => void started.push(name))], concurrency: 1 });
    await eventually(() => expect(started).toHaveLength(6));
    expect(started.indexOf('leaf')).toBeLessThan(started.indexOf('left'));
    expect(started.indexOf('left')).toBeLessThan(started.indexOf('root'));
    expect(started.indexOf('right')).toBeLessThan(started.indexOf('root'));
    expect(started.at(-1)).toBe('after-earlier');
  });

  it('the last two dependencies finishing at the same moment on two connections release the dependent once', async () => {
    const t = defineTask({ name: 'c', schema: z.object({}) });
    const f = flow();
    const a = f.add(t, {});
    const b = f.add(t, {});
    const parent = f.add(t, {}, { dependsOn: [a, b] });
    const out = await f.enqueue({ db: db.current.pool });
    // Two "workers" hold one child each.
    for (const [id, w] of [
      [out.idOf(a), 'w1'],
      [out.idOf(b), 'w2'],
    ] as const) {
      await q(
        `UPDATE sluice.job SET state = 'running', attempt = 1, worker_id = $2 WHERE id = $1`,
        [id, w],
      );
    }
    const c1 = new pg.Client({ connectionString: db.current.url });
    const c2 = new pg.Client({ connectionString: db.current.url });
    await Promise.all([c1.connect(), c2.connect()]);
    try {
      await c1.query('BEGIN');
      await c2.query('BEGIN');
      const done = (c: pg.Client, id: string, w: string) =>
        jobComplete(toExecutor(c, { isPrepared: false }), 'sluice', {
          queue: 'default',
          workerId: w,
          jobs: [{ token: { id, attempt: 1 }, resultJson: null }],
        });
      await done(c1, out.idOf(a), 'w1');
      const second = done(c2, out.idOf(b), 'w2'); // waits for c1's lock on the parent row
      await new Promise((r) => setTimeout(r, 200));
      await c1.query('COMMIT');
      await second;
      await c2.query('COMMIT');
    } finally {
      await Promise.all([c1.end(), c2.end()]);
    }
    const [p] = await q<{ state: string; waiting_for: number }>(
      `SELECT state, waiting_for FROM sluice.job WHERE id = $1`,
      [out.idOf(parent)],
    );
    expect(p).toEqual({ state: 'pending', waiting_for: 0 });
    const edges = await q<{ outcome: string }>(
      `SELECT outcome FROM sluice.job_dependency WHERE job_id = $1`,
      [out.idOf(parent)],
    );
    expect(edges.map((e) => e.outcome)).toEqual(['completed', 'completed']);
  });

  it('a dependent added by id while its dependency is completing is released, not stranded', async () => {
    const t = defineTask({ name: 'r', schema: z.object({}) });
    const first = await enqueue(t, {}, { db: db.current.pool });
    await q(`UPDATE sluice.job SET state = 'running', attempt = 1, worker_id = 'w' WHERE id = $1`, [
      first.id,
    ]);
    const producer = await db.current.pool.connect();
    const finisher = new pg.Client({ connectionString: db.current.url });
    await finisher.connect();
    try {
      await producer.query('BEGIN');
      const g = flow();
      g.add(t, {}, { dependsOn: [first.id] });
      const out = await g.enqueue({ db: producer }); // holds the dependency's row lock
      const finishing = jobComplete(toExecutor(finisher, { isPrepared: false }), 'sluice', {
        queue: 'default',
        workerId: 'w',
        jobs: [{ token: { id: first.id, attempt: 1 }, resultJson: '"done"' }],
      });
      await new Promise((r) => setTimeout(r, 200));
      await producer.query('COMMIT');
      expect(await finishing).toHaveLength(1);
      expect(await stateOf(out.ids[0]!)).toBe('pending');
    } finally {
      producer.release();
      await finisher.end();
    }
  });

  it('ctx.transaction commits the handler writes, its enqueues and the completion together; a lost lease rolls all back', async () => {
    await q(`CREATE TABLE IF NOT EXISTS public.tx_ledger (job_id bigint, note text)`);
    await q(`TRUNCATE public.tx_ledger`);
    const followUp = defineTask({ name: 'follow-up', schema: z.object({}) });
    const pay = defineTask({
      name: 'pay',
      schema: z.object({ steal: z.boolean() }),
      maxAttempts: 2,
    });
    const errors: unknown[] = [];
    await start({
      tasks: [
        pay.handle(async ({ steal }, ctx) =>
          ctx
            .transaction(async (tx) => {
              await tx.query(`INSERT INTO public.tx_ledger VALUES ($1, 'paid')`, [ctx.job.id]);
              await enqueue(followUp, {}, { db: tx });
              if (steal && ctx.attempt === 1) {
                // What a rescue and a re-claim elsewhere do to the row while this handler stalls.
                // 'elsewhere' is a live worker with a long lease: the leader's rescue of gone
                // workers' jobs must not take the row back before the test reads it.
                await db.current.pool.query(
                  `INSERT INTO sluice.worker (id, host, pid, queues, concurrency)
                   VALUES ('elsewhere', 'test', 0, '{}', 1) ON CONFLICT DO NOTHING`,
                );
                await db.current.pool.query(
                  `UPDATE sluice.job SET attempt = attempt + 1, worker_id = 'elsewhere',
                     lease_expires_at = now() + interval '1 hour' WHERE id = $1`,
                  [ctx.job.id],
                );
              }
              return { ok: true };
            })
            .catch((err: unknown) => {
              errors.push(err);
              throw err;
            }),
        ),
        followUp.handle(() => 'followed'),
      ],
    });
    const kept = await enqueue(pay, { steal: false }, { db: db.current.pool });
    const stolen = await enqueue(pay, { steal: true }, { db: db.current.pool });
    await eventually(async () => expect(await stateOf(kept.id)).toBe('completed'));
    await eventually(() => expect(errors).toHaveLength(1));
    expect(errors[0]).toBeInstanceOf(LeaseLostError);
    const ledger = await q<{ job_id: string }>(`SELECT job_id::text FROM public.tx_ledger`);
    expect(ledger.map((l) => l.job_id)).toEqual([kept.id]);
    const [h] = await q<{ result: unknown }>(
      `SELECT result FROM sluice.job_history WHERE id = $1`,
      [kept.id],
    );
    expect(h!.result).toEqual({ ok: true });
    // One follow-up: the stolen attempt's enqueue rolled back with it.
    const follow = await q(`SELECT id FROM sluice.all_jobs WHERE task = 'follow-up'`);
    expect(follow).toHaveLength(1);
    // The stolen job is still held "elsewhere": untouched by the stale attempt.
    const [s] = await q<{ worker_id: string }>(`SELECT worker_id FROM sluice.job WHERE id = $1`, [
      stolen.id,
    ]);
    expect(s!.worker_id).toBe('elsewhere');
    await q(`DROP TABLE public.tx_ledger`);
  });

  it('per-job timeoutMs and retry override the task', async () => {
    const t = defineTask({
      name: 'per-job',
      schema: z.object({}),
      timeoutMs: 60_000,
      maxAttempts: 2,
    });
    const f = flow();
    const j = f.add(t, {}, { timeoutMs: 100, retry: { kind: 'fixed', delayMs: 0 } });
    const out = await f.enqueue({ db: db.current.pool });
    await start({
      tasks: [t.handle((_p, ctx) => new Promise((r) => ctx.signal.addEventListener('abort', r)))],
    });
    await eventually(async () => expect(await stateOf(out.idOf(j))).toBe('dead'));
    const [dl] = await q<{ errors: { name: string }[] }>(
      `SELECT errors FROM sluice.dead_letter WHERE id = $1`,
      [out.idOf(j)],
    );
    expect(dl!.errors.map((e) => e.name)).toEqual(['TimeoutError', 'TimeoutError']);
  });

  it('sluice doctor reports a job blocked on a job that no longer exists anywhere', async () => {
    const t = defineTask({ name: 'gone', schema: z.object({}) });
    const f = flow();
    const a = f.add(t, {});
    const b = f.add(t, {}, { dependsOn: [a] });
    const out = await f.enqueue({ db: db.current.pool });
    await q(`DELETE FROM sluice.job WHERE id = $1`, [out.idOf(a)]); // purged by hand
    const report = await inspectSchema({ db: db.current.pool });
    const stranded = report.problems.filter((p) => p.code === 'STRANDED_BLOCKED_JOB');
    expect(stranded).toHaveLength(1);
    expect(stranded[0]!.message).toContain(
      `job ${out.idOf(b)} is blocked on job ${out.idOf(a)}, which no longer exists anywhere`,
    );
    await q(`SELECT sluice.release_dependents(ARRAY[$1::bigint], 'completed')`, [out.idOf(a)]);
    expect(await stateOf(out.idOf(b))).toBe('pending');
    const after = await inspectSchema({ db: db.current.pool });
    expect(after.problems.filter((p) => p.code === 'STRANDED_BLOCKED_JOB')).toEqual([]);
  });

  it('plain enqueue and enqueueMany take expiresAt, timeoutMs and retry per job too', async () => {
    const t = defineTask({
      name: 'plain',
      schema: z.object({}),
      timeoutMs: 60_000,
      maxAttempts: 1,
    });
    const expiring = await enqueue(
      t,
      {},
      { db: db.current.pool, expiresAt: new Date(Date.now() + 200) },
    );
    const [timed] = await enqueueMany(
      [{ task: t, payload: {}, timeoutMs: 100, retry: { kind: 'fixed', delayMs: 0 } }],
      { db: db.current.pool },
    );
    await expect(
      enqueue(
        t,
        {},
        { db: db.current.pool, uniqueKey: 'k', uniqueScope: 'retained', timeoutMs: 5 },
      ),
    ).rejects.toThrow(/cannot be combined with a uniqueScope/);
    await new Promise((r) => setTimeout(r, 400));
    let runs = 0;
    await start({
      tasks: [
        t.handle((_p, ctx) => {
          runs++;
          return new Promise((r) => ctx.signal.addEventListener('abort', r));
        }),
      ],
    });
    await eventually(async () => {
      expect(await stateOf(expiring.id)).toBe('expired');
      expect(await stateOf(timed!.id)).toBe('dead');
    });
    expect(runs).toBe(1);
  });

  it('a flow in a Kysely transaction exists only if it commits; SQL refuses a cycle; the size limit holds', async () => {
    const t = defineTask({ name: 'k', schema: z.object({}) });
    const kysely = new Kysely<SluiceDatabase>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: db.current.url }) }),
    });
    try {
      await kysely
        .transaction()
        .execute(async (trx) => {
          const f = flow();
          f.add(t, {}, { dependsOn: [f.add(t, {})] });
          await f.enqueue({ db: trx });
          throw new Error('roll back');
        })
        .catch(() => undefined);
      expect(await q(`SELECT 1 FROM sluice.job`)).toEqual([]);
      const ids = await kysely.transaction().execute(async (trx) => {
        const f = flow();
        f.add(t, {}, { dependsOn: [f.add(t, {})] });
        return (await f.enqueue({ db: trx })).ids;
      });
      expect(await stateOf(ids[1]!)).toBe('blocked');
    } finally {
      await kysely.destroy();
    }
    // A cycle cannot be built with handles; in SQL a member may only depend on earlier ones.
    await expect(
      q(`SELECT * FROM sluice.enqueue_flow($1::jsonb)`, [
        JSON.stringify([
          { ref: 'a', task: 'k', depends_on: [{ ref: 'b' }] },
          { ref: 'b', task: 'k', depends_on: [{ ref: 'a' }] },
        ]),
      ]),
    ).rejects.toMatchObject({ code: '22023' });
    const big = flow();
    for (let i = 0; i < MAX_FLOW_MEMBERS; i++) big.add(t, {});
    expect(() => big.add(t, {})).toThrow(InvalidFlowError);
  });

  it('maintenance prunes edges older than every retention once their dependent finished, never a waiting one', async () => {
    const t = defineTask({ name: 'prune', schema: z.object({}) });
    const f = flow();
    const a = f.add(t, {});
    const b = f.add(t, {}, { dependsOn: [a] });
    const out = await f.enqueue({ db: db.current.pool });
    // An old edge of a finished dependent, and the live edge of b, backdated past retention.
    await q(
      `INSERT INTO sluice.job_dependency (job_id, job_queue, depends_on, position, outcome, created_at)
       VALUES (123456789, 'default', 1, 1, 'completed', now() - interval '400 days')`,
    );
    await q(`UPDATE sluice.job_dependency SET created_at = now() - interval '400 days'`);
    const m = new Maintenance({ pool: db.current.pool, schema: 'sluice', logger: quiet });
    const run = await m.runOnce();
    expect(run.dependenciesDeleted).toBe(1);
    const left = await q<{ job_id: string }>(`SELECT job_id::text FROM sluice.job_dependency`);
    expect(left).toEqual([{ job_id: out.idOf(b) }]);
    expect(out.idOf(a)).toBeDefined();
  });
});
