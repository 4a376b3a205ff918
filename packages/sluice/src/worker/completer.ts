// Batches job outcomes into few statements. A flush starts as soon as the previous one for the
// same kind ends, so under load many outcomes share one statement and at idle one waits no time.
import { EventEmitter } from 'node:events';
import type { Executor } from '../core/db.js';
import type { Logger } from '../core/logger.js';
import { jobComplete, jobFail, jobRelease } from '../queries/job-worker.js';

export interface Token {
  id: string;
  queue: string;
  task: string;
  attempt: number;
}

/** What the completer writes; `startedAt` (epoch ms) is when the handler started, if it did. */
export type Outcome = (
  | { kind: 'complete'; token: Token; resultJson: string | null }
  | {
      kind: 'fail';
      token: Token;
      delayMs: number;
      errorJson: string;
      isPermanent: boolean;
      /** For logs and events, so nobody parses errorJson back. */
      error: { name: string; message: string };
    }
  | { kind: 'release'; token: Token; refund: boolean; delayMs: number; errorJson: string | null }
) & { startedAt?: number };

/**
 * Result events: 'completed' | 'retried' | 'dead' | 'released' | 'rejected' with the outcome;
 * 'written' after each statement.
 */
export class Completer extends EventEmitter {
  private pending: Outcome[] = [];
  /** The batch being written: its leases are still held until the statement commits. */
  private writing: Outcome[] = [];
  private flushing: Promise<void> | undefined;
  private readonly idle: (() => void)[] = [];

  constructor(
    private readonly db: Executor,
    private readonly schema: string,
    private readonly workerId: string,
    private readonly logger: Logger,
    private readonly maxBatch = 1000,
  ) {
    super();
  }

  get size(): number {
    return this.pending.length;
  }

  /** Outcomes not yet committed: waiting, or in the statement being written. */
  get unwritten(): number {
    return this.pending.length + this.writing.length;
  }

  /** Nothing waits to be written and no write is under way. */
  get isIdle(): boolean {
    return this.flushing === undefined && this.pending.length === 0;
  }

  /** Appends the tokens of every outcome not yet written (their leases must be kept alive). */
  collectHeld(out: { id: string; attempt: number }[]): void {
    for (const o of this.writing) out.push(o.token);
    for (const o of this.pending) out.push(o.token);
  }

  push(outcome: Outcome): void {
    this.pending.push(outcome);
    if (!this.flushing) this.flushing = this.loop();
  }

  /** Resolves when everything pushed so far is written. */
  async drain(): Promise<void> {
    if (!this.flushing && this.pending.length === 0) return;
    await new Promise<void>((r) => this.idle.push(r));
  }

  private async loop(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.maxBatch);
      this.writing = batch;
      try {
        await this.write(batch);
      } catch (err) {
        // Keep the outcomes and try again: losing them would only re-run jobs after rescue,
        // but retrying keeps the common case (a brief connection blip) cheap.
        this.logger.error({ err, count: batch.length }, 'completer flush failed');
        this.pending.unshift(...batch);
        await new Promise((r) => setTimeout(r, 500));
      } finally {
        this.writing = [];
      }
      // Room for claims may have been waiting on this write (the worker's back-pressure).
      this.emit('written');
    }
    this.flushing = undefined;
    for (const r of this.idle.splice(0)) r();
  }

  private async write(batch: Outcome[]): Promise<void> {
    // The usual batch is one kind for one queue: written as is, without grouping.
    const { kind, token } = batch[0]!;
    if (batch.every((o) => o.kind === kind && o.token.queue === token.queue)) {
      return this.writeGroup(batch);
    }
    const groups = new Map<string, Outcome[]>();
    for (const o of batch) {
      const key = `${o.kind}\u0000${o.token.queue}`;
      const list = groups.get(key);
      if (list) list.push(o);
      else groups.set(key, [o]);
    }
    await Promise.all([...groups.values()].map((g) => this.writeGroup(g)));
  }

  private async writeGroup(group: Outcome[]): Promise<void> {
    const first = group[0]!;
    const queue = first.token.queue;
    const accepted = new Set<string>();
    let byId: Map<string, Outcome> | undefined;
    const find = (id: string) => (byId ??= new Map(group.map((o) => [o.token.id, o]))).get(id)!;
    switch (first.kind) {
      case 'complete': {
        const rows = await jobComplete(this.db, this.schema, {
          queue,
          workerId: this.workerId,
          jobs: group as Extract<Outcome, { kind: 'complete' }>[],
        });
        // Every lease held (the normal case): no lookups needed.
        if (rows.length === group.length) {
          for (const o of group) this.emit('completed', o);
          return;
        }
        for (const { id } of rows) {
          accepted.add(id);
          this.emit('completed', find(id));
        }
        break;
      }
      case 'fail': {
        const rows = await jobFail(this.db, this.schema, {
          queue,
          workerId: this.workerId,
          jobs: group.map((o) => {
            const f = o as Extract<Outcome, { kind: 'fail' }>;
            return {
              id: f.token.id,
              attempt: f.token.attempt,
              delayMs: f.delayMs,
              errorJson: f.errorJson,
              isPermanent: f.isPermanent,
              startedAt: f.startedAt,
            };
          }),
        });
        for (const r of rows) {
          accepted.add(r.id);
          this.emit(r.outcome, find(r.id));
        }
        break;
      }
      case 'release': {
        const ids = await jobRelease(this.db, this.schema, {
          queue,
          workerId: this.workerId,
          jobs: group.map((o) => {
            const r = o as Extract<Outcome, { kind: 'release' }>;
            return {
              id: r.token.id,
              attempt: r.token.attempt,
              refund: r.refund,
              delayMs: r.delayMs,
              errorJson: r.errorJson,
            };
          }),
        });
        for (const id of ids) {
          accepted.add(id);
          this.emit('released', find(id));
        }
        break;
      }
    }
    for (const o of group) {
      if (!accepted.has(o.token.id)) {
        // The lease was lost (rescued, cancelled or re-claimed): a stale result is never applied.
        this.logger.warn(
          {
            jobId: o.token.id,
            queue,
            task: o.token.task,
            attempt: o.token.attempt,
            outcome: o.kind,
          },
          'stale result rejected: job no longer held by this worker',
        );
        this.emit('rejected', o);
      }
    }
  }
}
