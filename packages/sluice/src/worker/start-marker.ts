// Writes started_at for handlers that are still running a moment after they started. A claim
// leaves started_at NULL (the job may wait in the local buffer first), so readers see a claimed
// job as not yet started; most jobs finish within the delay and their finishing statement fills
// started_at instead, so a drain of short jobs writes no start marks at all.
import type { Executor } from '../core/db.js';
import type { Logger } from '../core/logger.js';
import { jobMarkStarted } from '../queries/job-lease.js';
import type { RunningJob } from './running-job.js';

export interface StartMarkerConfig {
  db: Executor;
  schema: string;
  workerId: string;
  queues: string[];
  logger: Logger;
  /** A handler running this long gets its start written (default 50 ms). */
  delayMs?: number;
  running: () => Iterable<RunningJob>;
}

export class StartMarker {
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private readonly delayMs: number;

  constructor(private readonly c: StartMarkerConfig) {
    this.delayMs = c.delayMs ?? 50;
  }

  start(): void {
    this.timer ??= setInterval(() => void this.mark(), this.delayMs);
  }

  /** Writes the starts due now; one write at a time, never throws. */
  mark(): Promise<void> {
    if (this.writing) return this.writing;
    const now = Date.now();
    const jobs: { id: string; attempt: number; ranMs: number }[] = [];
    for (const r of this.c.running()) {
      if (r.isStartMarked || now - r.startedAt < this.delayMs) continue;
      r.isStartMarked = true;
      jobs.push({ id: r.job.id, attempt: r.job.attempt, ranMs: now - r.startedAt });
    }
    if (jobs.length === 0) return Promise.resolve();
    this.writing = jobMarkStarted(this.c.db, this.c.schema, {
      queues: this.c.queues,
      workerId: this.c.workerId,
      jobs,
    })
      .catch((err: unknown) => {
        // Advisory: the finishing statement still fills started_at if this write is lost.
        this.c.logger.warn({ err, count: jobs.length }, 'writing job starts failed');
      })
      .finally(() => (this.writing = undefined));
    return this.writing;
  }

  /** Stops the timer and waits for a write in progress. Safe before start and twice. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.writing;
  }
}
