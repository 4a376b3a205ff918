// Every long-running part has one shape: start(), and a stop() that waits for the work in
// progress, is safe before start and safe twice; a second start() of a worker is a typed error.
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createWorker, defineTask, InvalidOptionsError, listenJobEvents } from 'sluice';
import { CronScheduler, Maintenance } from 'sluice/admin';
import { useTestDatabase } from './setup/db.js';

const db = useTestDatabase();
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
let pool: pg.Pool;
afterAll(() => pool?.end());

describe('long-running parts', () => {
  it('stop before start, stop twice, start and stop again: no error, nothing left running', async () => {
    pool = new pg.Pool({ connectionString: db.current.url });
    const deps = { pool, schema: 'sluice', logger: quiet };
    const task = defineTask({ name: 'life', schema: z.object({}) }).handle(() => undefined);
    const worker = createWorker({ db: db.current.url, tasks: [task], logger: quiet });
    const parts: { start(): Promise<void>; stop(): Promise<void>; isRunning?(): boolean }[] = [
      { start: () => worker.start(), stop: () => worker.stop() },
      ...[new CronScheduler(deps), new Maintenance(deps, { startDelayMs: 0 })].map((p) => ({
        start: () => p.start(),
        stop: () => p.stop(),
        isRunning: () => p.isRunning,
      })),
    ];
    for (const p of parts) {
      await p.stop();
      await p.stop();
    }
    const fresh = createWorker({ db: db.current.url, tasks: [task], logger: quiet });
    await fresh.start();
    await expect(fresh.start()).rejects.toThrow(InvalidOptionsError);
    // Stops at once, together, twice: each waits for the same shutdown.
    await Promise.all([fresh.stop(), fresh.stop()]);
    expect((await pool.query('SELECT id FROM sluice.worker')).rows).toEqual([]);
    for (const p of parts.slice(1)) {
      await p.start();
      expect(p.isRunning?.()).toBe(true);
      await Promise.all([p.stop(), p.stop()]);
      expect(p.isRunning?.()).toBe(false);
    }
    const events = await listenJobEvents({ db: db.current.url });
    await Promise.all([events.stop(), events.stop()]);
    await events.stop();
  });
});
