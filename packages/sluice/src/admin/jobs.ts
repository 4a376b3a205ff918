// Jobs for operators: the newest across every table, and running a pending one now.
import { toJobInfo, type JobInfo } from '../client/job-status.js';
import { jobList, jobRetry } from '../queries/admin.js';
import type { Target } from '../core/target.js';
import { InvalidOptionsError } from '../core/errors.js';
import type { JobState } from '../core/types.js';

/** Filters of {@link listJobs}; all optional, combined with AND. */
export interface ListJobsFilter {
  queue?: string;
  state?: JobState;
  task?: string;
  /** One job id (a string of digits). */
  id?: string;
  uniqueKey?: string;
  groupKey?: string;
  /** Created at or after. */
  createdAfter?: Date;
  /** Created before. */
  createdBefore?: Date;
  /** Keyset pagination: only jobs with a smaller id (pass the last id of the previous page). */
  beforeId?: string;
}

/**
 * Newest jobs first from `sluice.all_jobs` (pending, running, finished and dead), filtered by
 * queue, state, task, id, unique key, group key and creation time; `beforeId` pages. Default
 * limit 50.
 * @example const dead = await listJobs({ db: pool, queue: 'mail', state: 'dead', limit: 10 });
 * @example const next = await listJobs({ db: pool, queue: 'mail', beforeId: page.at(-1)!.id });
 */
export async function listJobs(
  options: Target & ListJobsFilter & { limit?: number },
): Promise<JobInfo[]> {
  for (const key of ['id', 'beforeId'] as const) {
    const v = options[key];
    if (v !== undefined && !/^\d{1,19}$/.test(v)) {
      throw new InvalidOptionsError(key, `${JSON.stringify(v)} is not a job id`);
    }
  }
  const rows = await jobList({ ...options, limit: options.limit ?? 50 });
  return rows.map(toJobInfo);
}

/**
 * Runs a pending job now (`sluice.retry_job`): its run_at becomes now. False when the job is not
 * pending (running, finished, or unknown).
 * @example await retryJob({ db: pool, id: '42' });
 */
export async function retryJob(options: Target & { id: string }): Promise<boolean> {
  return jobRetry(options);
}
