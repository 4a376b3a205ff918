// Wake-ups for delayed jobs: per queue, a timer for its next pending job due before the next
// poll, so an idle worker starts it on time.
import type { Executor } from '../core/db.js';
import type { Logger } from '../core/logger.js';
import { jobNextDue } from '../queries/job-due.js';

export class DueTimers {
  /** Lookups in flight per queue; true: another was asked for meanwhile. */
  private readonly checks = new Map<string, boolean>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();

  constructor(
    private readonly c: {
      db: Executor;
      schema: string;
      pollIntervalMs: number;
      logger: Logger;
      /**
       * Called when a queue has a job due: `isDelayed`, a delayed job came due (its claim looks up
       * the next due time after it); otherwise one was due already at the lookup.
       */
      onDue: (queue: string, isDelayed: boolean) => void;
    },
  ) {}

  /**
   * Looks up the queue's next due time and arms its timer, beside the claims: the lookup walks
   * the claim index's dead entries at the head (50 ms a poll in the soak once a held snapshot
   * left 340,000), and jobs committed meanwhile must not wait for it. A check asked for while one
   * runs runs again after it.
   */
  check(queue: string): void {
    if (this.checks.has(queue)) {
      this.checks.set(queue, true);
      return;
    }
    this.checks.set(queue, false);
    void this.arm(queue)
      .catch((err: unknown) =>
        this.c.logger.warn({ err, queue }, 'looking up the next due job failed'),
      )
      .finally(() => {
        const isAgain = this.checks.get(queue) === true;
        this.checks.delete(queue);
        if (isAgain) this.check(queue);
      });
  }

  /** Waits for the lookups in flight, then clears every timer. */
  async stop(): Promise<void> {
    while (this.checks.size > 0) await new Promise((r) => setTimeout(r, 5));
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  private async arm(queue: string): Promise<void> {
    const { isDueNow, dueInMs } = await jobNextDue(this.c.db, this.c.schema, queue);
    // Due but not claimed: committed after the empty claim's snapshot and before the waiting mark
    // (no NOTIFY), or locked by another worker's claim. One more claim settles either; it does
    // not look up the due time again, so this cannot loop.
    if (isDueNow) this.c.onDue(queue, false);
    if (dueInMs === null || dueInMs <= 0 || dueInMs >= this.c.pollIntervalMs) return;
    const at = Date.now() + dueInMs;
    const current = this.timers.get(queue);
    if (current && current.at <= at) return;
    if (current) clearTimeout(current.timer);
    // +1 ms: a timer may fire a hair early against the database clock; if it does, the short
    // claim looks up the due time again and re-arms.
    const timer = setTimeout(
      () => {
        this.timers.delete(queue);
        this.c.onDue(queue, true);
      },
      Math.ceil(dueInMs) + 1,
    );
    this.timers.set(queue, { at, timer });
  }
}
