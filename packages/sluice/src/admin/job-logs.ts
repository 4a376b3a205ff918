// A job's ctx.log lines for operators (dashboard, `sluice jobs show`).
import { jobId } from '../client/job-status.js';
import { resolveTarget, type Target } from '../core/target.js';
import { jobLogList, type JobLogRow } from '../queries/job-log.js';

/** One ctx.log line: the attempt that wrote it, the database time it was stored, its text. */
export type JobLogLine = JobLogRow;

/**
 * A job's log lines, oldest attempt first, in the order written; found whether the job is
 * waiting, running, in history or a dead letter (until retention prunes them). Default limit 500.
 * @example const lines = await getJobLogs({ db: pool, id: '42' });
 */
export async function getJobLogs(
  options: Target & { id: string | number | bigint; limit?: number },
): Promise<JobLogLine[]> {
  const id = jobId(options.id);
  const { exec, schema } = resolveTarget(options);
  return jobLogList(exec, schema, { id, limit: options.limit ?? 500 });
}
