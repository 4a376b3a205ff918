// The worker's typed events: a misspelt name does not compile, and each event fires when its
// moment comes, through real Postgres.
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  createWorker,
  defineTask,
  enqueue,
  type JobActiveEvent,
  type Worker,
  type WorkerOptions,
} from 'sluice';
import { eventually } from '@sluice/testkit';
import { useTestDatabase } from '../../../test/setup/db.js';

const db = useTestDatabase();
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const workers: Worker[] = [];

function make(options: Omit<WorkerOptions, 'db'>) {
  const w = createWorker({ db: db.current.url, logger: quiet, pollIntervalMs: 200, ...options });
  workers.push(w);
  return w;
}

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop({ graceMs: 500 })));
});

const ping = defineTask({ name: 'ping', schema: z.object({ n: z.number() }) });

describe('worker events', () => {
  it('are typed by name', () => {
    const w = make({ tasks: [ping.handle(() => undefined)] });
    // @ts-expect-error a misspelt event name is a compile error
    w.on('job:complted', () => undefined);
    w.on('job:completed', ({ job, durationMs }) => {
      const id: string = job.id;
      const ms: number | undefined = durationMs;
      return [id, ms];
    });
  });

  it('job:active reports the wait from the due time; drained fires once when all is done', async () => {
    const { pool } = db.current;
    for (let n = 0; n < 5; n++) await enqueue(ping, { n }, { db: pool });
    // Due 400 ms before any worker runs: the wait includes that time.
    await new Promise((r) => setTimeout(r, 400));
    const active: JobActiveEvent[] = [];
    let drained = 0;
    let completedAtDrain = -1;
    let completed = 0;
    const w = make({ tasks: [ping.handle(() => undefined)] });
    w.on('job:active', (e) => active.push(e));
    w.on('job:completed', () => completed++);
    w.on('drained', () => {
      drained++;
      completedAtDrain = completed;
    });
    await w.start();
    await eventually(() => expect(drained).toBe(1));
    expect(completedAtDrain).toBe(5);
    expect(active).toHaveLength(5);
    for (const e of active) {
      expect(e.job).toMatchObject({ queue: 'default', task: 'ping', attempt: 1 });
      expect(e.waitMs).toBeGreaterThanOrEqual(390);
      expect(e.waitMs).toBeLessThan(10_000);
    }
    // Emptied once: the polls that follow, finding nothing, say nothing more.
    await new Promise((r) => setTimeout(r, 500));
    expect(drained).toBe(1);
    // New work, drained again.
    await enqueue(ping, { n: 9 }, { db: pool });
    await eventually(() => expect(drained).toBe(2));
    expect(completed).toBe(6);
  });

  it('leadership and listener:reconnected', { timeout: 60_000 }, async () => {
    const seen: string[] = [];
    const w = make({ tasks: [ping.handle(() => undefined)] });
    w.on('leadership', ({ isLeader }) => seen.push(`leader:${isLeader}`));
    w.on('listener:reconnected', () => seen.push('reconnected'));
    await w.start();
    await eventually(() => expect(seen).toContain('leader:true'));
    // Cut the LISTEN connection from the server side until it comes back and says so: a cut
    // during its first connect is not a reconnect (it never was connected), so cut again.
    const { pool } = db.current;
    let cuts = 0;
    await eventually(
      async () => {
        const { rowCount } = await pool.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE datname = current_database() AND (query LIKE 'LISTEN%' OR query LIKE 'NOTIFY%')`,
        );
        cuts += rowCount ?? 0;
        await new Promise((r) => setTimeout(r, 500));
        expect(seen).toContain('reconnected');
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    await w.stop();
    expect(seen.at(-1)).toBe('leader:false');
    const reconnects = seen.filter((s) => s === 'reconnected').length;
    expect(reconnects).toBeGreaterThanOrEqual(1);
    expect(reconnects).toBeLessThanOrEqual(cuts);
  });
});
