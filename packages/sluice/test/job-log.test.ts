import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createWorker, defineTask, enqueue, getJob, waitForJob, type Worker } from 'sluice';
import { eventually } from '@sluice/testkit';
import { getJobLogs, Maintenance } from 'sluice/admin';
import { useTestDatabase } from '../../../test/setup/db.js';

const db = useTestDatabase();
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const workers: Worker[] = [];

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop({ graceMs: 500 })));
});

describe('ctx.log', () => {
  it('stores the lines of every attempt, bounded, readable once the job is a dead letter', async () => {
    let badInput: unknown;
    const t = defineTask({
      name: 'chatty',
      schema: z.object({}),
      maxAttempts: 2,
      retry: { kind: 'fixed', delayMs: 10 },
    }).handle((_p, ctx) => {
      ctx.log(`attempt ${ctx.attempt}`, { attempt: ctx.attempt });
      if (ctx.attempt === 2) {
        ctx.log('x'.repeat(5000));
        for (let i = 0; i < 150; i++) ctx.log(`line ${i}`);
        try {
          ctx.log(42 as unknown as string);
        } catch (err) {
          badInput = err;
        }
      }
      throw new Error('boom');
    });
    const w = createWorker({ db: db.current.url, logger: quiet, pollIntervalMs: 50, tasks: [t] });
    workers.push(w);
    await w.start();
    const { id } = await enqueue(t, {}, { db: db.current.pool });
    expect((await waitForJob({ db: db.current.url, id, timeoutMs: 5000 })).state).toBe('dead');
    expect(badInput).toMatchObject({ code: 'INVALID_OPTIONS' });
    const lines = await getJobLogs({ db: db.current.pool, id });
    expect(lines[0]).toMatchObject({ attempt: 1, message: 'attempt 1', fields: { attempt: 1 } });
    const second = lines.filter((l) => l.attempt === 2);
    expect(second).toHaveLength(101);
    expect(second[0]?.message).toBe('attempt 2');
    expect(second[1]?.message).toHaveLength(2048);
    expect(second.at(-1)).toMatchObject({ level: 'warn', message: '52 lines dropped' });
    expect(lines[0]?.at).toBeInstanceOf(Date);
    expect(await getJobLogs({ db: db.current.pool, id, limit: 2 })).toHaveLength(2);
  });

  it("a running job's lines are stored within a second, each with its own time", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const t = defineTask({ name: 'slow-log', schema: z.object({}) }).handle(async (_p, ctx) => {
      ctx.log('first');
      await new Promise((r) => setTimeout(r, 300));
      ctx.log('second');
      await gate;
      ctx.log('last');
    });
    const w = createWorker({ db: db.current.url, logger: quiet, pollIntervalMs: 50, tasks: [t] });
    workers.push(w);
    await w.start();
    const { id } = await enqueue(t, {}, { db: db.current.pool });
    // Still running: what it logged is already there, so a crash now would not lose it.
    await eventually(
      async () =>
        expect((await getJobLogs({ db: db.current.pool, id })).map((l) => l.message)).toEqual([
          'first',
          'second',
        ]),
      { timeoutMs: 3000 },
    );
    expect((await getJob({ db: db.current.pool, id }))?.state).toBe('running');
    release();
    await waitForJob({ db: db.current.url, id, timeoutMs: 5000 });
    const lines = await getJobLogs({ db: db.current.pool, id });
    expect(lines.map((l) => l.message)).toEqual(['first', 'second', 'last']);
    const gapMs = lines[1]!.at.getTime() - lines[0]!.at.getTime();
    expect(gapMs).toBeGreaterThanOrEqual(250);
    expect(gapMs).toBeLessThan(2000);
  });

  it('maintenance prunes lines older than every retention whose job finished', async () => {
    const { pool } = db.current;
    await pool.query(
      `INSERT INTO sluice.job_log (job_id, attempt, seq, at, message)
       VALUES (999001, 1, 1, now() - interval '400 days', 'old'), (999002, 1, 1, now(), 'new')`,
    );
    const m = new Maintenance({ pool, schema: 'sluice', logger: quiet });
    const run = await m.runOnce();
    expect(run.jobLogsDeleted).toBe(1);
    expect(await getJobLogs({ db: pool, id: '999002' })).toHaveLength(1);
  });
});
