// The claim loop: claims due jobs of the worker's queues for its free room, woken by NOTIFY,
// by the poll (always on) and by finished jobs. One statement per queue names the queue, so the
// planner prunes to its partition; up to two claims run at once.
import type { Executor } from '../core/db.js';
import type { Logger } from '../core/logger.js';
import {
  claimStartOf,
  jobClaim,
  jobClaimLimited,
  queueLimitsGet,
  type ClaimedJob,
  type ClaimStart,
} from '../queries/job-claim.js';
import { DueTimers } from './due-timers.js';
import { jobEventsNotify, LISTENERS_CHANGED, workerWaitingSet } from '../queries/worker.js';

/** What the claim loop needs from the worker that owns it. */
export interface ProducerHost {
  /** Slots plus buffer not taken by running or buffered jobs. */
  room(): number;
  isClaiming(): boolean;
  /** Takes claimed jobs into the buffer. */
  accept(jobs: ClaimedJob[]): void;
  /** Every queue's last claim came back short (the worker checks it holds nothing). */
  onDrained(): void;
  /** Gives a claimed, unstarted job back without using an attempt. */
  giveBack(job: ClaimedJob): void;
  /** Queues found paused: their buffered jobs should go back. */
  onPaused(queues: Set<string>): void;
  onError(err: unknown): void;
}

export interface ProducerConfig {
  db: Executor;
  schema: string;
  workerId: string;
  queues: string[];
  capacity: number;
  leaseMs: number;
  pollIntervalMs: number;
  /** Whether wake-ups come by NOTIFY, so "waiting" marks are worth writing. */
  isListening: boolean;
  logger: Logger;
}

/**
 * Claims start where an earlier claim started (see claimSql) instead of walking the index from
 * its head past the finished jobs' dead entries. After a claim that came back short (a queue kept
 * up with), the start point is moved back by STEADY_MARGIN_MS for jobs written a little behind it
 * (a producer transaction's now() is its start). A claim from the head comes at least every
 * HEAD_CLAIM_EVERY_MS, for jobs further behind (a past runAt); one that had to walk many dead
 * entries (a long transaction holds vacuum back) spaces the next by 20× its own time, so it
 * stays ~5% of the claim statements' time.
 */
const STEADY_MARGIN_MS = 1000;
const HEAD_CLAIM_EVERY_MS = 1000;
const HEAD_CLAIM_COST_FACTOR = 20;

export class Producer {
  private readonly drainedQueues = new Set<string>();
  /**
   * Wake-ups per queue. A claim whose snapshot predates a wake (the NOTIFY of a commit it could
   * not see) may come back short; it marks the queue drained only if no wake came meanwhile.
   */
  private readonly wakes = new Map<string, number>();
  /** Queues whose waiting mark is written; what the last claim of each wants; writes in flight. */
  private readonly waitingQueues = new Set<string>();
  private readonly waitingWanted = new Map<string, boolean>();
  private readonly waitingWrites = new Map<string, Promise<void>>();
  /** Queues with concurrency or rate limits: claimed through sluice.claim_limited. */
  private limitedQueues = new Set<string>();
  /** Each existing queue's partition of sluice.job, which claims update by name. */
  private partitions = new Map<string, string>();
  /** Queues with a claim from the head under way beside the others (probeHead). */
  private readonly probing = new Set<string>();
  /** Per queue: where the next claim may start, and when the next must read the head. */
  private readonly claimStarts = new Map<string, { start: ClaimStart; headDueAt: number }>();
  /** Claim statements in flight; two let one process keep both database cores busy. */
  private activeClaims = 0;
  /** Slots promised to claims in flight, so two claims never over-claim together. */
  private reservedSlots = 0;
  private isFetchRequested = false;
  /** A job-event listener wants 'active' events: claims are announced (one statement each). */
  private announcesActive = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Queues whose next delayed job should be looked up after their next short claim. */
  private readonly dueCheckQueues = new Set<string>();
  /** A timer per queue for its next delayed job (see due-timers.ts). */
  private readonly dueTimers: DueTimers;

  constructor(
    private readonly c: ProducerConfig,
    private readonly host: ProducerHost,
  ) {
    this.dueTimers = new DueTimers({
      ...c,
      onDue: (queue, isDelayed) => this.wake(queue, isDelayed),
    });
  }

  /** Reads the queues' limits (they decide the claim statement), then polls. */
  async start(): Promise<void> {
    await this.refreshLimits();
    this.pollTimer = setInterval(() => {
      void this.refreshLimits().then(() => this.wakeAll());
    }, this.c.pollIntervalMs);
  }

  /** Stops polling and waits for claims in flight. */
  async stop(): Promise<void> {
    clearInterval(this.pollTimer);
    clearTimeout(this.retryTimer);
    while (this.activeClaims > 0 || this.probing.size > 0) {
      await new Promise((r) => setTimeout(r, 5));
    }
    await this.dueTimers.stop();
  }

  isLimited(queue: string): boolean {
    return this.limitedQueues.has(queue);
  }

  /** The worker's row was written anew: it has no waiting marks any more. */
  forgetWaiting(): void {
    this.waitingQueues.clear();
  }

  private async refreshLimits(): Promise<void> {
    try {
      const { limits, wantsActive } = await queueLimitsGet(this.c.db, this.c.schema, this.c.queues);
      this.announcesActive = wantsActive;
      this.limitedQueues = new Set(limits.filter((r) => r.is_limited).map((r) => r.name));
      this.partitions = new Map(limits.map((r) => [r.name, r.partition_name]));
      const paused = new Set(limits.filter((r) => r.is_paused).map((r) => r.name));
      if (paused.size > 0) this.host.onPaused(paused);
    } catch (err) {
      this.c.logger.warn({ err }, 'reading queue limits failed');
    }
  }

  /** Marks every queue as possibly non-empty and claims (the poll: due times are looked up too). */
  wakeAll(): void {
    this.drainedQueues.clear();
    for (const q of this.c.queues) {
      this.wakes.set(q, (this.wakes.get(q) ?? 0) + 1);
      this.dueCheckQueues.add(q);
    }
    this.request();
  }

  /**
   * Claims for `queue`. `isDelayed`: a job was enqueued, retried or snoozed for later, so after a
   * short claim the queue's next due time is looked up and a timer armed for it.
   */
  wake(queue: string, isDelayed = false): void {
    if (!this.c.queues.includes(queue)) return;
    this.drainedQueues.delete(queue);
    this.wakes.set(queue, (this.wakes.get(queue) ?? 0) + 1);
    if (isDelayed) this.dueCheckQueues.add(queue);
    this.request();
  }

  /** A job channel payload: 'queue' announces due jobs, 'queue|later' delayed ones. */
  wakeFor(payload: string): void {
    if (payload === LISTENERS_CHANGED) {
      void this.refreshLimits();
      return;
    }
    const bar = payload.indexOf('|');
    if (bar < 0) this.wake(payload);
    else this.wake(payload.slice(0, bar), true);
  }

  /** Claims now if there is room (or right after the claims in flight). */
  request(): void {
    if (!this.host.isClaiming()) return;
    const room = this.host.room() - this.reservedSlots;
    // A second claim runs alongside the first only for a large room (bench: +15-25% drain).
    if (this.activeClaims === 0 || (this.activeClaims === 1 && room >= this.c.capacity / 2)) {
      void this.fetchLoop();
    } else {
      this.isFetchRequested = true;
    }
  }

  private async fetchLoop(): Promise<void> {
    this.activeClaims++;
    try {
      do {
        this.isFetchRequested = false;
        for (const queue of this.c.queues) {
          const room = this.host.room() - this.reservedSlots;
          if (!this.host.isClaiming() || room <= 0) break;
          if (this.drainedQueues.has(queue)) continue;
          const isLimited = this.limitedQueues.has(queue);
          // Limited queues serialise on their queue row anyway: one claim at a time.
          if (isLimited && this.activeClaims > 1) continue;
          // Beside another claim, only for a large room (as request() starts one): a sliver of a
          // claim that came back "full" cleared the worker's waiting mark, so the NOTIFY of the
          // next released flow step was never sent and the step waited for the poll.
          if (this.activeClaims > 1 && room < this.c.capacity / 2) break;
          this.reservedSlots += room;
          const wakesBefore = this.wakes.get(queue);
          let jobs: ClaimedJob[];
          // What this claim asked for: less than the room when the head's claim took a share.
          let asked = room;
          try {
            ({ jobs, asked } = await this.claim(queue, isLimited, room));
          } finally {
            this.reservedSlots -= room;
          }
          if (!(await this.handOver(jobs))) break;
          await this.setWaiting(queue, jobs.length < asked);
          // A limited queue may come back short because of its limit, not because it is empty;
          // it is retried on the poll, so its slots free up across all workers.
          if (jobs.length < asked && this.wakes.get(queue) === wakesBefore) {
            this.drainedQueues.add(queue);
            if (this.dueCheckQueues.delete(queue)) this.dueTimers.check(queue);
          } else if (jobs.length < asked) {
            // A wake came while this claim ran, perhaps for a job it could not see yet: claim
            // again here, since the other claim loop may already have taken the request.
            this.isFetchRequested = true;
          }
        }
      } while (this.isFetchRequested && this.host.isClaiming());
      if (this.drainedQueues.size === this.c.queues.length && this.activeClaims === 1) {
        this.host.onDrained();
      }
    } catch (err) {
      this.c.logger.error({ err }, 'claim failed; retrying within a second');
      this.host.onError(err);
      // undefined_table: a queue dropped since the last refresh; the next claim reads them anew.
      if ((err as { code?: string }).code === '42P01') this.partitions.clear();
      // A failed claim (a dropped connection, a failover) must not leave due jobs waiting for a
      // long poll interval.
      this.retryTimer ??= setTimeout(
        () => {
          this.retryTimer = undefined;
          this.wakeAll();
        },
        Math.min(1000, this.c.pollIntervalMs),
      );
    } finally {
      this.activeClaims--;
    }
  }

  /**
   * Claims up to `limit` jobs of `queue`: from the last claim's start point when there is one
   * (only jobs of a higher priority when one of those is due), from the head otherwise, when the
   * head is due again, and for the rest when a backlog's claim came back short.
   */
  private async claim(
    queue: string,
    isLimited: boolean,
    limit: number,
  ): Promise<{ jobs: ClaimedJob[]; asked: number }> {
    if (isLimited) {
      const p = { queue, limit, workerId: this.c.workerId, leaseMs: this.c.leaseMs };
      return { jobs: await jobClaimLimited(this.c.db, this.c.schema, p), asked: limit };
    }
    // A queue created after the last refresh; still none: nothing to claim until it exists.
    if (!this.partitions.has(queue)) await this.refreshLimits();
    const partition = this.partitions.get(queue);
    if (partition === undefined) return { jobs: [], asked: limit };
    const p = { queue, partition, limit, workerId: this.c.workerId, leaseMs: this.c.leaseMs };
    const known = this.claimStarts.get(queue);
    if (!known) return { jobs: await this.claimHead(p), asked: limit };
    // The head's turn: half of this claim's room goes to it, claimed beside this one.
    if (Date.now() >= known.headDueAt && limit > 1 && !this.probing.has(queue)) {
      const share = Math.ceil(limit / 2);
      void this.probeHead(queue, partition, share);
      p.limit = limit - share;
    }
    let jobs = await jobClaim(this.c.db, this.c.schema, { ...p, after: known.start });
    if (jobs.length === 0) {
      jobs = await jobClaim(this.c.db, this.c.schema, { ...p, above: known.start.priority });
    }
    const isFull = jobs.length === p.limit;
    if (!isFull && known.start.marginMs === 0) {
      const rest = await this.claimHead({ ...p, limit: p.limit - jobs.length });
      return { jobs: jobs.concat(rest), asked: p.limit };
    }
    known.start = claimStartOf(jobs, isFull ? 0 : STEADY_MARGIN_MS) ?? known.start;
    return { jobs, asked: p.limit };
  }

  private async claimHead(p: Parameters<typeof jobClaim>[2]): Promise<ClaimedJob[]> {
    const t0 = Date.now();
    const jobs = await jobClaim(this.c.db, this.c.schema, p);
    const now = Date.now();
    const marginMs = jobs.length === p.limit ? 0 : STEADY_MARGIN_MS;
    const known = this.claimStarts.get(p.queue)?.start;
    const start = claimStartOf(jobs, marginMs) ?? (known && { ...known, marginMs });
    const headDueAt = now + Math.max(HEAD_CLAIM_EVERY_MS, HEAD_CLAIM_COST_FACTOR * (now - t0));
    if (start) this.claimStarts.set(p.queue, { start, headDueAt });
    return jobs;
  }

  /**
   * Takes claimed jobs into the buffer, or gives them straight back without using an attempt when
   * the worker stopped while they were claimed; false then.
   */
  private async handOver(jobs: ClaimedJob[]): Promise<boolean> {
    if (!this.host.isClaiming()) {
      jobs.forEach((j) => this.host.giveBack(j));
      return false;
    }
    // Before the handlers start, so 'active' precedes their progress and outcome.
    if (this.announcesActive && jobs.length > 0) await this.announceActive(jobs);
    this.host.accept(jobs);
    return true;
  }

  /**
   * The periodic claim from the head, beside the claims from the start point rather than before
   * them: it walks every dead entry the head holds, and jobs committed meanwhile must not wait for
   * it. Not counted in activeClaims, so a wake-up's claim loop never waits on it either.
   */
  private async probeHead(queue: string, partition: string, limit: number): Promise<void> {
    this.probing.add(queue);
    this.reservedSlots += limit;
    try {
      const jobs = await this.claimHead({
        queue,
        partition,
        limit,
        workerId: this.c.workerId,
        leaseMs: this.c.leaseMs,
      });
      // A full share: more may wait, and its claim was not counted by the loop.
      if ((await this.handOver(jobs)) && jobs.length === limit) this.wake(queue);
    } catch (err) {
      this.c.logger.warn({ err, queue }, 'claim from the head failed; the next one retries');
    } finally {
      this.reservedSlots -= limit;
      this.probing.delete(queue);
    }
  }

  /** 'active' job events for claimed jobs (a failure is logged: a lost event is not a lost job). */
  private async announceActive(jobs: ClaimedJob[]): Promise<void> {
    const events = jobs.map((j) =>
      JSON.stringify({
        event: 'active',
        id: j.id,
        queue: j.queue,
        task: j.task,
        attempt: j.attempt,
        state: 'running',
      }),
    );
    await jobEventsNotify(this.c.db, this.c.schema, events).catch((err: unknown) =>
      this.c.logger.warn({ err }, 'announcing active jobs failed'),
    );
  }

  /**
   * Records (or clears) "this worker waits for jobs of queue", which gates enqueue's NOTIFY. Two
   * claim loops may finish at once: writes go one at a time and the last claim's wish wins, or a
   * mark cleared while another was being written left an idle worker unmarked (no NOTIFY, the job
   * waited for the poll).
   */
  private async setWaiting(queue: string, isWaiting: boolean): Promise<void> {
    if (!this.c.isListening) return;
    this.waitingWanted.set(queue, isWaiting);
    for (let w = this.waitingWrites.get(queue); w; w = this.waitingWrites.get(queue)) await w;
    const want = this.waitingWanted.get(queue)!;
    if (this.waitingQueues.has(queue) === want) return;
    const write = workerWaitingSet(this.c.db, this.c.schema, {
      workerId: this.c.workerId,
      queue,
      isWaiting: want,
    }).finally(() => this.waitingWrites.delete(queue));
    this.waitingWrites.set(queue, write);
    await write;
    if (want) {
      this.waitingQueues.add(queue);
      // A job enqueued while this worker was busy sent no NOTIFY (nobody waited): look up its
      // due time now, or it waits for the poll.
      this.dueCheckQueues.add(queue);
    } else this.waitingQueues.delete(queue);
  }
}
