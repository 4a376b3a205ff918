// Producer-side statements on sluice.job. The worker's claim/complete statements live in
// queries/job-worker.ts.
import type { Executor } from '../core/db.js';
import { inSchema } from '../core/schema-sql.js';

export interface JobInsertParams {
  queue: string;
  task: string;
  payloadJson: string;
  runAt: Date | null;
  delayMs: number | null;
  priority: number;
  maxAttempts: number;
  uniqueKey: string | null;
  /** How long after finishing the key stays taken: null while unfinished only, Infinity retained. */
  uniqueWithinMs: number | null;
  groupKey: string | null;
  /** Per-job expiry; null for none. */
  expiresAt: Date | null;
  /** Per-job `{ timeoutMs, retry }` as JSON; null for none. */
  runOptionsJson: string | null;
  /** The enqueuer's trace context as JSON (set by the send span); absent or null for none. */
  traceContextJson?: string | null;
}

// INSERT … SELECT from sluice.queue so that an unknown queue or an oversized payload inserts
// nothing instead of raising: the caller's transaction must stay usable after bad input.
// The RETURNING subquery wakes a waiting worker at commit (no trigger: a statement trigger with a
// transition table cost ~20% of an app transaction's rate in the bench); for a delayed job the
// payload says '|later', and the worker arms a timer for its due time. ON CONFLICT only when a
// unique key is given, since speculative insertion costs on every insert.
const JOB_INSERT_SELECT = `
INSERT INTO sluice.job (queue, task, payload, run_at, priority, max_attempts, unique_key, group_key,
  expires_at, run_options, trace_context)
SELECT q.name, $2, $3::jsonb, coalesce($4::timestamptz, now() + $5::float8 * interval '1 millisecond'),
  $6, $7, $8, $9, $10, $11::jsonb, $12::jsonb
FROM sluice.queue q
WHERE q.name = $1 AND octet_length($3::text) <= q.max_payload_bytes`;
const JOB_INSERT_RETURNING = `
RETURNING id, (SELECT pg_notify('sluice:job',
    CASE WHEN run_at <= now() THEN w.queue ELSE w.queue || '|later' END)
  FROM sluice.worker_waiting w WHERE w.queue = $1 LIMIT 1) IS NOT NULL AS is_notified`;
const JOB_INSERT = JOB_INSERT_SELECT + JOB_INSERT_RETURNING;
const JOB_INSERT_UNIQUE =
  JOB_INSERT_SELECT +
  `
ON CONFLICT (queue, unique_key) WHERE unique_key IS NOT NULL DO NOTHING` +
  JOB_INSERT_RETURNING;

export async function jobInsert(db: Executor, schema: string, p: JobInsertParams) {
  const isUnique = p.uniqueKey !== null;
  const { rows } = await db.query<{ id: string }>(
    inSchema(isUnique ? JOB_INSERT_UNIQUE : JOB_INSERT, schema),
    [
      p.queue,
      p.task,
      p.payloadJson,
      p.runAt,
      p.delayMs ?? 0,
      p.priority,
      p.maxAttempts,
      p.uniqueKey,
      p.groupKey,
      p.expiresAt,
      p.runOptionsJson,
      p.traceContextJson ?? null,
    ],
    `${schema}_job_insert${isUnique ? '_unique' : ''}`,
  );
  return rows[0]?.id;
}

// A unique key kept after its job finished: sluice.enqueue_job checks history and dead letters
// under a transaction advisory lock, so the check and the insert are one statement. The caller
// has validated everything the function would refuse, so it never raises here.
const JOB_INSERT_SCOPED = `
SELECT e.id::text AS id, e.is_duplicate FROM sluice.enqueue_job($1, $2::jsonb, $3,
  coalesce($4::timestamptz, now() + $5::float8 * interval '1 millisecond'), $6, $7, $8, $9,
  CASE WHEN $10::float8 = 'Infinity' THEN interval '1000 years'
    ELSE $10::float8 * interval '1 millisecond' END, $11::jsonb) e`;

export async function jobInsertScoped(db: Executor, schema: string, p: JobInsertParams) {
  const { rows } = await db.query<{ id: string; is_duplicate: boolean }>(
    inSchema(JOB_INSERT_SCOPED, schema),
    [
      p.task,
      p.payloadJson,
      p.queue,
      p.runAt,
      p.delayMs ?? 0,
      p.priority,
      p.maxAttempts,
      p.uniqueKey,
      p.groupKey,
      p.uniqueWithinMs === Infinity ? 'Infinity' : p.uniqueWithinMs,
      p.traceContextJson ?? null,
    ],
  );
  return { id: rows[0]!.id, isDuplicate: rows[0]!.is_duplicate };
}

/** Why an insert wrote nothing: the queue's cap (null: unknown queue) and any existing job. */
export async function jobInsertDiagnose(
  db: Executor,
  schema: string,
  p: { queue: string; uniqueKey: string | null },
) {
  const { rows } = await db.query<{ cap: number | null; existing_id: string | null }>(
    inSchema(
      `SELECT (SELECT max_payload_bytes FROM sluice.queue WHERE name = $1) AS cap,
        (SELECT id FROM sluice.job WHERE queue = $1 AND unique_key = $2) AS existing_id`,
      schema,
    ),
    [p.queue, p.uniqueKey],
  );
  return rows[0] ?? { cap: null, existing_id: null };
}

// Bulk insert: one statement per chunk. Payloads travel as one JSON array (cheaper to send
// and parse than a text[] of JSON strings); every other column is a single value when the whole
// chunk shares it (the common case) and an array only when it varies, so the statement carries
// little more than the payloads. Ids come from nextval after ORDER BY ord (volatile target-list
// expressions are evaluated after the sort), so ascending returned ids map back to input order.
// The queue check is part of the statement: it inserts nothing when a queue is unknown or a
// payload is over its queue's cap, so bad input never leaves a partial batch behind.
type BulkColumn =
  | 'queue'
  | 'task'
  | 'priority'
  | 'max_attempts'
  | 'run_at'
  | 'delay_ms'
  | 'unique_key'
  | 'group_key'
  | 'expires_at'
  | 'run_options'
  | 'trace_context';

const BULK_COLUMNS: { name: BulkColumn; type: string; pick: (j: JobInsertParams) => unknown }[] = [
  { name: 'queue', type: 'text', pick: (j) => j.queue },
  { name: 'task', type: 'text', pick: (j) => j.task },
  { name: 'priority', type: 'int', pick: (j) => j.priority },
  { name: 'max_attempts', type: 'int', pick: (j) => j.maxAttempts },
  // run_at is sent as (timestamp or null, delay in ms): the database clock decides "now".
  { name: 'run_at', type: 'timestamptz', pick: (j) => j.runAt },
  { name: 'delay_ms', type: 'float8', pick: (j) => j.delayMs ?? 0 },
  { name: 'unique_key', type: 'text', pick: (j) => j.uniqueKey },
  { name: 'group_key', type: 'text', pick: (j) => j.groupKey },
  { name: 'expires_at', type: 'timestamptz', pick: (j) => j.expiresAt },
  { name: 'run_options', type: 'jsonb', pick: (j) => j.runOptionsJson },
  // One send span per call: every job carries the same value, sent once.
  { name: 'trace_context', type: 'jsonb', pick: (j) => j.traceContextJson ?? null },
];

const bulkSqlCache = new Map<string, string>();
// Speculative insertion costs ~10% of a bulk insert: only for chunks that carry a unique key.
const UPSERT_SKIP = 'ON CONFLICT (queue, unique_key) WHERE unique_key IS NOT NULL DO NOTHING';

function sameForAll(jobs: JobInsertParams[], pick: (j: JobInsertParams) => unknown): boolean {
  const first = pick(jobs[0]!);
  const key = first instanceof Date ? first.getTime() : first;
  return jobs.every((j) => {
    const v = pick(j);
    return (v instanceof Date ? v.getTime() : v) === key;
  });
}

function bulkInsertSql(shape: string, isUnique: boolean): string {
  const key = `${shape}|${isUnique}`;
  const cached = bulkSqlCache.get(key);
  if (cached) return cached;
  // $1 payloads (json array), $2/$3 the queue check; then one parameter per column, an array
  // where the shape says it varies.
  const expr: Record<string, string> = {};
  const rows = ['jsonb_array_elements($1::jsonb)'];
  const names = ['payload'];
  BULK_COLUMNS.forEach((c, i) => {
    const param = `$${i + 4}`;
    if (shape[i] === 'a') {
      rows.push(`unnest(${param}::${c.type}[])`);
      names.push(c.name);
      expr[c.name] = `t.${c.name}`;
    } else {
      expr[c.name] = `${param}::${c.type}`;
    }
  });
  const sql = `
WITH ins AS (
  INSERT INTO sluice.job (id, queue, task, payload, run_at, priority, max_attempts, unique_key,
    group_key, expires_at, run_options, trace_context)
  SELECT nextval('sluice.job_id_seq'), ${expr.queue}, ${expr.task}, t.payload,
    coalesce(${expr.run_at}, now() + ${expr.delay_ms} * interval '1 millisecond'), ${expr.priority},
    ${expr.max_attempts}, ${expr.unique_key}, ${expr.group_key}, ${expr.expires_at},
    ${expr.run_options}, ${expr.trace_context}
  FROM ROWS FROM (${rows.join(', ')}) WITH ORDINALITY AS t(${names.join(', ')}, ord)
  WHERE NOT EXISTS (
    SELECT 1 FROM unnest($2::text[], $3::int[]) AS c(queue, max_bytes)
    LEFT JOIN sluice.queue q ON q.name = c.queue
    WHERE q.name IS NULL OR c.max_bytes > q.max_payload_bytes)
  ORDER BY t.ord
  ${isUnique ? UPSERT_SKIP : ''}
  RETURNING id, queue, unique_key, run_at
), woken AS (
  -- One NOTIFY per queue per batch, only when a worker of that queue waits; '|later' when no job
  -- is due yet, so the worker looks up the due time and wakes for it.
  SELECT pg_notify('sluice:job', CASE WHEN d.is_due THEN d.queue ELSE d.queue || '|later' END)
  FROM (SELECT queue, bool_or(run_at <= now()) AS is_due FROM ins GROUP BY queue) d
  WHERE EXISTS (SELECT 1 FROM sluice.worker_waiting w WHERE w.queue = d.queue)
)
${
  // Without unique keys every row is inserted, in input order: the ids travel as one text
  // value instead of a row each (parsing a thousand result rows cost more than the insert's
  // planning). With unique keys the caller needs each row's key to match duplicates.
  isUnique
    ? 'SELECT id, queue, unique_key FROM ins'
    : "SELECT string_agg(id::text, ',') AS ids FROM ins"
} WHERE (SELECT count(*) FROM woken) >= 0`;
  bulkSqlCache.set(key, sql);
  return sql;
}

/**
 * Inserts a chunk; `caps` is the largest payload per queue of the whole call, so the first chunk
 * already refuses a call that a later chunk would fail. Returns the inserted ids ascending (input
 * order) and the inserted rows that carry a unique key; nothing when the check failed.
 */
export async function jobInsertMany(
  db: Executor,
  schema: string,
  jobs: JobInsertParams[],
  caps: { queues: string[]; maxBytes: number[] },
) {
  const shapeFlags = BULK_COLUMNS.map((c) => (sameForAll(jobs, c.pick) ? 's' : 'a'));
  const shape = shapeFlags.join('');
  const isUnique = jobs.some((j) => j.uniqueKey !== null);
  const values: unknown[] = [
    `[${jobs.map((j) => j.payloadJson).join(',')}]`,
    caps.queues,
    caps.maxBytes,
    ...BULK_COLUMNS.map((c, i) => (shapeFlags[i] === 'a' ? jobs.map(c.pick) : c.pick(jobs[0]!))),
  ];
  const name = `${schema}_job_insert_many_${shape}${isUnique ? '_unique' : ''}`;
  const sql = inSchema(bulkInsertSql(shape, isUnique), schema);
  if (!isUnique) {
    const { rows } = await db.query<{ ids: string | null }>(sql, values, name);
    const ids = rows[0]?.ids ? rows[0].ids.split(',') : [];
    // RETURNING yields rows in insert order, which is ascending id order: checked, not assumed.
    if (!ids.every((id, i) => i === 0 || compareIds(ids[i - 1]!, id) < 0)) ids.sort(compareIds);
    return { ids, keyed: [] };
  }
  const { rows } = await db.query<{ id: string; queue: string; unique_key: string | null }>(
    sql,
    values,
    name,
  );
  const ids = rows.map((r) => r.id).sort(compareIds);
  return { ids, keyed: rows.filter((r) => r.unique_key !== null) };
}

/** Ids are decimal strings without leading zeros: shorter is smaller, else compare as text. */
function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

export async function jobFindByUniqueKeys(
  db: Executor,
  schema: string,
  keys: { queue: string; uniqueKey: string }[],
) {
  const { rows } = await db.query<{ id: string; queue: string; unique_key: string }>(
    inSchema(
      `SELECT j.id, j.queue, j.unique_key FROM sluice.job j
       JOIN unnest($1::text[], $2::text[]) AS k(queue, unique_key)
         ON j.queue = k.queue AND j.unique_key = k.unique_key`,
      schema,
    ),
    [keys.map((k) => k.queue), keys.map((k) => k.uniqueKey)],
  );
  return rows;
}

export async function jobCancel(db: Executor, schema: string, id: string, reason: string) {
  const { rows } = await db.query<{ ok: boolean }>(
    inSchema(`SELECT sluice.cancel_job($1, $2) AS ok`, schema),
    [id, reason],
  );
  return rows[0]?.ok === true;
}
