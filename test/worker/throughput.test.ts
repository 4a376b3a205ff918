import { describe, expect, it } from 'vitest';
import { createQueue } from 'sluice/admin';
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

describe('many worker processes', () => {
  it('4 processes × concurrency 8 × 20,000 jobs over 4 queues: every job once, one attempt each', async () => {
    await createLedger(db.current);
    const queues = ['q1', 'q2', 'q3', 'q4'];
    for (const name of queues) await createQueue({ db: db.current.pool, name });
    for (const q of queues) await enqueueLedger(db.current, 5000, {}, q);
    const procs = Array.from({ length: 4 }, () =>
      startWorker(db.current, { QUEUES: queues.join(','), CONCURRENCY: '8' }),
    );
    await eventually(
      async () => {
        const [r] = await rows<{ n: string }>(
          db.current,
          'SELECT count(*) AS n FROM sluice.job_history',
        );
        expect(r!.n).toBe('20000');
      },
      { timeoutMs: 120_000, intervalMs: 250 },
    );
    await stopAll(procs);
    const [ledger] = await rows<{
      total: string;
      distinct_jobs: string;
      max_attempt: number;
      dup: string;
    }>(
      db.current,
      `SELECT count(*) AS total, count(DISTINCT job_id) AS distinct_jobs, max(attempt) AS max_attempt,
         (SELECT count(*) FROM (SELECT job_id FROM ledger GROUP BY job_id HAVING count(*) > 1) d) AS dup
       FROM ledger`,
    );
    expect(ledger).toEqual({ total: '20000', distinct_jobs: '20000', max_attempt: 1, dup: '0' });
    const [hist] = await rows<{ n: string; d: string; w: string }>(
      db.current,
      `SELECT count(*) AS n, count(DISTINCT id) AS d, count(DISTINCT worker_id) AS w FROM sluice.job_history WHERE state = 'completed'`,
    );
    expect(hist).toMatchObject({ n: '20000', d: '20000' });
    expect(Number(hist!.w)).toBeGreaterThan(1);
    expect(await rows(db.current, 'SELECT * FROM sluice.job')).toEqual([]);
    expect(procs.map((p) => p.isRunning())).toEqual([false, false, false, false]);
  });

  it('claims name the queue, so the planner touches one partition', async () => {
    await createQueue({ db: db.current.pool, name: 'pruned' });
    const [plan] = await rows<{ 'QUERY PLAN': unknown }>(
      db.current,
      `EXPLAIN (FORMAT JSON)
       SELECT j.id FROM sluice.job j
       WHERE j.queue = 'pruned' AND j.state = 'pending' AND j.run_at <= now()
       ORDER BY j.priority DESC, j.run_at, j.id LIMIT 10 FOR UPDATE OF j SKIP LOCKED`,
    );
    const text = JSON.stringify(plan!['QUERY PLAN']);
    const relations = [...text.matchAll(/"Relation Name":"([^"]+)"/g)].map((m) => m[1]);
    expect(relations.length).toBeGreaterThan(0);
    expect(new Set(relations)).toEqual(
      new Set([relations.find((r) => r!.startsWith('job_q_pruned'))]),
    );
  });
});
