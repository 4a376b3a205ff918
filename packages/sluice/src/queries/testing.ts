// Statements of sluice/testing: what a test enqueued, and making scheduled jobs due at once.
import type { Executor } from '../core/db.js';
import { inSchema } from '../core/schema-sql.js';
import type { JobTable, Selected } from '../core/types.js';

/** An unfinished job as the testing helpers read it. */
export type UnfinishedJobRow = Pick<
  Selected<JobTable>,
  | 'id'
  | 'queue'
  | 'task'
  | 'payload'
  | 'state'
  | 'run_at'
  | 'attempt'
  | 'priority'
  | 'unique_key'
  | 'group_key'
>;

// Containment (@>) is the partial match: every key given must be there with that value, nested
// objects match partially too, and an array matches if it holds the elements given.
const JOB_LIST_UNFINISHED = `
SELECT id::text AS id, queue, task, payload, state, run_at, attempt, priority, unique_key, group_key
FROM sluice.job
WHERE task = $1 AND ($2::text IS NULL OR queue = $2) AND ($3::jsonb IS NULL OR payload @> $3::jsonb)
ORDER BY id`;

/** Unfinished jobs of a task (optionally one queue) whose payload contains `payloadJson`. */
export async function jobListUnfinished(
  db: Executor,
  schema: string,
  p: { task: string; queue: string | null; payloadJson: string | null },
) {
  const { rows } = await db.query<UnfinishedJobRow>(inSchema(JOB_LIST_UNFINISHED, schema), [
    p.task,
    p.queue,
    p.payloadJson,
  ]);
  return rows;
}

/** Makes every scheduled (future) pending job of the queues due now; returns how many. */
export async function jobMakeDueNow(db: Executor, schema: string, queues: string[]) {
  const { rowCount } = await db.query(
    inSchema(
      `UPDATE sluice.job SET run_at = now()
       WHERE queue = ANY($1) AND state = 'pending' AND run_at > now()`,
      schema,
    ),
    [queues],
  );
  return rowCount;
}
