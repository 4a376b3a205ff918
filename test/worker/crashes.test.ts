import { describe, expect, it } from 'vitest';
import { enqueue } from 'sluice';
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

const db = useTestDatabase();
assertNoWorkerOutlivesTest();

// Short timings so crashes resolve in seconds.
const FAST = {
  LEASE_MS: '1500',
  RESCUE_INTERVAL_MS: '250',
  RESCUE_BACKOFF_MS: '10',
  POLL_INTERVAL_MS: '250',
};

async function reset() {
  await createLedger(db.current);
  await db.current.pool.query(
    'TRUNCATE ledger, sluice.job, sluice.job_history, sluice.dead_letter, sluice.worker, sluice.worker_waiting, sluice.leader',
  );
}

async function countHistory(ids: string[]) {
  const [r] = await rows<{ n: string; d: string }>(
    db.current,
    `SELECT count(*) AS n, count(DISTINCT id) AS d FROM sluice.job_history WHERE id = ANY($1) AND state = 'completed'`,
    [ids],
  );
  return r!;
}

describe('crashes and leases', () => {
  it('kill -9 of a worker holding 50 jobs: all 50 complete elsewhere, once', async () => {
    await reset();
    const ids = await enqueueLedger(db.current, 50, { firstAttemptSleepMs: 60_000 });
    const a = startWorker(db.current, { ...FAST, CONCURRENCY: '50', BUFFER_SIZE: '0' });
    await eventually(async () => {
      const [r] = await rows<{ n: string }>(
        db.current,
        `SELECT count(*) AS n FROM ledger WHERE pid = $1`,
        [a.pid],
      );
      expect(r!.n).toBe('50');
    });
    a.kill('SIGKILL');
    await a.exited;
    const killedAt = Date.now();
    const b = startWorker(db.current, { ...FAST, CONCURRENCY: '50' });
    await eventually(async () => expect((await countHistory(ids)).n).toBe('50'), {
      timeoutMs: 15_000,
    });
    // lease (1.5 s) + leader takeover (≤ lease) + rescue interval + a few seconds
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    expect(await countHistory(ids)).toEqual({ n: '50', d: '50' });
    const attempts = await rows<{ attempt: number }>(
      db.current,
      `SELECT DISTINCT attempt FROM sluice.job_history`,
    );
    expect(attempts).toEqual([{ attempt: 2 }]);
    await stopAll([b]);
  });

  it('SIGSTOP past the lease, rescue, SIGCONT: the late completion is rejected', async () => {
    await reset();
    const [id] = await enqueueLedger(db.current, 1, { firstAttemptSleepMs: 2500 });
    const a = startWorker(db.current, { ...FAST, CONCURRENCY: '1' });
    await a.waitFor((e) => e.event === 'started' && e.id === id);
    a.kill('SIGSTOP');
    const b = startWorker(db.current, { ...FAST, CONCURRENCY: '1' });
    await b.waitFor((e) => e.event === 'job:completed' && e.id === id, 20_000);
    a.kill('SIGCONT');
    await a.waitFor((e) => e.event === 'job:rejected' && e.id === id, 20_000);
    expect(await countHistory([id!])).toEqual({ n: '1', d: '1' });
    const [h] = await rows<{ attempt: number; worker_id: string }>(
      db.current,
      'SELECT attempt FROM sluice.job_history',
    );
    expect(h!.attempt).toBe(2);
    expect(a.events.some((e) => e.event === 'job:completed' && e.id === id)).toBe(false);
    await stopAll([a, b]);
  });

  it('a healthy job running 3× the lease with heartbeats is never rescued', async () => {
    await reset();
    const [id] = await enqueueLedger(db.current, 1, { sleepMs: 3 * 1500 });
    const procs = [startWorker(db.current, FAST), startWorker(db.current, FAST)];
    await eventually(async () => expect((await countHistory([id!])).n).toBe('1'), {
      timeoutMs: 20_000,
    });
    const ledger = await rows(db.current, 'SELECT attempt FROM ledger');
    expect(ledger).toEqual([{ attempt: 1 }]);
    expect(procs.flatMap((p) => p.events).filter((e) => e.event === 'job:rescued')).toEqual([]);
    await stopAll(procs);
  });

  it('a poison job that kills its process on every attempt is dead-lettered after exactly 5; others flow', async () => {
    await reset();
    const [poison] = await enqueueLedger(db.current, 1, { isPoison: true }, 'default', 5);
    const normal = await enqueueLedger(db.current, 40, { sleepMs: 20 });
    // A supervisor restarts the worker whenever it dies, as systemd or Kubernetes would.
    let current = startWorker(db.current, { ...FAST, CONCURRENCY: '4', LEASE_MS: '800' });
    let restarts = 0;
    let isDone = false;
    const supervise = (async () => {
      while (!isDone) {
        await current.exited;
        if (isDone) break;
        restarts++;
        current = startWorker(db.current, { ...FAST, CONCURRENCY: '4', LEASE_MS: '800' });
      }
    })();
    await eventually(
      async () =>
        expect((await rows(db.current, 'SELECT id FROM sluice.dead_letter')).length).toBe(1),
      {
        timeoutMs: 45_000,
      },
    );
    const [dead] = await rows<{ id: string; attempt: number }>(
      db.current,
      'SELECT id, attempt FROM sluice.dead_letter',
    );
    expect(dead).toEqual({ id: poison, attempt: 5 });
    const [poisonRuns] = await rows<{ n: string }>(
      db.current,
      'SELECT count(*) AS n FROM ledger WHERE job_id = $1',
      [poison],
    );
    expect(poisonRuns!.n).toBe('5');
    await eventually(async () => expect((await countHistory(normal)).n).toBe('40'), {
      timeoutMs: 30_000,
    });
    expect(restarts).toBeGreaterThanOrEqual(5);
    isDone = true;
    current.kill('SIGTERM');
    await supervise;
    await current.exited;
  });

  it('SIGTERM: claiming stops at once, short jobs finish, long ones are released, exit 0', async () => {
    await reset();
    const short = await enqueueLedger(db.current, 2, { sleepMs: 300 });
    const long = await enqueueLedger(db.current, 2, { sleepMs: 60_000, isSignalIgnored: true });
    const extra = await enqueueLedger(db.current, 10, { sleepMs: 10 });
    const w = startWorker(db.current, { CONCURRENCY: '4', BUFFER_SIZE: '4', GRACE_MS: '1500' });
    await eventually(async () => {
      const [r] = await rows<{ n: string }>(
        db.current,
        'SELECT count(DISTINCT job_id) AS n FROM ledger',
      );
      expect(r!.n).toBe('4');
    });
    w.kill('SIGTERM');
    const { code } = await w.exited;
    expect(code).toBe(0);
    expect((await countHistory(short)).n).toBe('2');
    const left = await rows<{
      id: string;
      state: string;
      attempt: number;
      errors: { message: string }[];
    }>(db.current, 'SELECT id, state, attempt, errors FROM sluice.job ORDER BY id');
    expect(left.filter((r) => r.state !== 'pending')).toEqual([]);
    const longRows = left.filter((r) => long.includes(r.id));
    expect(longRows.map((r) => [r.attempt, r.errors[0]?.message])).toEqual([
      [1, 'aborted: worker shut down'],
      [1, 'aborted: worker shut down'],
    ]);
    // Buffered jobs went back without using an attempt, and none started after the signal.
    const extraRows = left.filter((r) => extra.includes(r.id));
    expect(extraRows).toHaveLength(10);
    expect(extraRows.every((r) => r.attempt === 0)).toBe(true);
    expect(await rows(db.current, 'SELECT * FROM sluice.worker')).toEqual([]);
  });

  it('pg_terminate_backend of the LISTEN connection: it re-subscribes and jobs start promptly', async () => {
    await reset();
    const w = startWorker(db.current, { POLL_INTERVAL_MS: '60000', LIVENESS_INTERVAL_MS: '500' });
    await w.waitFor((e) => e.event === 'ready');
    const listeners = async () =>
      rows<{ pid: number }>(
        db.current,
        `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND (query LIKE 'LISTEN%' OR query LIKE 'NOTIFY%')`,
      );
    await eventually(async () => expect((await listeners()).length).toBeGreaterThan(0));
    await eventually(async () =>
      expect((await rows(db.current, 'SELECT * FROM sluice.worker_waiting')).length).toBe(1),
    );
    const before = (await listeners()).map((r) => r.pid);
    await db.current.pool.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [
      before,
    ]);
    await eventually(async () => {
      const now = (await listeners()).map((r) => r.pid);
      expect(now.length).toBeGreaterThan(0);
      expect(now.some((p) => before.includes(p))).toBe(false);
    });
    // Let the re-LISTEN settle, then a committed job must start long before the 60 s poll.
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    const { id } = await enqueue(ledgerTask(), {}, { db: db.current.pool });
    await w.waitFor((e) => e.event === 'started' && e.id === id, 5_000);
    expect(Date.now() - t0).toBeLessThan(3_000);
    await stopAll([w]);
  });
});
