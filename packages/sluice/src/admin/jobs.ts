// Jobs for operators: the newest across every table, and running a pending one now.
import { toJobInfo, type JobInfo } from '../client/job-status.js';
import { jobList, jobRetry } from '../queries/admin.js';
import type { Target } from '../core/target.js';
import type { JobState } from '../core/types.js';

/**
 * Newest jobs first from `sluice.all_jobs` (pending, running, finished and dead), optionally of
 * one queue and/or state. Default limit 50.
 * @example const dead = await listJobs({ db: pool, queue: 'mail', state: 'dead', limit: 10 });
 */
export async function listJobs(
  options: Target & { queue?: string; state?: JobState; limit?: number },
): Promise<JobInfo[]> {
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
