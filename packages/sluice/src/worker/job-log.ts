// ctx.log: lines buffered per attempt in memory and written in one statement a second after the
// first unsaved line, and before the attempt's outcome: a job that never logs costs nothing, a
// chatty one one insert a second, and a crash loses at most the last second of lines.
import { z } from 'zod';
import { InvalidOptionsError } from '../core/errors.js';
import { jobLogInsertMany } from '../queries/job-log.js';
import type { ClaimedJob } from '../queries/job-claim.js';
import type { JobTransactionHost } from './job-transaction.js';

/** Lines kept per attempt; later ones are counted into one "N lines dropped" line. */
export const JOB_LOG_MAX_LINES = 100;
/** Longer messages are truncated to this many characters. */
export const JOB_LOG_MAX_MESSAGE = 2048;
/** Fields whose JSON is longer are replaced by `{ truncated: true }`. */
export const JOB_LOG_MAX_FIELDS = 4096;
/** How long a line waits in memory for others to share its insert. */
export const JOB_LOG_FLUSH_MS = 1000;

export interface JobLogLine {
  level: string;
  message: string;
  fieldsJson: string | null;
  /** When it was logged (this process's clock; stored as an age against the database's). */
  atMs: number;
}

/** Writes lines numbered from `firstSeq`; must not reject (the caller logs its failures). */
export type SaveJobLog = (lines: JobLogLine[], firstSeq: number) => Promise<void>;

const lineSchema = z.object({
  message: z.string(),
  fields: z.record(z.string(), z.unknown()).optional(),
});

/** One attempt's lines: buffered, then written in order, one write at a time. */
export class JobLogBuffer {
  private readonly lines: JobLogLine[] = [];
  private kept = 0;
  private dropped = 0;
  private nextSeq = 1;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly save: SaveJobLog) {}

  add(message: unknown, fields?: unknown, level = 'info'): void {
    const parsed = lineSchema.safeParse({ message, fields });
    if (!parsed.success) {
      throw new InvalidOptionsError(
        'ctx.log',
        parsed.error.issues.map((i) => i.message).join('; '),
      );
    }
    if (this.kept >= JOB_LOG_MAX_LINES) {
      this.dropped++;
      return;
    }
    this.kept++;
    let fieldsJson = parsed.data.fields ? JSON.stringify(parsed.data.fields) : null;
    if (fieldsJson && fieldsJson.length > JOB_LOG_MAX_FIELDS) fieldsJson = '{"truncated":true}';
    this.lines.push({
      level,
      message: parsed.data.message.slice(0, JOB_LOG_MAX_MESSAGE),
      fieldsJson,
      atMs: Date.now(),
    });
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.write();
      }, JOB_LOG_FLUSH_MS);
      this.timer.unref();
    }
  }

  /** Writes what is left, the dropped count as a last line; resolves once all is written. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.dropped > 0) {
      this.lines.push({
        level: 'warn',
        message: `${this.dropped} lines dropped`,
        fieldsJson: null,
        atMs: Date.now(),
      });
      this.dropped = 0;
    }
    return this.write();
  }

  private write(): Promise<void> {
    if (this.lines.length === 0) return this.writing;
    const lines = this.lines.splice(0);
    const firstSeq = this.nextSeq;
    this.nextSeq += lines.length;
    this.writing = this.writing.then(() => this.save(lines, firstSeq));
    return this.writing;
  }
}

/** Writes lines of an attempt in one statement. */
export async function saveJobLog(
  host: Pick<JobTransactionHost, 'db' | 'schema'>,
  job: ClaimedJob,
  lines: JobLogLine[],
  firstSeq: number,
) {
  const now = Date.now();
  await jobLogInsertMany(host.db, host.schema, {
    id: job.id,
    attempt: job.attempt,
    firstSeq,
    levels: lines.map((l) => l.level),
    messages: lines.map((l) => l.message),
    fieldsJson: lines.map((l) => l.fieldsJson),
    agesMs: lines.map((l) => now - l.atMs),
  });
}
