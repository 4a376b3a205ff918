// Reading one job wherever it lives: sluice.job, sluice.job_history or sluice.dead_letter.
import type { Executor } from '../db.js';
import { inSchema } from '../schema-sql.js';
import type { JobState } from '../types.js';

export interface JobRow {
  id: string;
  queue: string;
  task: string;
  state: JobState;
  payload: unknown;
  priority: number;
  run_at: Date;
  attempt: number;
  max_attempts: number;
  unique_key: string | null;
  group_key: string | null;
  worker_id: string | null;
  progress: unknown;
  errors: unknown[];
  result: unknown;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

export async function jobGet(db: Executor, schema: string, id: string) {
  const { rows } = await db.query<JobRow>(
    inSchema(`SELECT * FROM sluice.all_jobs WHERE id = $1 LIMIT 1`, schema),
    [id],
  );
  return rows[0];
}
