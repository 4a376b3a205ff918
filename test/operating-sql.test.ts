// Every ```sql block of docs/operating-with-sql.md runs against a database seeded
// with jobs in each state; the key ones return the rows an operator expects. Each block runs in
// its own rolled-back transaction, so all of them see the same seed.
import { readFileSync } from 'node:fs';
import type { QueryResult } from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './setup/db.js';

const PAGE = new URL('../docs/operating-with-sql.md', import.meta.url);

function sqlBlocks(): string[] {
  const section = readFileSync(PAGE, 'utf8');
  return [...section.matchAll(/^```sql\n([\s\S]*?)^```$/gm)].map((m) => m[1]!.trim());
}

const blocks = sqlBlocks();
const db = useTestDatabase();

// Job 42 (the page's example id) is a pending mail job backing off after one failed attempt.
// Around it: a ready job, a running job whose lease expired, a running job with a live lease,
// a completed and a cancelled job in history, a recent and an old dead letter, a live worker
// that is leader, and a schedule.
const SEED = `
SELECT sluice.create_queue('mail');
SELECT setval('sluice.job_id_seq', 1000);
INSERT INTO sluice.job (id, queue, task, payload, state, attempt, run_at, errors)
VALUES (42, 'mail', 'send-email', '{}', 'pending', 1, now() + interval '5 minutes',
  '[{"attempt": 1, "name": "Error", "message": "SMTP timeout", "at": "2025-01-31T12:00:00Z"}]');
INSERT INTO sluice.job (id, queue, task, run_at) VALUES (43, 'mail', 'send-email', now() - interval '2 minutes');
INSERT INTO sluice.job (id, queue, task, state, attempt, worker_id, started_at, lease_expires_at)
VALUES (44, 'mail', 'send-email', 'running', 1, 'w-dead', now() - interval '2 minutes', now() - interval '1 minute'),
       (45, 'mail', 'send-email', 'running', 1, 'w-live', now(), now() + interval '30 seconds');
INSERT INTO sluice.job_history (id, queue, task, payload, state, priority, run_at, attempt, max_attempts, created_at)
VALUES (46, 'mail', 'send-email', '{}', 'completed', 0, now(), 1, 25, now()),
       (47, 'mail', 'send-email', '{}', 'cancelled', 0, now(), 0, 25, now());
INSERT INTO sluice.dead_letter (id, queue, task, payload, priority, run_at, attempt, max_attempts, reason, created_at, failed_at)
VALUES (48, 'mail', 'send-email', '{}', 0, now(), 25, 25, 'bounced', now(), now() - interval '10 minutes'),
       (49, 'mail', 'send-email', '{}', 0, now(), 25, 25, 'bounced', now(), now() - interval '3 hours');
INSERT INTO sluice.worker (id, host, pid, queues, concurrency) VALUES ('w-live', 'host-a', 101, '{mail}', 8);
INSERT INTO sluice.leader (name, worker_id, expires_at) VALUES ('maintenance', 'w-live', now() + interval '20 seconds');
INSERT INTO sluice.schedule (name, cron, task, queue, next_run_at)
VALUES ('nightly-report', '0 2 * * *', 'send-report', 'default', now() + interval '1 hour');
`;

beforeAll(async () => {
  await db.current.pool.query(SEED);
});

/** Runs a block in a transaction that is rolled back; returns the last statement's rows. */
async function run(sql: string): Promise<Record<string, unknown>[]> {
  const client = await db.current.pool.connect();
  try {
    await client.query('BEGIN');
    const res = (await client.query(sql)) as QueryResult | QueryResult[];
    return (Array.isArray(res) ? res.at(-1)! : res).rows as Record<string, unknown>[];
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
}

// What the key queries must return, keyed by a fragment that identifies their block.
const expected: [string, (rows: Record<string, unknown>[]) => void][] = [
  ['lease_expires_at < now()', (rows) => expect(rows.map((r) => r.id)).toEqual(['44'])],
  [
    'completed_last_hour',
    (rows) =>
      expect(rows.find((r) => r.queue === 'mail')).toMatchObject({
        ready: '1',
        scheduled: '1',
        running: '2',
        dead: '2',
        completed_last_hour: '1',
      }),
  ],
  [
    'WHERE ready > 0',
    (rows) => {
      expect(rows.map((r) => r.queue)).toEqual(['mail']);
      expect(Number(rows[0]!.oldest_ready_s)).toBeGreaterThanOrEqual(119);
    },
  ],
  [
    'finished_at, result',
    (rows) => expect(rows).toMatchObject([{ id: '42', state: 'pending', attempt: 1 }]),
  ],
  [
    'jsonb_array_elements(j.errors)',
    (rows) =>
      expect(rows).toMatchObject([{ attempt: '1', error: 'Error', message: 'SMTP timeout' }]),
  ],
  ['FROM sluice.dead_letter', (rows) => expect(rows.map((r) => r.id)).toEqual(['48'])],
  [
    "replay_dead_letters(since => now() - interval '1 hour')",
    (rows) => expect(rows).toEqual([{ replay_dead_letters: 1 }]),
  ],
  [
    "replay_dead_letters(queue => 'mail'",
    (rows) => expect(rows).toEqual([{ replay_dead_letters: 1 }]),
  ],
  ["pause_queue('mail')", (rows) => expect(rows).toEqual([{ pause_queue: true }])],
  ["resume_queue('mail')", (rows) => expect(rows).toEqual([{ resume_queue: true }])],
  ['cancel_job(42)', (rows) => expect(rows).toEqual([{ cancel_job: true }])],
  ['retry_job(42)', (rows) => expect(rows).toEqual([{ retry_job: true }])],
  ['FROM sluice.worker', (rows) => expect(rows).toMatchObject([{ id: 'w-live', pid: 101 }])],
  [
    'FROM sluice.leader',
    (rows) => expect(rows).toMatchObject([{ worker_id: 'w-live', is_current: true }]),
  ],
  ['FROM sluice.schedule', (rows) => expect(rows).toMatchObject([{ name: 'nightly-report' }])],
];

describe('README "Operating with SQL"', () => {
  it('has the operator queries', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(expected.length);
    for (const [fragment] of expected) {
      expect(
        blocks.filter((b) => b.includes(fragment)),
        fragment,
      ).toHaveLength(1);
    }
  });

  it.each(blocks.map((b, i) => [i + 1, b] as const))('block %i runs', async (_i, sql) => {
    const rows = await run(sql);
    for (const [fragment, check] of expected) if (sql.includes(fragment)) check(rows);
  });

  it('the side effects are real: a replay moves the dead letter back to pending', async () => {
    const client = await db.current.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(blocks.find((b) => b.includes('replay_dead_letters(since'))!);
      const { rows } = await client.query(
        `SELECT id::text, state, attempt FROM sluice.all_jobs WHERE id IN (48, 49) ORDER BY id`,
      );
      expect(rows).toEqual([
        { id: '48', state: 'pending', attempt: 0 },
        { id: '49', state: 'dead', attempt: 25 },
      ]);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });
});
