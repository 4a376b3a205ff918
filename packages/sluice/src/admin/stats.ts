// Queue counts for operators, the CLI's `stats` and the dashboard.
import {
  jobHistoryCountCompletedSince,
  queueStatsList,
  type QueueStats,
} from '../queries/admin.js';
import type { Target } from '../core/target.js';

export type { QueueStats };

/**
 * Per-queue counts from `sluice.queue_stats` (ready, scheduled, running, blocked, dead,
 * completed in the last hour, oldest ready age), by queue name.
 * @example for (const q of await listQueueStats({ db: pool })) console.log(q.queue, q.ready);
 */
export async function listQueueStats(options: Target): Promise<QueueStats[]> {
  return queueStatsList(options);
}

/**
 * Completed jobs per queue finished in (`since`, now], and the database's now to pass as the next
 * `since` (null: from now). Counting a window that moves with the caller gives a true rate.
 * @example let { now, counts } = await countCompletedSince({ db: pool, since: null });
 */
export async function countCompletedSince(
  options: Target & { since: string | null },
): Promise<{ now: string; counts: Record<string, number> }> {
  return jobHistoryCountCompletedSince(options);
}
