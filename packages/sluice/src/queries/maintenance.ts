// Retention and upkeep statements. None of them reads or writes sluice.job rows: retention
// never deletes unfinished work, however old.
import type { Executor } from '../core/db.js';
import { inSchema } from '../core/schema-sql.js';

/** Creates the UTC day partitions of job_history from today − `behindDays` for `days` days. */
export async function historyPartitionsCreate(
  db: Executor,
  schema: string,
  p: { behindDays: number; days: number },
) {
  const { rows } = await db.query<{ made: number }>(
    inSchema(
      `SELECT sluice.create_history_partitions((now() AT TIME ZONE 'UTC')::date - $1::int, $2) AS made`,
      schema,
    ),
    [p.behindDays, p.days],
  );
  return rows[0]?.made ?? 0;
}

// A day partition holds many queues' rows, so it goes only when its whole day is older than
// the longest retention of any queue (7 days when there is no queue at all).
const HISTORY_PARTITIONS_DROP_EXPIRED = `
SELECT sluice.drop_history_partitions(
  now() - coalesce((SELECT max(history_retention) FROM sluice.queue), interval '7 days')) AS name`;

/** Drops job_history partitions past every queue's retention; returns their names. */
export async function historyPartitionsDropExpired(db: Executor, schema: string) {
  const { rows } = await db.query<{ name: string }>(
    inSchema(HISTORY_PARTITIONS_DROP_EXPIRED, schema),
  );
  return rows.map((r) => r.name);
}

/** The day partitions of job_history with their bounds, oldest first. */
export async function historyPartitionsList(db: Executor, schema: string) {
  const { rows } = await db.query<{ name: string; from_at: Date; to_at: Date }>(
    inSchema(`SELECT name, from_at, to_at FROM sluice.history_partitions ORDER BY from_at`, schema),
  );
  return rows;
}

// dead_letter is a plain table: batches keep each DELETE short. The second condition is implied
// by the first; it lets the planner use dead_letter_failed_idx instead of reading every row.
// SKIP LOCKED: a row being replayed, or taken by another maintenance process, is left to it.
const DEAD_LETTER_DELETE_EXPIRED = `
WITH doomed AS (
  SELECT d.id FROM sluice.dead_letter d
  LEFT JOIN sluice.queue q ON q.name = d.queue
  WHERE d.failed_at < now() - coalesce(q.dead_letter_retention, interval '30 days')
    AND d.failed_at < now() - least((SELECT min(dead_letter_retention) FROM sluice.queue),
      interval '30 days')
  LIMIT $1
  FOR UPDATE OF d SKIP LOCKED
)
DELETE FROM sluice.dead_letter d USING doomed WHERE d.id = doomed.id`;

/** Deletes up to `limit` dead letters older than their queue's retention; returns how many. */
export async function deadLetterDeleteExpired(db: Executor, schema: string, limit: number) {
  const { rowCount } = await db.query(inSchema(DEAD_LETTER_DELETE_EXPIRED, schema), [limit]);
  return rowCount;
}

/** Deletes flow edges older than every queue's retention whose dependent finished. */
export async function dependenciesPrune(db: Executor, schema: string, limit: number) {
  const { rows } = await db.query<{ n: number }>(
    inSchema(`SELECT sluice.prune_dependencies($1) AS n`, schema),
    [limit],
  );
  return rows[0]?.n ?? 0;
}

// Autovacuum never analyzes a partitioned parent, so the planner has no statistics for
// sluice.job and sluice.job_history as wholes. The statistics system records our manual runs,
// which lets every maintenance process see that another one analyzed recently.
const PARENTS_ANALYZE_DUE = `
SELECT count(*) < 2 OR bool_or(last_analyze IS NULL OR last_analyze < now() - $1 * interval '1 millisecond') AS is_due
FROM pg_stat_user_tables
WHERE relid IN ('sluice.job'::regclass, 'sluice.job_history'::regclass)`;

/** True when either partitioned parent was last analyzed more than `intervalMs` ago. */
export async function parentsAnalyzeDue(db: Executor, schema: string, intervalMs: number) {
  const { rows } = await db.query<{ is_due: boolean }>(inSchema(PARENTS_ANALYZE_DUE, schema), [
    intervalMs,
  ]);
  return rows[0]?.is_due ?? true;
}

/** Analyzes the partitioned parents as the schema owner (`sluice.analyze_parents`, 0012). */
export async function parentsAnalyze(db: Executor, schema: string) {
  await db.query(inSchema(`SELECT sluice.analyze_parents()`, schema));
}
