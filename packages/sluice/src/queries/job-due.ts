// When the next delayed job of a queue is due, so an idle worker can start it on time instead of
// at its next poll.
import type { Executor } from '../core/db.js';
import { inSchema } from '../core/schema-sql.js';

// The claim index orders pending rows by (priority DESC, run_at, id), so min(run_at) alone would
// read every pending entry of the queue (a million scheduled reminders: a million entries). This
// walks the distinct priorities instead (a loose index scan, two probes each, at most 64
// priorities) and takes the first future run_at within each: a few index probes whatever the
// backlog. Times come from the database clock.
const JOB_NEXT_DUE = `
WITH RECURSIVE p(priority, depth) AS (
  (SELECT n.priority, 1 FROM sluice.job n WHERE n.queue = $1 AND n.state = 'pending'
   ORDER BY n.priority DESC, n.run_at, n.id LIMIT 1)
  UNION ALL
  SELECT (SELECT n.priority FROM sluice.job n
      WHERE n.queue = $1 AND n.state = 'pending' AND n.priority < p.priority
      ORDER BY n.priority DESC, n.run_at, n.id LIMIT 1), p.depth + 1
  FROM p WHERE p.priority IS NOT NULL AND p.depth < 64
)
SELECT (extract(epoch FROM min(f.run_at) - now()) * 1000)::float8 AS due_in_ms
FROM p CROSS JOIN LATERAL (
  SELECT n.run_at FROM sluice.job n
  WHERE n.queue = $1 AND n.state = 'pending' AND n.priority = p.priority AND n.run_at > now()
  ORDER BY n.priority DESC, n.run_at, n.id LIMIT 1
) f
WHERE p.priority IS NOT NULL`;

/** Milliseconds until the queue's next delayed pending job is due, or null if it has none. */
export async function jobNextDue(db: Executor, schema: string, queue: string) {
  const { rows } = await db.query<{ due_in_ms: number | null }>(
    inSchema(JOB_NEXT_DUE, schema),
    [queue],
    `${schema}_job_next_due`,
  );
  return rows[0]?.due_in_ms ?? null;
}
