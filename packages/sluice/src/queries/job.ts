// Producer-side statements on sluice.job. The worker's claim/complete statements live in
// queries/job-worker.ts.
import type { Executor } from '../db.js';
import { inSchema } from '../schema-sql.js';

export interface JobInsertParams {
  queue: string;
  task: string;
  payloadJson: string;
  runAt: Date | null;
  delayMs: number | null;
  priority: number;
  maxAttempts: number;
  uniqueKey: string | null;
  groupKey: string | null;
}

// INSERT … SELECT from sluice.queue so that an unknown queue or an oversized payload inserts
// nothing instead of raising: the caller's transaction must stay usable after bad input.
// The RETURNING subquery wakes a waiting worker at commit (no trigger: a statement trigger with a
// transition table cost ~20% of an app transaction's rate in the bench). ON CONFLICT only when a
// unique key is given, since speculative insertion costs on every insert.
const JOB_INSERT_SELECT = `
INSERT INTO sluice.job (queue, task, payload, run_at, priority, max_attempts, unique_key, group_key)
SELECT q.name, $2, $3::jsonb, coalesce($4::timestamptz, now() + $5::float8 * interval '1 millisecond'),
  $6, $7, $8, $9
FROM sluice.queue q
WHERE q.name = $1 AND octet_length($3::text) <= q.max_payload_bytes`;
const JOB_INSERT_RETURNING = `
RETURNING id, (SELECT pg_notify('sluice:job', w.queue) FROM sluice.worker_waiting w
  WHERE w.queue = $1 AND run_at <= now() LIMIT 1) IS NOT NULL AS is_notified`;
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
    ],
    `${schema}_job_insert${isUnique ? '_unique' : ''}`,
  );
  return rows[0]?.id;
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

// One statement for the whole batch. Ids come from nextval in input order (unnest WITH
// ORDINALITY is read in order, no sort), so ascending returned ids map back to inputs.
const JOB_INSERT_MANY = `
INSERT INTO sluice.job (id, queue, task, payload, run_at, priority, max_attempts, unique_key, group_key)
SELECT nextval('sluice.job_id_seq'), t.queue, t.task, t.payload::jsonb,
  coalesce(t.run_at, now() + t.delay_ms * interval '1 millisecond'),
  t.priority, t.max_attempts, t.unique_key, t.group_key
FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::float8[], $6::int[],
  $7::int[], $8::text[], $9::text[])
  WITH ORDINALITY AS t(queue, task, payload, run_at, delay_ms, priority, max_attempts, unique_key,
    group_key, ord)
ORDER BY t.ord
ON_CONFLICT
RETURNING id, queue, unique_key, run_at`;

// One NOTIFY per queue per batch, for due jobs, only when a worker of that queue waits.
const JOB_INSERT_MANY_NOTIFYING = `
WITH ins AS (${JOB_INSERT_MANY}
), woken AS (
  SELECT pg_notify('sluice:job', d.queue)
  FROM (SELECT DISTINCT queue FROM ins WHERE run_at <= now()) d
  WHERE EXISTS (SELECT 1 FROM sluice.worker_waiting w WHERE w.queue = d.queue)
)
SELECT id, queue, unique_key FROM ins WHERE (SELECT count(*) FROM woken) >= 0`;

// Speculative insertion (ON CONFLICT) costs ~10% of a bulk insert: only when a key is given.
const JOB_INSERT_MANY_UNIQUE = JOB_INSERT_MANY_NOTIFYING.replace(
  'ON_CONFLICT',
  'ON CONFLICT (queue, unique_key) WHERE unique_key IS NOT NULL DO NOTHING',
);
const JOB_INSERT_MANY_PLAIN = JOB_INSERT_MANY_NOTIFYING.replace('ON_CONFLICT', '');

export async function jobInsertMany(db: Executor, schema: string, jobs: JobInsertParams[]) {
  const { rows } = await db.query<{ id: string; queue: string; unique_key: string | null }>(
    inSchema(
      jobs.some((j) => j.uniqueKey !== null) ? JOB_INSERT_MANY_UNIQUE : JOB_INSERT_MANY_PLAIN,
      schema,
    ),
    [
      jobs.map((j) => j.queue),
      jobs.map((j) => j.task),
      jobs.map((j) => j.payloadJson),
      jobs.map((j) => j.runAt),
      jobs.map((j) => j.delayMs ?? 0),
      jobs.map((j) => j.priority),
      jobs.map((j) => j.maxAttempts),
      jobs.map((j) => j.uniqueKey),
      jobs.map((j) => j.groupKey),
    ],
  );
  return rows;
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
