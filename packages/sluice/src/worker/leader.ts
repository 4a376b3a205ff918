// Leader election by lease row (sluice.leader): the holder renews every leaderLeaseMs/3; when it stops
// renewing (crash, pause, lost connection) another worker takes over once the lease expires.
// A worker that fails to renew steps down at once and stops its services, so two leaders never
// act on purpose at the same time; the services are written to be safe if they briefly do.
import { jobsExpire } from '../queries/flow.js';
import { queueNames } from '../queries/queue.js';
import type { Executor } from '../core/db.js';
import type { Logger } from '../core/logger.js';
import { jobRescueExpired } from '../queries/job-lease.js';
import {
  eventListenerDeleteStale,
  leaderAttemptElect,
  leaderResign,
  workerDeleteStale,
} from '../queries/worker.js';

/** A long-running part that runs only on the leader (cron scheduler, maintenance). */
export interface LeaderService {
  start(): void | Promise<void>;
  stop(): void | Promise<void>;
}

export interface LeaderConfig {
  db: Executor;
  schema: string;
  workerId: string;
  logger: Logger;
  /** How long the leader's row is its own without renewal (renewed every third of it). */
  leaderLeaseMs: number;
  /** A worker whose heartbeat is older than this is removed, and its jobs rescued. */
  staleWorkerMs: number;
  rescueIntervalMs: number;
  rescueBackoffMs: number;
  services: LeaderService[];
  isEligible: boolean;
  /** Leadership gained (true) or lost (false). */
  onLeadership?(isLeader: boolean): void;
  onRescued(
    rows: { id: string; queue: string; task: string; attempt: number; outcome: string }[],
  ): void;
}

export class Leader {
  private isLeader = false;
  private electTimer: NodeJS.Timeout | undefined;
  private rescueTimer: NodeJS.Timeout | undefined;
  private rescuePasses = 0;
  private isStopped = false;

  constructor(private readonly c: LeaderConfig) {}

  start(): void {
    if (!this.c.isEligible) return;
    const every = Math.max(50, Math.floor(this.c.leaderLeaseMs / 3));
    this.electTimer = setInterval(() => void this.elect(), every);
    void this.elect();
  }

  private async elect(): Promise<void> {
    if (this.isStopped) return;
    let isElected = false;
    try {
      isElected = await leaderAttemptElect(this.c.db, this.c.schema, {
        name: 'maintenance',
        workerId: this.c.workerId,
        ttlMs: this.c.leaderLeaseMs,
      });
    } catch (err) {
      this.c.logger.warn({ err }, 'leader election failed');
    }
    if (isElected && !this.isLeader && !this.isStopped) await this.becomeLeader();
    else if (!isElected && this.isLeader) await this.stepDown();
  }

  private async becomeLeader(): Promise<void> {
    this.isLeader = true;
    this.c.logger.info({}, 'elected leader');
    this.c.onLeadership?.(true);
    this.rescueTimer = setInterval(() => void this.rescue(), this.c.rescueIntervalMs);
    void this.rescue({ isWorkerGone: true });
    for (const s of this.c.services) {
      try {
        await s.start();
      } catch (err) {
        this.c.logger.error({ err }, 'leader service failed to start');
      }
    }
  }

  private async stepDown(): Promise<void> {
    this.isLeader = false;
    this.c.onLeadership?.(false);
    clearInterval(this.rescueTimer);
    for (const s of this.c.services) {
      try {
        await s.stop();
      } catch (err) {
        this.c.logger.error({ err }, 'leader service failed to stop');
      }
    }
  }

  /**
   * Forgets workers that stopped heartbeating and returns jobs whose lease expired or whose worker
   * is gone to pending (or dead letters). Safe on any worker, at any time (SKIP LOCKED).
   */
  async rescue(options: { isWorkerGone?: boolean } = {}): Promise<void> {
    try {
      // Stale workers first: their jobs are then rescued in this same pass, not after their leases.
      const stale = await workerDeleteStale(this.c.db, this.c.schema, this.c.staleWorkerMs);
      // Also every tenth pass: a worker row removed by someone else leaves no other trace.
      this.rescuePasses++;
      const isWorkerGoneChecked =
        options.isWorkerGone === true || stale.length > 0 || this.rescuePasses % 10 === 0;
      // Queue by queue: each locking statement stays on one partition (and, on a Postgres
      // distributed by queue, on one shard).
      for (const queue of await queueNames(this.c.db, this.c.schema)) {
        for (;;) {
          const rows = await jobRescueExpired(this.c.db, this.c.schema, {
            queue,
            limit: 1000,
            backoffMs: this.c.rescueBackoffMs,
            isWorkerGoneChecked,
          });
          if (rows.length > 0) {
            this.c.logger.warn({ count: rows.length, queue }, 'rescued jobs with expired leases');
            this.c.onRescued(rows);
          }
          if (rows.length < 1000) break;
        }
        // Unstarted jobs past their expires_at: to history as expired, dependents by policy.
        const expired = await jobsExpire(this.c.db, this.c.schema, queue, 1000);
        if (expired > 0) {
          this.c.logger.info({ count: expired, queue }, 'expired jobs that never started');
        }
      }
      await eventListenerDeleteStale(this.c.db, this.c.schema, 120_000);
    } catch (err) {
      this.c.logger.warn({ err }, 'rescue failed; will retry');
    }
  }

  async stop(): Promise<void> {
    this.isStopped = true;
    clearInterval(this.electTimer);
    if (this.isLeader) {
      await this.stepDown();
      await leaderResign(this.c.db, this.c.schema, {
        name: 'maintenance',
        workerId: this.c.workerId,
      }).catch(() => undefined);
    }
  }
}
