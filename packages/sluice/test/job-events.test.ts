// Cross-process job events (listenJobEvents): what each event carries, that big batches arrive
// whole in payloads NOTIFY accepts, the outcomes finished outside a worker's own statements
// (cancel, expiry, rescue, a failed dependency), and 'active'/'progress' only on request.
import pg from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  cancelJob,
  createWorker,
  defineTask,
  enqueue,
  enqueueMany,
  flow,
  listenJobEvents,
  type JobEventInfo,
  type JobEvents,
  type Worker,
  type WorkerOptions,
} from 'sluice';
import { createQueue } from 'sluice/admin';
import { eventually } from '@sluice/testkit';
import { useTestDatabase } from '../../../test/setup/db.js';

const db = useTestDatabase();
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const workers: Worker[] = [];
const listeners: JobEvents[] = [];

async function start(options: Omit<WorkerOptions, 'db'>) {
  const w = createWorker({ db: db.current.url, logger: quiet, pollIntervalMs: 200, ...options });
  workers.push(w);
  await w.start();
  return w;
}

/** A listener that records every event it hears, in order. */
async function listen(include?: ('active' | 'progress')[]) {
  const events = await listenJobEvents({ db: db.current.url, include });
  listeners.push(events);
  const heard: JobEventInfo[] = [];
  for (const name of [
    'active',
    'progress',
    'completed',
    'retried',
    'dead',
    'cancelled',
    'expired',
  ] as const)
    events.on(name, (e) => heard.push(e));
  return heard;
}

beforeAll(async () => {
  for (const name of ['batch', 'misc', 'misc-expiry', 'steps'])
    await createQueue({ db: db.current.pool, name });
});

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop({ graceMs: 500 })));
  await Promise.all(listeners.splice(0).map((l) => l.stop()));
});

describe('job events', () => {
  it('carry task, attempt, state and a bounded result or error summary', async () => {
    const heard = await listen();
    const ok = defineTask({ name: 'ev-ok', schema: z.object({ n: z.number() }) }).handle(
      ({ n }) => ({ n }),
    );
    const big = defineTask({ name: 'ev-big', schema: z.object({}) }).handle(() => 'x'.repeat(600));
    const bad = defineTask({
      name: 'ev-bad',
      schema: z.object({}),
      maxAttempts: 2,
      retry: { kind: 'fixed', delayMs: 10 },
    }).handle(() => {
      throw new TypeError(`boom ${'y'.repeat(500)}`);
    });
    await start({ tasks: [ok, big, bad], queues: ['default'] });
    const a = await enqueue(ok, { n: 1 }, { db: db.current.pool });
    const b = await enqueue(big, {}, { db: db.current.pool });
    const c = await enqueue(bad, {}, { db: db.current.pool });
    await eventually(() => expect(heard.filter((e) => e.id === c.id)).toHaveLength(2));
    await eventually(() => expect(heard.filter((e) => e.id !== c.id)).toHaveLength(2));
    expect(heard.find((e) => e.id === a.id)).toEqual({
      event: 'completed',
      id: a.id,
      queue: 'default',
      task: 'ev-ok',
      attempt: 1,
      state: 'completed',
      result: { n: 1 },
    });
    // Too big to travel: a flag, and getJob has it whole.
    const bigEvent = heard.find((e) => e.id === b.id)!;
    expect(bigEvent).toMatchObject({ event: 'completed', resultTruncated: true });
    expect(bigEvent).not.toHaveProperty('result');
    const [retried, dead] = heard.filter((e) => e.id === c.id);
    expect(retried).toMatchObject({
      event: 'retried',
      state: 'pending',
      attempt: 1,
      task: 'ev-bad',
    });
    expect(dead).toMatchObject({ event: 'dead', state: 'dead', attempt: 2 });
    for (const e of [retried!, dead!]) {
      expect(e.error?.name).toBe('TypeError');
      expect(e.error?.message).toHaveLength(300);
      expect(e.error?.message?.startsWith('boom y')).toBe(true);
    }
  });

  it('a batch of 3,000 completions arrives whole, in payloads NOTIFY accepts', async () => {
    const heard = await listen();
    // The raw channel too: every payload must stay under the 8000-byte limit.
    const raw = new pg.Client({ connectionString: db.current.url });
    await raw.connect();
    const sizes: number[] = [];
    raw.on('notification', (n) => sizes.push(Buffer.byteLength(n.payload ?? '')));
    await raw.query('LISTEN "sluice:done"');
    try {
      const task = defineTask({ name: 'ev-batch', schema: z.object({ i: z.number() }) }).handle(
        ({ i }) => `${i}:${'r'.repeat(200)}`,
      );
      await start({ tasks: [task], queues: ['batch'], concurrency: 100 });
      const jobs = await enqueueMany(
        Array.from({ length: 3000 }, (_, i) => ({ task, payload: { i }, queue: 'batch' })),
        { db: db.current.pool },
      );
      await eventually(() => expect(heard.length).toBeGreaterThanOrEqual(3000), {
        timeoutMs: 30_000,
      });
      await new Promise((r) => setTimeout(r, 200));
      expect(new Set(heard.map((e) => e.id))).toEqual(new Set(jobs.map((j) => j.id)));
      expect(heard).toHaveLength(3000);
      const byId = new Map(heard.map((e) => [e.id, e]));
      jobs.forEach((j, i) => expect(byId.get(j.id)?.result).toBe(`${i}:${'r'.repeat(200)}`));
      expect(Math.max(...sizes)).toBeLessThan(8000);
      // ~300 bytes an event: a payload carries twenty or more.
      expect(sizes.length).toBeLessThan(3000 / 20);
    } finally {
      await raw.end();
    }
  });

  it('announce what finishes outside the worker: cancel, expiry, rescue, a failed dependency', async () => {
    const heard = await listen();
    const t = defineTask({ name: 'ev-misc', schema: z.object({ fail: z.boolean() }) });
    // Cancelled while waiting, with its reason.
    const waiting = await enqueue(t, { fail: false }, { db: db.current.pool, delayMs: 60_000 });
    await cancelJob({ db: db.current.pool, id: waiting.id, reason: 'not needed' });
    // Expired while waiting, by the sweep.
    const stale = await enqueue(
      t,
      { fail: false },
      { db: db.current.pool, queue: 'misc-expiry', expiresAt: new Date(Date.now() + 50) },
    );
    await new Promise((r) => setTimeout(r, 100));
    await db.current.pool.query('SELECT sluice.expire_jobs()');
    await eventually(() =>
      expect(heard.map((e) => [e.event, e.id])).toEqual([
        ['cancelled', waiting.id],
        ['expired', stale.id],
      ]),
    );
    expect(heard[0]).toMatchObject({ state: 'cancelled', reason: 'not needed', task: 'ev-misc' });
    expect(heard[1]).toMatchObject({ state: 'expired', queue: 'misc-expiry', attempt: 0 });
    heard.length = 0;
    // A job held by a worker that is gone: the rescuer retries it, and says why.
    const orphan = await enqueue(t, { fail: false }, { db: db.current.pool, queue: 'misc' });
    await db.current.pool.query(
      `UPDATE sluice.job SET state = 'running', attempt = 1, worker_id = 'gone',
         lease_expires_at = now() - interval '1 second' WHERE id = $1`,
      [orphan.id],
    );
    // A dependent whose dependency dies is dead-lettered by the release, and announced.
    const f = flow();
    const first = f.add(t, { fail: true }, { queue: 'misc', maxAttempts: 1 });
    const then = f.add(t, { fail: false }, { queue: 'misc', dependsOn: [first] });
    const out = await f.enqueue({ db: db.current.pool });
    await start({
      tasks: [
        t.handle(({ fail }) => {
          if (fail) throw new Error('first failed');
        }),
      ],
      queues: ['misc'],
    });
    await eventually(
      () => {
        expect(heard.find((e) => e.id === orphan.id && e.event === 'retried')).toMatchObject({
          attempt: 1,
          error: { name: 'LeaseExpired' },
        });
        expect(heard.find((e) => e.id === orphan.id && e.event === 'completed')).toMatchObject({
          attempt: 2,
        });
        expect(heard.find((e) => e.id === out.idOf(then))).toMatchObject({
          event: 'dead',
          attempt: 0,
          error: { name: 'DependencyFailed' },
        });
      },
      { timeoutMs: 10_000 },
    );
  });

  it("'active' and 'progress' come only to a listener that asked, and at once", async () => {
    const step = defineTask({ name: 'ev-step', schema: z.object({}) }).handle(async (_p, ctx) => {
      await ctx.progress({ step: 1 });
      return 'done';
    });
    // A 10 s poll: the new listener reaches the running worker by NOTIFY, not at its poll.
    await start({ tasks: [step], queues: ['steps'], pollIntervalMs: 10_000 });
    const plain = await listen();
    const all = await listen(['active', 'progress']);
    // The worker reads the wish on its own connection; give that round trip a moment.
    await new Promise((r) => setTimeout(r, 300));
    const { id } = await enqueue(step, {}, { db: db.current.pool, queue: 'steps' });
    await eventually(() => expect(all.map((e) => e.event)).toContain('completed'));
    expect(all.map((e) => e.event)).toEqual(['active', 'progress', 'completed']);
    expect(all[0]).toMatchObject({ id, state: 'running', attempt: 1, task: 'ev-step' });
    expect(all[1]).toMatchObject({ id, state: 'running', progress: { step: 1 } });
    expect(plain.map((e) => e.event)).toEqual(['completed']);
    await expect(
      listenJobEvents({ db: db.current.url, include: ['finished' as 'active'] }),
    ).rejects.toThrow(/include/);
  });
});
