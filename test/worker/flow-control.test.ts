import { describe, expect, it } from 'vitest';
import { createQueue, updateQueue } from 'sluice/admin';
import { eventually } from '@sluice/testkit';
import { useTestDatabase } from '../setup/db.js';
import {
  assertNoWorkerOutlivesTest,
  createLedger,
  enqueueLedger,
  ledgerTask,
  rows,
  startWorker,
  stopAll,
} from './harness.js';
import { enqueueMany } from 'sluice';

const db = useTestDatabase();
assertNoWorkerOutlivesTest();

async function countDone(queue: string) {
  const [r] = await rows<{ n: string }>(
    db.current,
    'SELECT count(*) AS n FROM sluice.job_history WHERE queue = $1',
    [queue],
  );
  return Number(r!.n);
}

describe('flow control across worker processes', () => {
  it('a global concurrency limit of 3 across 3 processes × concurrency 10 is never exceeded', async () => {
    await createLedger(db.current);
    await createQueue({ db: db.current.pool, name: 'limited', concurrencyLimit: 3 });
    const env = { QUEUES: 'limited', CONCURRENCY: '10', POLL_INTERVAL_MS: '100' };
    const procs = [
      startWorker(db.current, env),
      startWorker(db.current, env),
      startWorker(db.current, env),
    ];
    await Promise.all(procs.map((p) => p.waitFor((e) => e.event === 'ready')));
    await enqueueLedger(db.current, 60, { sleepMs: 50 }, 'limited');
    let maxRunning = 0;
    let samples = 0;
    while ((await countDone('limited')) < 60) {
      const [r] = await rows<{ n: string }>(
        db.current,
        `SELECT count(*) AS n FROM sluice.job WHERE queue = 'limited' AND state = 'running'`,
      );
      maxRunning = Math.max(maxRunning, Number(r!.n));
      samples++;
      await new Promise((res) => setTimeout(res, 5));
    }
    expect(samples).toBeGreaterThan(20);
    expect(maxRunning).toBeLessThanOrEqual(3);
    expect(maxRunning).toBe(3);
    await stopAll(procs);
  });

  it('a rate limit of 20 per second holds across processes', async () => {
    await createLedger(db.current);
    await createQueue({ db: db.current.pool, name: 'rated', rateLimit: 20, rateWindowMs: 1000 });
    await enqueueLedger(db.current, 200, {}, 'rated');
    const env = { QUEUES: 'rated', CONCURRENCY: '10', POLL_INTERVAL_MS: '50' };
    const procs = [startWorker(db.current, env), startWorker(db.current, env)];
    await eventually(async () => expect(await countDone('rated')).toBeGreaterThan(0));
    await new Promise((r) => setTimeout(r, 3000));
    await stopAll(procs);
    // The limit counts claims; started_at is when each handler started, a little after its claim
    // (up to ~300 ms on a loaded machine). So every window of 700 ms of starts holds at most 20:
    // its claims all fall within one second.
    const starts = (
      await rows<{ ms: number }>(
        db.current,
        `SELECT (extract(epoch FROM started_at) * 1000)::float8 AS ms FROM sluice.all_jobs
         WHERE queue = 'rated' AND started_at IS NOT NULL ORDER BY started_at`,
      )
    ).map((r) => r.ms);
    let most = 0;
    for (let i = 0; i < starts.length; i++) {
      let n = 0;
      while (i + n < starts.length && starts[i + n]! < starts[i]! + 700) n++;
      most = Math.max(most, n);
    }
    expect(most).toBeLessThanOrEqual(20);
    const total = starts.length;
    // ~3-4 windows ran: within a small tolerance of 20 per second.
    expect(total).toBeGreaterThanOrEqual(40);
    expect(total).toBeLessThanOrEqual(100);
    const pids = await rows(
      db.current,
      `SELECT DISTINCT pid FROM ledger WHERE job_id IN (SELECT id FROM sluice.all_jobs WHERE queue = 'rated')`,
    );
    expect(pids.length).toBeGreaterThanOrEqual(1);
  });

  it('a rate limit holds in every sliding window, not per fixed window (no double burst)', async () => {
    await createLedger(db.current);
    await createQueue({ db: db.current.pool, name: 'sliding', rateLimit: 10, rateWindowMs: 1000 });
    await enqueueLedger(db.current, 100, {}, 'sliding');
    const env = { QUEUES: 'sliding', CONCURRENCY: '10', POLL_INTERVAL_MS: '20' };
    const procs = [startWorker(db.current, env), startWorker(db.current, env)];
    await eventually(async () => expect(await countDone('sliding')).toBeGreaterThanOrEqual(35), {
      timeoutMs: 15_000,
    });
    await stopAll(procs);
    // Handler start times (the ledger row each handler writes first), across both processes.
    const starts = (
      await rows<{ ms: number }>(
        db.current,
        `SELECT (extract(epoch FROM l.at) * 1000)::float8 AS ms FROM ledger l
         JOIN sluice.all_jobs j ON j.id = l.job_id WHERE j.queue = 'sliding' ORDER BY l.at`,
      )
    ).map((r) => r.ms);
    expect(starts.length).toBeGreaterThanOrEqual(35);
    // 300 ms of slack for the time between a claim and its handler's first statement, which a
    // loaded machine stretches; the double burst of fixed windows (16-20 starts within ~365 ms)
    // still shows in a 700 ms window.
    let most = 0;
    for (let i = 0; i < starts.length; i++) {
      let n = 0;
      while (i + n < starts.length && starts[i + n]! < starts[i]! + 700) n++;
      most = Math.max(most, n);
    }
    expect(most).toBeLessThanOrEqual(10);
  });

  it('one busy group key does not delay another key', async () => {
    await createLedger(db.current);
    await createQueue({ db: db.current.pool, name: 'tenants' });
    await updateQueue({ db: db.current.pool, name: 'tenants', groupConcurrencyLimit: 2 });
    const task = ledgerTask('tenants');
    await enqueueMany(
      Array.from({ length: 40 }, () => ({ task, payload: { sleepMs: 200 }, groupKey: 'busy' })),
      { db: db.current.pool },
    );
    const [quiet] = await enqueueMany([{ task, payload: {}, groupKey: 'quiet' }], {
      db: db.current.pool,
    });
    const w = startWorker(db.current, {
      QUEUES: 'tenants',
      CONCURRENCY: '10',
      POLL_INTERVAL_MS: '100',
    });
    // From ready, not from spawn: a loaded machine takes seconds to start a process, and the 40
    // busy jobs alone take 4 s at two at a time.
    await w.waitFor((e) => e.event === 'ready');
    await eventually(
      async () => {
        const done = await rows(db.current, 'SELECT id FROM sluice.job_history WHERE id = $1', [
          quiet!.id,
        ]);
        expect(done.length).toBe(1);
      },
      { timeoutMs: 3000 },
    );
    const [busyRunning] = await rows<{ n: string }>(
      db.current,
      `SELECT count(*) AS n FROM sluice.job WHERE queue = 'tenants' AND state = 'running' AND group_key = 'busy'`,
    );
    expect(Number(busyRunning!.n)).toBeLessThanOrEqual(2);
    // The busy key still has most of its 40 jobs waiting: it was held to its own share.
    expect(await countDone('tenants')).toBeLessThan(20);
    await stopAll([w]);
  });

  it('pause stops new starts on every worker within a second or two; running jobs finish', async () => {
    await createLedger(db.current);
    await createQueue({ db: db.current.pool, name: 'pausable' });
    const env = { QUEUES: 'pausable', CONCURRENCY: '2', POLL_INTERVAL_MS: '200' };
    const procs = [startWorker(db.current, env), startWorker(db.current, env)];
    await Promise.all(procs.map((p) => p.waitFor((e) => e.event === 'ready')));
    await enqueueLedger(db.current, 400, { sleepMs: 100 }, 'pausable');
    await eventually(async () => expect(await countDone('pausable')).toBeGreaterThan(4));
    await db.current.pool.query(`SELECT sluice.pause_queue('pausable')`);
    const pausedAt = Date.now();
    // Running jobs finish and nothing new starts: the ledger stops growing.
    const started = async () =>
      Number((await rows<{ n: string }>(db.current, 'SELECT count(*) AS n FROM ledger'))[0]!.n);
    await eventually(async () => {
      expect(
        await rows(
          db.current,
          `SELECT id FROM sluice.job WHERE queue = 'pausable' AND state = 'running'`,
        ),
      ).toEqual([]);
    });
    const stoppedWithin = Date.now() - pausedAt;
    const after = await started();
    await new Promise((r) => setTimeout(r, 800));
    expect(await started()).toBe(after);
    expect(stoppedWithin).toBeLessThan(2000);
    expect(await countDone('pausable')).toBeLessThan(400);
    await db.current.pool.query(`SELECT sluice.resume_queue('pausable')`);
    await eventually(async () => expect(await started()).toBeGreaterThan(after));
    await stopAll(procs);
  });

  it('a per-group rate limit holds per key while other keys run freely', async () => {
    await createLedger(db.current);
    await createQueue({ db: db.current.pool, name: 'per-key' });
    await updateQueue({
      db: db.current.pool,
      name: 'per-key',
      groupRateLimit: 5,
      rateWindowMs: 1000,
    });
    const task = ledgerTask('per-key');
    await enqueueMany(
      [
        ...Array.from({ length: 40 }, () => ({ task, payload: {}, groupKey: 'chatty' })),
        ...Array.from({ length: 10 }, () => ({ task, payload: {}, groupKey: 'calm' })),
      ],
      { db: db.current.pool },
    );
    const w = startWorker(db.current, {
      QUEUES: 'per-key',
      CONCURRENCY: '10',
      POLL_INTERVAL_MS: '50',
    });
    await eventually(async () => expect(await countDone('per-key')).toBeGreaterThanOrEqual(15), {
      timeoutMs: 10_000,
    });
    await stopAll([w]);
    const perWindow = await rows<{ group_key: string; n: string }>(
      db.current,
      `SELECT group_key, count(*) AS n FROM sluice.all_jobs WHERE queue = 'per-key' AND started_at IS NOT NULL
       GROUP BY group_key, date_trunc('second', started_at)`,
    );
    expect(Math.max(...perWindow.map((r) => Number(r.n)))).toBeLessThanOrEqual(5);
    expect(perWindow.some((r) => r.group_key === 'calm')).toBe(true);
  });
});
