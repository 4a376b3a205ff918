// The worker's heartbeat: keeps its sluice.worker row and the leases of the jobs it holds alive
// (one statement for all of them, by lease token), and picks up cancellations requested for them.
import { hostname } from 'node:os';
import type { Executor } from '../core/db.js';
import type { Logger } from '../core/logger.js';
import { jobExtendLeases } from '../queries/job-lease.js';
import { workerHeartbeat, workerRegister, workerUnregister } from '../queries/worker.js';

export interface HeartbeatConfig {
  db: Executor;
  schema: string;
  workerId: string;
  queues: string[];
  concurrency: number;
  leaseMs: number;
  intervalMs: number;
  logger: Logger;
  /** The lease tokens this process holds now: running, buffered, or finished but not yet written. */
  heldJobs: () => { id: string; attempt: number }[];
  onCancelRequested: (jobId: string) => void;
  onRegisteredAgain: () => void;
}

export class Heartbeat {
  private timer: NodeJS.Timeout | undefined;
  private isBeating = false;
  private isStopped = false;

  constructor(private readonly c: HeartbeatConfig) {}

  /** Writes this worker's row (random id per boot). */
  async register(): Promise<void> {
    await workerRegister(this.c.db, this.c.schema, {
      id: this.c.workerId,
      host: hostname(),
      pid: process.pid,
      queues: this.c.queues,
      concurrency: this.c.concurrency,
    });
  }

  start(): void {
    this.timer = setInterval(() => void this.beat(), this.c.intervalMs);
  }

  /** Renews the row and the leases now; never throws (a failed beat is retried next time). */
  async beat(): Promise<void> {
    if (this.isBeating || this.isStopped) return;
    this.isBeating = true;
    try {
      if (!(await workerHeartbeat(this.c.db, this.c.schema, this.c.workerId))) {
        // Our row was removed as stale (e.g. the process was paused): register again.
        await this.register();
        this.c.onRegisteredAgain();
      }
      const jobs = this.c.heldJobs();
      if (jobs.length === 0) return;
      const held = await jobExtendLeases(this.c.db, this.c.schema, {
        queues: this.c.queues,
        workerId: this.c.workerId,
        leaseMs: this.c.leaseMs,
        jobs,
      });
      for (const row of held) if (row.is_cancel_requested) this.c.onCancelRequested(row.id);
    } catch (err) {
      this.c.logger.warn({ err }, 'heartbeat failed; will retry');
    } finally {
      this.isBeating = false;
    }
  }

  /** Stops beating and waits for a beat in progress. */
  async stop(): Promise<void> {
    this.isStopped = true;
    clearInterval(this.timer);
    while (this.isBeating) await new Promise((r) => setTimeout(r, 5));
  }

  /** Removes the worker's row and its waiting marks. */
  async unregister(): Promise<void> {
    try {
      await workerUnregister(this.c.db, this.c.schema, this.c.workerId);
    } catch (err) {
      this.c.logger.warn({ err }, 'unregister failed');
    }
  }
}
