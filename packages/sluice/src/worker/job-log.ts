// ctx.log: lines buffered per attempt in memory and written in one statement before the
// attempt's outcome, so a job that never logs costs nothing and one that does costs one insert.
import { z } from 'zod';
import { InvalidOptionsError } from '../core/errors.js';
import { jobLogInsertMany } from '../queries/job-log.js';
import type { ClaimedJob } from '../queries/job-worker.js';
import type { JobTransactionHost } from './job-transaction.js';

/** Lines kept per attempt; later ones are counted into one "N lines dropped" line. */
export const JOB_LOG_MAX_LINES = 100;
/** Longer messages are truncated to this many characters. */
export const JOB_LOG_MAX_MESSAGE = 2048;
/** Fields whose JSON is longer are replaced by `{ truncated: true }`. */
export const JOB_LOG_MAX_FIELDS = 4096;

export interface JobLogLine {
  level: string;
  message: string;
  fieldsJson: string | null;
}

const lineSchema = z.object({
  message: z.string(),
  fields: z.record(z.string(), z.unknown()).optional(),
});

/** One attempt's buffered lines. */
export class JobLogBuffer {
  readonly lines: JobLogLine[] = [];
  dropped = 0;

  add(message: unknown, fields?: unknown, level = 'info'): void {
    const parsed = lineSchema.safeParse({ message, fields });
    if (!parsed.success) {
      throw new InvalidOptionsError(
        'ctx.log',
        parsed.error.issues.map((i) => i.message).join('; '),
      );
    }
    if (this.lines.length >= JOB_LOG_MAX_LINES) {
      this.dropped++;
      return;
    }
    let fieldsJson = parsed.data.fields ? JSON.stringify(parsed.data.fields) : null;
    if (fieldsJson && fieldsJson.length > JOB_LOG_MAX_FIELDS) fieldsJson = '{"truncated":true}';
    this.lines.push({
      level,
      message: parsed.data.message.slice(0, JOB_LOG_MAX_MESSAGE),
      fieldsJson,
    });
  }

  /** Takes the lines to write, with the dropped count as a last line. */
  take(): JobLogLine[] {
    const out = this.lines.splice(0);
    if (this.dropped > 0) {
      out.push({ level: 'warn', message: `${this.dropped} lines dropped`, fieldsJson: null });
      this.dropped = 0;
    }
    return out;
  }
}

/** Writes an attempt's lines in one statement. */
export async function saveJobLog(
  host: Pick<JobTransactionHost, 'db' | 'schema'>,
  job: ClaimedJob,
  lines: JobLogLine[],
) {
  await jobLogInsertMany(host.db, host.schema, {
    id: job.id,
    attempt: job.attempt,
    levels: lines.map((l) => l.level),
    messages: lines.map((l) => l.message),
    fieldsJson: lines.map((l) => l.fieldsJson),
  });
}
