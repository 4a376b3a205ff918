// Handlers run in a worker thread (Task.handleInThread) keep their worker's heartbeat going
// however long they compute, so a CPU-bound job longer than its lease runs once; timeouts end
// even a handler that never yields; results, errors, directives, progress and log lines cross.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createWorker, defineTask, enqueue, type Logger, type Worker } from 'sluice';
import { eventually } from '@sluice/testkit';
import { useTestDatabase } from '../setup/db.js';

const db = useTestDatabase();
const handlers = new URL('../fixtures/thread-handlers.mjs', import.meta.url);
const dir = mkdtempSync(join(tmpdir(), 'sluice-isolation-'));
const workers: Worker[] = [];
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const payload = z.object({ ledger: z.string(), ms: z.number().optional() });

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop({ graceMs: 2000 })));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function start(tasks: Parameters<typeof createWorker>[0]['tasks'], extra = {}) {
  const w = createWorker({
    db: db.current.url,
    tasks,
    logger: quiet,
    pollIntervalMs: 100,
    ...extra,
  });
  workers.push(w);
  await w.start();
  return w;
}

async function finished(id: string) {
  const { rows } = await db.current.pool.query(
    `SELECT state, attempt, result, progress FROM sluice.job_history WHERE id = $1`,
    [id],
  );
  return rows[0] as
    { state: string; attempt: number; result: unknown; progress: unknown } | undefined;
}

const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean);

describe('handlers in a worker thread', () => {
  it('a 4 s busy loop with a 1.5 s lease and two workers runs once', async () => {
    const task = defineTask({ name: 'crunch', schema: payload }).handleInThread(handlers);
    const fast = { leaseMs: 1500, rescueIntervalMs: 250 };
    await start([task], fast);
    await start([task], fast);
    const ledger = join(dir, 'crunch.log');
    const { id } = await enqueue(task, { ledger, ms: 4000 }, { db: db.current.pool });
    await eventually(async () => expect((await finished(id))?.state).toBe('completed'), {
      timeoutMs: 15_000,
    });
    expect(await finished(id)).toMatchObject({ attempt: 1, result: { spunMs: 4000 } });
    expect(lines(ledger)).toEqual([`${id} 1`]);
  });

  it('a timeout ends a handler that never yields, and its thread stops', async () => {
    const task = defineTask({
      name: 'forever',
      schema: payload,
      timeoutMs: 300,
      maxAttempts: 1,
    }).handleInThread(handlers, { exportName: 'forever' });
    await start([task]);
    const ledger = join(dir, 'forever.log');
    const { id } = await enqueue(task, { ledger }, { db: db.current.pool });
    await eventually(async () => {
      const { rows } = await db.current.pool.query(
        `SELECT errors FROM sluice.dead_letter WHERE id = $1`,
        [id],
      );
      expect(rows[0]?.errors).toMatchObject([{ name: 'TimeoutError' }]);
    });
    // Terminated within the second of grace after the abort: the ledger stops growing.
    await new Promise((r) => setTimeout(r, 1500));
    const size = statSync(ledger).size;
    await new Promise((r) => setTimeout(r, 500));
    expect(statSync(ledger).size).toBe(size);
  });

  it('results, progress, log lines, permanent errors and snoozes cross the thread boundary', async () => {
    const logged: unknown[] = [];
    const logger: Logger = { ...quiet, info: (obj, msg) => logged.push([obj, msg]) };
    logger.child = () => logger;
    const chatty = defineTask({ name: 'chatty', schema: payload }).handleInThread(handlers, {
      exportName: 'chatty',
    });
    const permanent = defineTask({ name: 'permanent', schema: payload }).handleInThread(
      handlers.pathname,
      { exportName: 'permanent' },
    );
    const sleepy = defineTask({ name: 'sleepy', schema: payload }).handleInThread(handlers, {
      exportName: 'sleepy',
    });
    await start([chatty, permanent, sleepy], { logger });
    const p = { ledger: join(dir, 'unused.log') };
    const a = await enqueue(chatty, p, { db: db.current.pool });
    const b = await enqueue(permanent, p, { db: db.current.pool });
    const c = await enqueue(sleepy, p, { db: db.current.pool });
    await eventually(async () => {
      expect(await finished(a.id)).toMatchObject({
        state: 'completed',
        progress: 100,
        result: { attempt: 1, jobId: a.id, task: 'chatty' },
      });
    });
    expect(logged).toContainEqual([{ from: 'thread' }, 'hello from the thread']);
    await eventually(async () => {
      const { rows } = await db.current.pool.query(
        `SELECT attempt, reason, errors FROM sluice.dead_letter WHERE id = $1`,
        [b.id],
      );
      expect(rows[0]).toMatchObject({ attempt: 1 });
      expect(JSON.stringify(rows[0].errors)).toContain('card declined');
    });
    await eventually(async () => {
      const { rows } = await db.current.pool.query(
        `SELECT state, attempt, run_at > now() + interval '50 seconds' AS is_later
         FROM sluice.job WHERE id = $1`,
        [c.id],
      );
      expect(rows[0]).toEqual({ state: 'pending', attempt: 0, is_later: true });
    });
  });

  it('refuses a module that does not exist or a relative path, when the task is defined', () => {
    const t = defineTask({ name: 'nowhere', schema: payload });
    expect(() => t.handleInThread('/nonexistent/handler.js')).toThrow(/no such module/);
    expect(() => t.handleInThread('./handler.js')).toThrow(/URL or an absolute path/);
  });
});
