// Dead letters for operators: list, inspect, replay (through the SQL functions, so the CLI, the
// dashboard and plain SQL do the same thing) and purge.
import {
  deadLetterGet,
  deadLetterList,
  deadLetterPurge,
  deadLetterReplay,
  deadLetterReplayMany,
  type DeadLetterRow,
} from '../queries/admin.js';
import type { Target } from '../core/target.js';
import { camelRow } from '../core/camel-row.js';

/** A job that exhausted its attempts or failed permanently, with every attempt's error. */
export interface DeadLetterInfo {
  id: string;
  queue: string;
  task: string;
  payload: unknown;
  priority: number;
  runAt: Date;
  attempt: number;
  maxAttempts: number;
  uniqueKey: string | null;
  groupKey: string | null;
  progress: unknown;
  errors: unknown;
  /** `attempts_exhausted`, `permanent`, or a rescuer's reason. */
  reason: string;
  createdAt: Date;
  startedAt: Date | null;
  failedAt: Date;
}

function toInfo(r: DeadLetterRow): DeadLetterInfo {
  return camelRow(r);
}

/**
 * Newest dead letters first, optionally of one queue and/or task and failed at or after `since`
 * (the filters {@link replayDeadLetters} takes). `before` pages: the `failedAt` and `id` of the
 * previous page's last row. Default limit 50.
 * @example const letters = await listDeadLetters({ db: pool, queue: 'mail' });
 * @example const next = await listDeadLetters({ db: pool, before: { failedAt: last.failedAt, id: last.id } });
 */
export async function listDeadLetters(
  options: Target & {
    queue?: string;
    task?: string;
    since?: Date;
    before?: { failedAt: Date; id: string };
    limit?: number;
  },
): Promise<DeadLetterInfo[]> {
  const rows = await deadLetterList({ ...options, limit: options.limit ?? 50 });
  return rows.map(toInfo);
}

/** One dead letter, or undefined. @example await getDeadLetter({ db: pool, id: '42' }); */
export async function getDeadLetter(
  options: Target & { id: string },
): Promise<DeadLetterInfo | undefined> {
  const row = await deadLetterGet(options);
  return row && toInfo(row);
}

/**
 * Moves one dead letter back to pending with fresh attempts (`sluice.replay_dead_letter`),
 * keeping its id, unique key and group key; returns the id, or null if there was none (or a
 * live job holds its unique key).
 * @example await replayDeadLetter({ db: pool, id: '42' });
 */
export async function replayDeadLetter(options: Target & { id: string }): Promise<string | null> {
  return deadLetterReplay(options);
}

/**
 * Replays every dead letter matching the filters (`sluice.replay_dead_letters`); how many.
 * @example await replayDeadLetters({ db: pool, queue: 'mail', since: new Date(Date.now() - 3600e3) });
 */
export async function replayDeadLetters(
  options: Target & { queue?: string; task?: string; since?: Date },
): Promise<number> {
  return deadLetterReplayMany(options);
}

/**
 * Deletes dead letters of a queue and/or task, failed before `before` and/or at or after `since`
 * (every one when no filter is given); how many.
 * @example await purgeDeadLetters({ db: pool, queue: 'mail', before: new Date('2026-01-01') });
 */
export async function purgeDeadLetters(
  options: Target & { queue?: string; task?: string; before?: Date; since?: Date },
): Promise<number> {
  return deadLetterPurge(options);
}
