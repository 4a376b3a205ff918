// When the next delayed job of a queue is due, so an idle worker can start it on time instead of
// at its next poll.
import type { Executor } from '../core/db.js';
import { inSchema } from '../core/schema-sql.js';

// The claim index orders pending rows by (priority DESC, run_at, id), so min(run_at) alone would
// read every pending entry of the queue (a million scheduled reminders: a million entries). This
// walks the distinct priorities instead (a loose index scan, two probes each, at most 64
// priorities) and takes the first future run_at within each: a few index probes whatever the
// backlog. Each priority's first entry also says whether a job is due already: one committed
// while the worker's empty claim ran and before its waiting mark, so no NOTIFY was sent for it.
// Times come from the database clock.
const JOB_NEXT_DUE = `
WITH RECURSIVE p(priority, run_at, depth) AS (
  (SELECT n.priority, n.run_at, 1 FROM sluice.job n WHERE n.queue = $1 AND n.state = 'pending'
   ORDER BY n.priority DESC, n.run_at, n.id LIMIT 1)
  UNION ALL
  SELECT q.priority, q.run_at, p.depth + 1
  FROM p CROSS JOIN LATERAL (
    SELECT n.priority, n.run_at FROM sluice.job n
    WHERE n.queue = $1 AND n.state = 'pending' AND n.priority < p.priority
    ORDER BY n.priority DESC, n.run_at, n.id LIMIT 1
  ) q
  WHERE p.depth < 64
)
SELECT coalesce(bool_or(p.run_at <= now()), false) AS is_due_now,
  (extract(epoch FROM min(f.run_at) - now()) * 1000)::float8 AS due_in_ms
FROM p LEFT JOIN LATERAL (
  SELECT n.run_at FROM sluice.job n
  WHERE n.queue = $1 AND n.state = 'pending' AND n.priority = p.priority AND n.run_at > now()
  ORDER BY n.priority DESC, n.run_at, n.id LIMIT 1
) f ON true`;

/**
 * Whether the queue has a pending job due now, and milliseconds until its next delayed one (null
 * if it has none).
 */
export async function jobNextDue(db: Executor, schema: string, queue: string) {
  const { rows } = await db.query<{ is_due_now: boolean; due_in_ms: number | null }>(
    inSchema(JOB_NEXT_DUE, schema),
    [queue],
    `${schema}_job_next_due`,
  );
  return { isDueNow: rows[0]?.is_due_now ?? false, dueInMs: rows[0]?.due_in_ms ?? null };
}
