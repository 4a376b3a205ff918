// Leases are kept alive only for jobs a process really holds (by lease token), so a row left
// `running` under a live worker id — a completion lost in a server crash — is rescued within one
// lease, and a clean shutdown leaves nothing of its own `running`.
import { describe, expect, it } from 'vitest';
import { eventually } from '@sluice/testkit';
import { useTestDatabase } from '../setup/db.js';
import {
  assertNoWorkerOutlivesTest,
  createLedger,
  enqueueLedger,
  rows,
  startWorker,
  stopAll,
} from './harness.js';

const db = useTestDatabase();
assertNoWorkerOutlivesTest();

interface JobRow {
  state: string;
  worker_id: string | null;
  attempt: number;
  is_lease_future: boolean | null;
  errors: { name: string; message: string }[];
}

async function reset() {
  await createLedger(db.current);
  await db.current.pool.query(
    'TRUNCATE ledger, sluice.job, sluice.job_history, sluice.dead_letter, sluice.worker, sluice.worker_waiting, sluice.leader',
  );
  await db.current.pool.query(`SELECT sluice.resume_queue('default')`);
}

async function jobRow(id: string) {
  const [r] = await rows<JobRow>(
    db.current,
    `SELECT state, worker_id, attempt, lease_expires_at > now() AS is_lease_future, errors
     FROM sluice.job WHERE id = $1`,
    [id],
  );
  return r;
}

/** Makes a pending job look claimed by `workerId` with a lease of `leaseMs`, as a lost completion leaves it. */
async function orphan(id: string, workerId: string, leaseMs: number) {
  await db.current.pool.query(
    `UPDATE sluice.job SET state = 'running', attempt = attempt + 1, worker_id = $2,
       started_at = now(), lease_expires_at = now() + $3 * interval '1 millisecond'
     WHERE id = $1`,
    [id, workerId, leaseMs],
  );
}

const FAST = { POLL_INTERVAL_MS: '200', RESCUE_BACKOFF_MS: '10' };

describe('leases by token', () => {
  it('a row running under a live worker id that the worker does not hold is not renewed and is rescued within one lease', async () => {
    await reset();
    // Paused: the worker must not claim the job itself before we plant it.
    await db.current.pool.query(`SELECT sluice.pause_queue('default')`);
    const [id] = await enqueueLedger(db.current, 1);
    const w = startWorker(db.current, { ...FAST, LEASE_MS: '3000' });
    const ready = await w.waitFor((e) => e.event === 'ready');
    await orphan(id!, String(ready.workerId), 1000);
    const plantedAt = Date.now();
    // Heartbeats (every second) must not extend it: within one lease it is back to pending.
    await eventually(
      async () => {
        const r = await jobRow(id!);
        expect(r?.state).toBe('pending');
      },
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    expect(Date.now() - plantedAt).toBeLessThan(1000 + 3000 + 1000);
    const r = await jobRow(id!);
    expect(r?.worker_id).toBeNull();
    expect(r?.errors.at(-1)?.name).toBe('LeaseExpired');
    // Once resumed, the worker runs it for real (attempt 2) and completes it.
    await db.current.pool.query(`SELECT sluice.resume_queue('default')`);
    await w.waitFor((e) => e.event === 'job:completed' && e.id === id, 10_000);
    await stopAll([w]);
  });

  it('a clean shutdown leaves no row of its own running, even one it never held', async () => {
    await reset();
    await db.current.pool.query(`SELECT sluice.pause_queue('default')`);
    const [id] = await enqueueLedger(db.current, 1);
    const w = startWorker(db.current, { ...FAST, LEASE_MS: '60000' });
    const ready = await w.waitFor((e) => e.event === 'ready');
    await orphan(id!, String(ready.workerId), 60_000);
    w.kill('SIGTERM');
    expect((await w.exited).code).toBe(0);
    const r = await jobRow(id!);
    expect(r?.state).toBe('pending');
    expect(r?.errors.at(-1)?.message).toMatch(/worker gone/);
    const [running] = await rows<{ n: string }>(
      db.current,
      `SELECT count(*) AS n FROM sluice.job WHERE state = 'running'`,
    );
    expect(running!.n).toBe('0');
  });

  it('rows of a worker removed from sluice.worker are rescued at once, not after their lease', async () => {
    await reset();
    await db.current.pool.query(`SELECT sluice.pause_queue('default')`);
    const [id] = await enqueueLedger(db.current, 1);
    const w = startWorker(db.current, { ...FAST, LEASE_MS: '60000', RESCUE_INTERVAL_MS: '200' });
    await w.waitFor((e) => e.event === 'ready');
    // A worker that unregistered (or was removed as stale) but left a row behind, lease far ahead.
    await orphan(id!, 'gone-worker', 600_000);
    await eventually(async () => expect((await jobRow(id!))?.state).toBe('pending'), {
      timeoutMs: 5_000,
      intervalMs: 100,
    });
    await stopAll([w]);
  });

  it('jobs a worker really holds keep their leases while their handlers run past the lease', async () => {
    await reset();
    const [id] = await enqueueLedger(db.current, 1, { sleepMs: 3500 });
    const w = startWorker(db.current, { ...FAST, LEASE_MS: '1000', RESCUE_INTERVAL_MS: '200' });
    await w.waitFor((e) => e.event === 'job:completed' && e.id === id, 15_000);
    const [n] = await rows<{ n: string }>(
      db.current,
      `SELECT count(*) AS n FROM ledger WHERE job_id = $1`,
      [id],
    );
    expect(n!.n).toBe('1');
    await stopAll([w]);
  });
});
