// A claimed job waiting in a worker's local buffer is not yet started: readers (getJob, all_jobs,
// queue_stats) show it as pending with its attempt not yet counted, and started_at is when the
// handler really started, by the database clock.
import { describe, expect, it } from 'vitest';
import { getJob } from 'sluice';
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

describe('when a job starts', () => {
  it('buffered jobs read as not started; started_at is the handler start', async () => {
    await createLedger(db.current);
    const ids = await enqueueLedger(db.current, 4, { sleepMs: 1500 });
    const w = startWorker(db.current, { CONCURRENCY: '1', BUFFER_SIZE: '5' });
    const first = await w.waitFor((e) => e.event === 'started');
    const runningId = String(first.id);
    const waiting = ids.filter((id) => id !== runningId);
    // All four are claimed (one running, three buffered).
    await eventually(async () => {
      const [r] = await rows<{ n: string }>(
        db.current,
        `SELECT count(*) AS n FROM sluice.job WHERE state = 'running'`,
      );
      expect(r!.n).toBe('4');
    });
    // The running one gets its start written shortly after it started.
    await eventually(async () => {
      const job = await getJob({ db: db.current.pool, id: runningId });
      expect(job?.state).toBe('running');
      expect(job?.startedAt).not.toBeNull();
    });
    for (const id of waiting) {
      const job = await getJob({ db: db.current.pool, id });
      expect(job).toMatchObject({ state: 'pending', attempt: 0, startedAt: null });
    }
    const [stats] = await rows<{ ready: string; running: string }>(
      db.current,
      `SELECT ready, running FROM sluice.queue_stats WHERE queue = 'default'`,
    );
    expect(stats).toEqual({ ready: '3', running: '1' });

    await eventually(
      async () => {
        const [r] = await rows<{ n: string }>(
          db.current,
          `SELECT count(*) AS n FROM sluice.job_history WHERE id = ANY($1)`,
          [ids],
        );
        expect(r!.n).toBe('4');
      },
      { timeoutMs: 20_000 },
    );
    // History's started_at is when each handler started (the ledger row it wrote first thing),
    // not when the job was claimed: the last one waited ~4.5 s in the buffer.
    const skew = await rows<{ id: string; ms: number }>(
      db.current,
      `SELECT h.id, abs(extract(epoch FROM l.at - h.started_at) * 1000)::float8 AS ms
       FROM sluice.job_history h JOIN ledger l ON l.job_id = h.id WHERE h.id = ANY($1)`,
      [ids],
    );
    expect(skew).toHaveLength(4);
    for (const s of skew) expect(s.ms).toBeLessThan(200);
    await stopAll([w]);
  }, 40_000);

  it('short jobs get started_at from their completion, before finished_at', async () => {
    await createLedger(db.current);
    const ids = await enqueueLedger(db.current, 200);
    const w = startWorker(db.current, { CONCURRENCY: '4', BUFFER_SIZE: '50' });
    await eventually(async () => {
      const [r] = await rows<{ n: string; bad: string }>(
        db.current,
        `SELECT count(*) AS n,
           count(*) FILTER (WHERE started_at IS NULL OR started_at > finished_at) AS bad
         FROM sluice.job_history WHERE id = ANY($1)`,
        [ids],
      );
      expect(r).toEqual({ n: '200', bad: '0' });
    });
    await stopAll([w]);
  });
});
