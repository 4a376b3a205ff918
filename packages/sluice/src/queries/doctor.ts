// Catalog reads behind `inspectSchema` (`sluice doctor`). Read-only. Relations are looked up
// with to_regclass, which returns NULL instead of failing, so a broken schema can be described.
import type { Executor } from '../core/db.js';
import { inSchema } from '../core/schema-sql.js';

/** Names among `relations` and `functions` that do not exist in the schema. */
export async function catalogListMissing(
  db: Executor,
  schema: string,
  p: { relations: string[]; functions: string[] },
) {
  const { rows } = await db.query<{ kind: 'relation' | 'function'; name: string }>(
    `SELECT 'relation' AS kind, r AS name FROM unnest($2::text[]) r
     WHERE to_regclass(format('%I.%I', $1::text, r)) IS NULL
     UNION ALL
     SELECT 'function', f FROM unnest($3::text[]) f
     WHERE NOT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                       WHERE n.nspname = $1 AND p.proname = f)`,
    [schema, p.relations, p.functions],
  );
  return rows;
}

/** Versions recorded in sluice.migration (the table must exist). */
export async function migrationListApplied(db: Executor, schema: string) {
  const { rows } = await db.query<{ version: number; name: string }>(
    inSchema(`SELECT version, name FROM sluice.migration ORDER BY version`, schema),
  );
  return rows;
}

// The bound is compared as text with the one create_queue writes, so a partition attached for
// another queue's values is caught too.
const QUEUE_LIST_PARTITIONS = `
SELECT q.name AS queue, q.partition_name, c.oid IS NOT NULL AS is_present,
  i.inhrelid IS NOT NULL AS is_attached,
  coalesce(pg_get_expr(c.relpartbound, c.oid) = format('FOR VALUES IN (%L)', q.name), false)
    AS is_bound_right
FROM sluice.queue q
LEFT JOIN pg_class c ON c.relname = q.partition_name AND c.relnamespace = to_regnamespace('sluice')
LEFT JOIN pg_inherits i ON i.inhrelid = c.oid AND i.inhparent = to_regclass('sluice.job')
ORDER BY q.name`;

/** Every queue with the state of its sluice.job partition. */
export async function queueListPartitions(db: Executor, schema: string) {
  const { rows } = await db.query<{
    queue: string;
    partition_name: string;
    is_present: boolean;
    is_attached: boolean;
    is_bound_right: boolean;
  }>(inSchema(QUEUE_LIST_PARTITIONS, schema));
  return rows;
}

/** The indexes of a partitioned parent (sluice.job or sluice.job_history). */
export async function parentIndexList(db: Executor, schema: string, table: string) {
  const { rows } = await db.query<{ name: string; is_valid: boolean }>(
    `SELECT c.relname AS name, x.indisvalid AS is_valid
     FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
     WHERE x.indrelid = to_regclass(format('%I.%I', $1::text, $2::text))
     ORDER BY c.relname`,
    [schema, table],
  );
  return rows;
}

// One row per (partition, parent index): the partition's index attached to that parent index,
// NULL when there is none (a parent index made ON ONLY and never attached for this partition).
const PARTITION_INDEX_LIST = `
SELECT p.relname AS partition, pc.relname AS parent_index, ci.relname AS index,
  ci.indisvalid AS is_valid, ci.indisready AS is_ready
FROM pg_inherits i
JOIN pg_class p ON p.oid = i.inhrelid
JOIN pg_index px ON px.indrelid = i.inhparent
JOIN pg_class pc ON pc.oid = px.indexrelid
LEFT JOIN LATERAL (
  SELECT c.relname, x.indisvalid, x.indisready FROM pg_inherits ii
  JOIN pg_index x ON x.indexrelid = ii.inhrelid
  JOIN pg_class c ON c.oid = x.indexrelid
  WHERE ii.inhparent = px.indexrelid AND x.indrelid = p.oid
) ci ON true
WHERE i.inhparent = to_regclass(format('%I.%I', $1::text, $2::text))
ORDER BY p.relname, pc.relname`;

/** Each partition of `table` against each index of the parent. */
export async function partitionIndexList(db: Executor, schema: string, table: string) {
  const { rows } = await db.query<{
    partition: string;
    parent_index: string;
    index: string | null;
    is_valid: boolean | null;
    is_ready: boolean | null;
  }>(PARTITION_INDEX_LIST, [schema, table]);
  return rows;
}

// UTC days, as maintenance creates them. Partitions never overlap (PostgreSQL refuses), so the
// summed overlap equals the covered time. The FILTER matters: least() and greatest() ignore the
// NULLs of an unmatched LEFT JOIN and would count a missing partition as a whole day. 24 hours, not '1 day': the session's time zone could
// make a day 23 or 25 hours long.
const HISTORY_PARTITIONS_COVERAGE = `
SELECT to_char(d.day AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day,
  coalesce(sum(least(p.to_at, d.day + interval '24 hours') - greatest(p.from_at, d.day))
    FILTER (WHERE p.name IS NOT NULL), interval '0') >= interval '24 hours' AS is_covered
FROM (SELECT (date_trunc('day', now() AT TIME ZONE 'UTC') + k * interval '24 hours')
        AT TIME ZONE 'UTC' AS day
      FROM generate_series(0, $1::int - 1) k) d
LEFT JOIN sluice.history_partitions p
  ON p.from_at < d.day + interval '24 hours' AND p.to_at > d.day
GROUP BY d.day
ORDER BY d.day`;

/** For today and the next `days - 1` UTC days: whether history partitions cover all of it. */
export async function historyPartitionsCoverage(db: Executor, schema: string, days: number) {
  const { rows } = await db.query<{ day: string; is_covered: boolean }>(
    inSchema(HISTORY_PARTITIONS_COVERAGE, schema),
    [days],
  );
  return rows;
}

/** Rows in job_history_default, counted up to `limit` (it should be empty). */
export async function historyDefaultCount(db: Executor, schema: string, limit: number) {
  const { rows } = await db.query<{ n: number }>(
    inSchema(
      `SELECT count(*)::int AS n FROM (SELECT 1 FROM sluice.job_history_default LIMIT $1) d`,
      schema,
    ),
    [limit],
  );
  return rows[0]?.n ?? 0;
}

/**
 * Blocked jobs waiting on a dependency that is no longer unfinished yet was never released:
 * gone from every table (purged), or finished without releasing it. At most `limit`.
 */
export async function blockedListStranded(db: Executor, schema: string, limit: number) {
  const { rows } = await db.query<{ id: string; depends_on: string; is_gone: boolean }>(
    inSchema(
      `SELECT b.id::text AS id, d.depends_on::text AS depends_on,
         NOT EXISTS (SELECT 1 FROM sluice.job_history h WHERE h.id = d.depends_on)
           AND NOT EXISTS (SELECT 1 FROM sluice.dead_letter x WHERE x.id = d.depends_on) AS is_gone
       FROM sluice.job b JOIN sluice.job_dependency d ON d.job_id = b.id
       WHERE b.state = 'blocked' AND d.outcome IS NULL
         AND NOT EXISTS (SELECT 1 FROM sluice.job j WHERE j.id = d.depends_on)
       ORDER BY b.id LIMIT $1`,
      schema,
    ),
    [limit],
  );
  return rows;
}

/** Registered worker processes with their heartbeat age by the database clock. */
export async function workerListAll(db: Executor, schema: string) {
  const { rows } = await db.query<{
    id: string;
    host: string;
    pid: number;
    queues: string[];
    concurrency: number;
    started_at: Date;
    heartbeat_at: Date;
    heartbeat_age_ms: number;
  }>(
    inSchema(
      `SELECT id, host, pid, queues, concurrency, started_at, heartbeat_at,
         (extract(epoch FROM now() - heartbeat_at) * 1000)::float8 AS heartbeat_age_ms
       FROM sluice.worker ORDER BY host, pid, id`,
      schema,
    ),
  );
  return rows;
}

/** Leader lease rows, with whether each lease is still current. */
export async function leaderListAll(db: Executor, schema: string) {
  const { rows } = await db.query<{
    name: string;
    worker_id: string;
    elected_at: Date;
    expires_at: Date;
    is_current: boolean;
  }>(
    inSchema(
      `SELECT name, worker_id, elected_at, expires_at, expires_at > now() AS is_current
       FROM sluice.leader ORDER BY name`,
      schema,
    ),
  );
  return rows;
}

// Transactions of this database holding a snapshot (backend_xmin) longer than the threshold,
// oldest first, and replication slots holding xmin back (only those hold back this database): while either lasts, vacuum cannot remove the dead
// rows every claimed and finished job leaves, and claims slow down as they pile up.
const SNAPSHOTS_OLD = `
SELECT 'transaction' AS kind, a.pid, a.datname AS database, a.usename AS "user",
  a.application_name, a.state,
  (extract(epoch FROM now() - coalesce(a.xact_start, a.query_start)) * 1000)::float8 AS age_ms
FROM pg_stat_activity a
WHERE a.backend_xmin IS NOT NULL AND a.pid <> pg_backend_pid() AND a.datname = current_database()
  AND coalesce(a.xact_start, a.query_start) < now() - $1 * interval '1 millisecond'
UNION ALL
SELECT 'replication slot', NULL, s.database, NULL, s.slot_name, CASE WHEN s.active THEN 'active' ELSE 'inactive' END,
  NULL
FROM pg_replication_slots s
WHERE (s.xmin IS NOT NULL OR s.catalog_xmin IS NOT NULL)
  AND (s.database IS NULL OR s.database = current_database())
ORDER BY age_ms DESC NULLS LAST
LIMIT 5`;

/** Snapshots older than `olderThanMs` (and slots) that hold back the cleanup of dead rows. */
export async function snapshotsListOld(db: Executor, olderThanMs: number) {
  const { rows } = await db.query<{
    kind: 'transaction' | 'replication slot';
    pid: number | null;
    database: string | null;
    user: string | null;
    application_name: string;
    state: string | null;
    age_ms: number | null;
  }>(SNAPSHOTS_OLD, [olderThanMs]);
  return rows;
}
