import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  cancel,
  cancelJob,
  createWorker,
  defineTask,
  enqueue,
  getJob,
  snooze,
  TimeoutError,
  waitForJob,
  type Worker,
  type WorkerOptions,
} from 'sluice';
import { eventually } from '@sluice/testkit';
import { useTestDatabase } from '../../../test/setup/db.js';

const db = useTestDatabase();
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const workers: Worker[] = [];

async function start(options: Omit<WorkerOptions, 'db'>) {
  const w = createWorker({ db: db.current.url, logger: quiet, pollIntervalMs: 200, ...options });
  workers.push(w);
  await w.start();
  return w;
}

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop({ graceMs: 500 })));
});

describe('controlling jobs', () => {
  it('cancel_job on a running job aborts its handler through the signal; it ends cancelled', async () => {
    let sawAbort = false;
    const long = defineTask({ name: 'long', schema: z.object({}) }).handle(
      (_p, ctx) =>
        new Promise((resolve) => {
          ctx.signal.addEventListener('abort', () => {
            sawAbort = true;
            resolve('stopped');
          });
        }),
    );
    await start({ tasks: [long] });
    const { id } = await enqueue(long, {}, { db: db.current.pool });
    await eventually(async () =>
      expect((await getJob({ db: db.current.pool, id }))?.state).toBe('running'),
    );
    const t0 = Date.now();
    expect(await cancelJob({ db: db.current.pool, id, reason: 'operator said so' })).toBe(true);
    const done = await waitForJob({ db: db.current.url, id, timeoutMs: 5000 });
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(sawAbort).toBe(true);
    expect(done.state).toBe('cancelled');
  });

  it('cancel_job on a pending job moves it to history at once', async () => {
    const t = defineTask({ name: 'later', schema: z.object({}) });
    const { id } = await enqueue(t, {}, { db: db.current.pool, delayMs: 60_000 });
    expect(await cancelJob({ db: db.current.pool, id })).toBe(true);
    expect((await getJob({ db: db.current.pool, id }))?.state).toBe('cancelled');
    expect(await cancelJob({ db: db.current.pool, id })).toBe(false);
  });

  it('snooze re-schedules without using an attempt; cancel() from a handler ends it cancelled', async () => {
    let runs = 0;
    const snoozy = defineTask({ name: 'snoozy', schema: z.object({}) }).handle(() => {
      runs++;
      return runs === 1 ? snooze(100) : 'awake';
    });
    const quitter = defineTask({ name: 'quitter', schema: z.object({}) }).handle(() =>
      cancel('not needed'),
    );
    await start({ tasks: [snoozy, quitter], pollIntervalMs: 50 });
    const { id } = await enqueue(snoozy, {}, { db: db.current.pool });
    const { id: qid } = await enqueue(quitter, {}, { db: db.current.pool });
    const done = await waitForJob({ db: db.current.url, id, timeoutMs: 5000 });
    expect(done).toMatchObject({ state: 'completed', attempt: 1, result: 'awake' });
    expect(runs).toBe(2);
    const q = await waitForJob({ db: db.current.url, id: qid, timeoutMs: 5000 });
    expect(q.state).toBe('cancelled');
    const { rows } = await db.current.pool.query(
      'SELECT cancel_reason FROM sluice.job_history WHERE id = $1',
      [qid],
    );
    expect(rows[0]).toEqual({ cancel_reason: 'not needed' });
  });

  it('progress is persisted and emitted; the return value is the result; getJob reads any table', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const reporter = defineTask({ name: 'reporter', schema: z.object({}) }).handle(
      async (_p, ctx) => {
        await ctx.progress({ done: 1, total: 2 });
        await gate;
        return { rows: 2 };
      },
    );
    const w = await start({ tasks: [reporter] });
    const events: unknown[] = [];
    w.on('job:progress', (e: { progress: unknown }) => events.push(e.progress));
    const { id } = await enqueue(reporter, {}, { db: db.current.pool });
    await eventually(async () =>
      expect((await getJob({ db: db.current.pool, id }))?.progress).toEqual({ done: 1, total: 2 }),
    );
    expect(events).toEqual([{ done: 1, total: 2 }]);
    release();
    const done = await waitForJob({ db: db.current.url, id });
    expect(done).toMatchObject({
      state: 'completed',
      result: { rows: 2 },
      progress: { done: 1, total: 2 },
    });
    expect(await getJob({ db: db.current.pool, id: '999999999' })).toBeUndefined();
  });

  it('waitForJob times out with a typed error', async () => {
    const t = defineTask({ name: 'never', schema: z.object({}) });
    const { id } = await enqueue(t, {}, { db: db.current.pool, delayMs: 60_000 });
    await expect(waitForJob({ db: db.current.url, id, timeoutMs: 300 })).rejects.toBeInstanceOf(
      TimeoutError,
    );
  });
});

describe('job events across processes', () => {
  it('a producer hears completion, retry and dead letter of its jobs', async () => {
    const { listenJobEvents } = await import('sluice');
    const events = await listenJobEvents({ db: db.current.url });
    const heard: [string, string][] = [];
    for (const e of ['completed', 'retried', 'dead'] as const)
      events.on(e, (i) => heard.push([e, i.id]));
    const ok = defineTask({ name: 'ok', schema: z.object({}) }).handle(() => 1);
    const bad = defineTask({
      name: 'bad',
      schema: z.object({}),
      maxAttempts: 2,
      retry: { kind: 'fixed', delayMs: 10 },
    }).handle(() => {
      throw new Error('no');
    });
    await start({ tasks: [ok, bad], pollIntervalMs: 50 });
    const { id: a } = await enqueue(ok, {}, { db: db.current.pool });
    const { id: b } = await enqueue(bad, {}, { db: db.current.pool });
    await eventually(() => expect(heard).toContainEqual(['dead', b]));
    expect(heard).toContainEqual(['completed', a]);
    expect(heard).toContainEqual(['retried', b]);
    await events.stop();
  });

  it('job events deliver cancelled: a waiting job cancelled by cancelJob and a running one cancelled by its handler', async () => {
    const { listenJobEvents } = await import('sluice');
    const events = await listenJobEvents({ db: db.current.url });
    const heard: string[] = [];
    events.on('cancelled', ({ id, queue }: { id: string; queue: string }) =>
      heard.push(`${queue}:${id}`),
    );
    const task = defineTask({ name: 'cancel-events', schema: z.object({ stop: z.boolean() }) });
    const waiting = await enqueue(task, { stop: false }, { db: db.current.pool, delayMs: 60_000 });
    expect(await cancelJob({ db: db.current.pool, id: waiting.id })).toBe(true);
    await start({
      tasks: [task.handle(({ stop }) => (stop ? cancel('no longer needed') : 'ran'))],
    });
    const running = await enqueue(task, { stop: true }, { db: db.current.pool });
    await eventually(() =>
      expect(heard.sort()).toEqual([`default:${running.id}`, `default:${waiting.id}`].sort()),
    );
    await events.stop();
  });
});
