// Reading one job wherever it lives: sluice.job, sluice.job_history or sluice.dead_letter.
import type { Executor } from '../core/db.js';
import { inSchema } from '../core/schema-sql.js';
import type { AllJobsView, Selected } from '../core/types.js';

/** A row of `sluice.all_jobs`. */
export type JobRow = Selected<AllJobsView>;

export async function jobGet(db: Executor, schema: string, id: string) {
  const { rows } = await db.query<JobRow>(
    inSchema(`SELECT * FROM sluice.all_jobs WHERE id = $1 LIMIT 1`, schema),
    [id],
  );
  return rows[0];
}
