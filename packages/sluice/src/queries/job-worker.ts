// Worker-side statements on sluice.job that finish a claimed job (complete, fail, release,
// cancel); claims are in job-claim.ts, lease upkeep and rescue in job-lease.ts.
// Every statement names the queue (the partition key) so the planner prunes to one partition,
// and every finishing statement is conditional on the lease token (id, attempt, worker_id,
// state = 'running'): a stale worker's late result matches no row and is never applied.
import type { Executor } from '../core/db.js';
import { inSchema } from '../core/schema-sql.js';
import {
  DEAD_LETTER_KEPT_COLUMNS,
  deadLetterKeptValues,
  HISTORY_KEPT_COLUMNS,
  historyKeptValues,
} from './row-moves.js';

// Completion moves the row to history in one statement (or just deletes it when the queue keeps
// no history: history_retention = 0). Rows are found by primary key (id = ANY) and each row's
// lease token and result are looked up in jsonb objects keyed by id, not joined from unnest: the
// generic plan of a prepared statement cannot know the batch size, and picked a nested loop
// that compared every row with every input (1,000 × 1,000 per batch).
const JOB_COMPLETE = `
WITH done AS (
  DELETE FROM sluice.job j
  WHERE j.queue = $1 AND j.id = ANY($2::bigint[])
    AND j.attempt = ($3::jsonb ->> j.id::text)::int AND j.worker_id = $5 AND (j.state = 'running') IS TRUE
  RETURNING j.*, $4::jsonb -> j.id::text AS result, $6::jsonb ->> j.id::text AS ran_ms
), kept AS (
  INSERT INTO sluice.job_history (${HISTORY_KEPT_COLUMNS}, state, result, started_at)
  SELECT ${historyKeptValues('d')}, 'completed', d.result,
    coalesce(d.started_at, now() - (d.ran_ms)::float8 * interval '1 millisecond')
  FROM done d
  -- A flow member's result is kept for its dependents even where the queue keeps no history.
  WHERE d.has_dependents
    OR (SELECT q.history_retention > interval '0' FROM sluice.queue q WHERE q.name = $1)
), notified AS (
  -- Job events, only while a producer listens (waitForJob, listenJobEvents): NOTIFY serialises
  -- commits, which cost ~20% of drain throughput when always on. The EXISTS is in WHERE, not
  -- HAVING, so without a listener no event is even built (a one-time filter).
  SELECT sluice.notify_job_events(array_agg(sluice.job_event('completed', d.id, $1, d.task,
    d.attempt, sluice.job_event_value('result', d.result)))) FROM done d
  WHERE EXISTS (SELECT 1 FROM sluice.event_listener) HAVING count(*) > 0
), released AS (
  -- Flows: only rows with dependents call the release, so a plain batch never does.
  SELECT sluice.release_dependents(array_agg(d.id), 'completed') FROM done d
  WHERE d.has_dependents HAVING count(*) > 0
)
SELECT id::text AS id FROM done
WHERE (SELECT count(*) FROM notified) + (SELECT count(*) FROM released) >= 0`;

/** Writes completions; returns the ids whose lease token still matched (as text). */
export async function jobComplete(
  db: Executor,
  schema: string,
  p: {
    queue: string;
    workerId: string;
    jobs: {
      token: { id: string; attempt: number };
      resultJson: string | null;
      startedAt?: number;
    }[];
  },
) {
  // The three parameters are built as literals in one pass (ids as a Postgres array, attempts and
  // results as JSON objects keyed by id): completion is per job on the drain path, and pg's own
  // array conversion plus Object.fromEntries cost more than the statement's parameters are worth.
  let ids = '';
  let attempts = '';
  let results = '';
  // How long each handler has run, so history's started_at is when it started (database clock).
  let ranMs = '';
  const now = Date.now();
  for (const { token, resultJson, startedAt } of p.jobs) {
    const sep = ids === '' ? '' : ',';
    ids += sep + token.id;
    attempts += `${sep}"${token.id}":${token.attempt}`;
    ranMs += `${sep}"${token.id}":${startedAt === undefined ? 0 : now - startedAt}`;
    if (resultJson !== null) results += `${results === '' ? '' : ','}"${token.id}":${resultJson}`;
  }
  const { rows } = await db.query<{ id: string }>(
    inSchema(JOB_COMPLETE, schema),
    [p.queue, `{${ids}}`, `{${attempts}}`, `{${results}}`, p.workerId, `{${ranMs}}`],
    `${schema}_job_complete`,
  );
  return rows;
}

// Failure: retry with back-off while attempts remain and the error is not permanent, otherwise
// move to dead_letter with every attempt's error. One statement for the whole batch.
const JOB_FAIL = `
WITH t AS (
  SELECT * FROM unnest($2::bigint[], $3::int[], $4::float8[], $5::text[], $6::boolean[],
      $8::float8[])
    AS t(id, attempt, delay_ms, error, is_permanent, ran_ms)
), retried AS (
  UPDATE sluice.job j
  SET state = 'pending', run_at = now() + t.delay_ms * interval '1 millisecond',
    errors = j.errors || jsonb_build_array(t.error::jsonb || jsonb_build_object('at', now())),
    worker_id = NULL,
    lease_expires_at = NULL
  FROM t
  WHERE j.queue = $1 AND j.id = t.id AND j.attempt = t.attempt AND j.worker_id = $7
    AND j.state = 'running' AND j.attempt < j.max_attempts AND NOT t.is_permanent
  RETURNING j.id, j.task, j.attempt, t.error
), dead AS (
  DELETE FROM sluice.job j
  USING t
  WHERE j.queue = $1 AND j.id = t.id AND j.attempt = t.attempt AND j.worker_id = $7
    AND j.state = 'running' AND (j.attempt >= j.max_attempts OR t.is_permanent)
  RETURNING j.*, t.error AS last_error, t.is_permanent, t.ran_ms
), buried AS (
  INSERT INTO sluice.dead_letter (${DEAD_LETTER_KEPT_COLUMNS}, errors, reason, started_at)
  SELECT ${deadLetterKeptValues('d')},
    d.errors || jsonb_build_array(d.last_error::jsonb || jsonb_build_object('at', now())),
    CASE WHEN d.is_permanent THEN 'permanent' ELSE 'attempts_exhausted' END,
    coalesce(d.started_at, now() - d.ran_ms * interval '1 millisecond')
  FROM dead d
  RETURNING id, task, attempt, errors, has_dependents
), released AS (
  SELECT sluice.release_dependents(array_agg(b.id), 'dead') FROM buried b
  WHERE b.has_dependents HAVING count(*) > 0
), notified AS (
  SELECT sluice.notify_job_events(array_agg(o.event)) FROM (
    SELECT sluice.job_event('retried', r.id, $1, r.task, r.attempt,
      sluice.job_event_error(r.error::jsonb)) AS event FROM retried r
    UNION ALL
    SELECT sluice.job_event('dead', b.id, $1, b.task, b.attempt,
      sluice.job_event_error(b.errors -> -1)) FROM buried b) o
  WHERE EXISTS (SELECT 1 FROM sluice.event_listener) HAVING count(*) > 0
)
SELECT id, 'retried' AS outcome FROM retried
WHERE (SELECT count(*) FROM notified) + (SELECT count(*) FROM released) >= 0
UNION ALL
SELECT id, 'dead' AS outcome FROM buried`;

export async function jobFail(
  db: Executor,
  schema: string,
  p: {
    queue: string;
    workerId: string;
    jobs: {
      id: string;
      attempt: number;
      delayMs: number;
      errorJson: string;
      isPermanent: boolean;
      startedAt?: number;
    }[];
  },
) {
  const now = Date.now();
  const { rows } = await db.query<{ id: string; outcome: 'retried' | 'dead' }>(
    inSchema(JOB_FAIL, schema),
    [
      p.queue,
      p.jobs.map((j) => j.id),
      p.jobs.map((j) => j.attempt),
      p.jobs.map((j) => j.delayMs),
      p.jobs.map((j) => j.errorJson),
      p.jobs.map((j) => j.isPermanent),
      p.workerId,
      p.jobs.map((j) => (j.startedAt === undefined ? 0 : now - j.startedAt)),
    ],
  );
  return rows;
}

// Gives jobs back to the queue. `refund` undoes the attempt (jobs claimed but never started, or
// snoozed); otherwise the attempt stays counted (aborted at shutdown after running).
const JOB_RELEASE = `
UPDATE sluice.job j
SET state = 'pending', attempt = j.attempt - CASE WHEN t.refund THEN 1 ELSE 0 END,
  run_at = now() + t.delay_ms * interval '1 millisecond', worker_id = NULL,
  lease_expires_at = NULL,
  errors = CASE WHEN t.error IS NULL THEN j.errors
    ELSE j.errors || jsonb_build_array(t.error::jsonb || jsonb_build_object('at', now())) END
FROM unnest($2::bigint[], $3::int[], $4::boolean[], $5::float8[], $6::text[])
  AS t(id, attempt, refund, delay_ms, error)
WHERE j.queue = $1 AND j.id = t.id AND j.attempt = t.attempt AND j.worker_id = $7
  AND j.state = 'running'
RETURNING j.id`;

export async function jobRelease(
  db: Executor,
  schema: string,
  p: {
    queue: string;
    workerId: string;
    jobs: {
      id: string;
      attempt: number;
      refund: boolean;
      delayMs: number;
      errorJson: string | null;
    }[];
  },
) {
  const { rows } = await db.query<{ id: string }>(inSchema(JOB_RELEASE, schema), [
    p.queue,
    p.jobs.map((j) => j.id),
    p.jobs.map((j) => j.attempt),
    p.jobs.map((j) => j.refund),
    p.jobs.map((j) => j.delayMs),
    p.jobs.map((j) => j.errorJson),
    p.workerId,
  ]);
  return rows.map((r) => r.id);
}

// A running job that ends without a result: cancelled (by its handler, or on request) or, for a
// job claimed after its expires_at, expired (never run). It moves to history in that state, its
// dependents follow their policy, and job-event listeners hear of it.
const JOB_END_RUNNING = `
WITH gone AS (
  DELETE FROM sluice.job j
  WHERE j.queue = $1 AND j.id = $2 AND j.attempt = $3 AND j.worker_id = $4 AND j.state = 'running'
  RETURNING j.*
), kept AS (
  INSERT INTO sluice.job_history (${HISTORY_KEPT_COLUMNS}, state, cancel_reason, started_at)
  SELECT ${historyKeptValues('g')}, $6, $5,
    CASE WHEN $6 = 'expired' THEN NULL ELSE coalesce(g.started_at, now()) END
  FROM gone g
  RETURNING id, task, attempt, has_dependents
), released AS (
  SELECT sluice.release_dependents(array_agg(k.id), $6) FROM kept k
  WHERE k.has_dependents HAVING count(*) > 0
), notified AS (
  -- Job events (listenJobEvents, waitForJob), only while a producer listens.
  SELECT sluice.notify_job_events(ARRAY[sluice.job_event($6, k.id, $1, k.task, k.attempt,
    CASE WHEN $6 = 'cancelled' THEN jsonb_build_object('reason', $5::text) END)]) FROM kept k
  WHERE EXISTS (SELECT 1 FROM sluice.event_listener)
)
SELECT id FROM kept WHERE (SELECT count(*) FROM released) + (SELECT count(*) FROM notified) >= 0`;

/** Ends a running job by its lease token as cancelled (default) or expired; false if not held. */
export async function jobCancelRunning(
  db: Executor,
  schema: string,
  p: {
    queue: string;
    id: string;
    attempt: number;
    workerId: string;
    reason: string;
    state?: 'cancelled' | 'expired';
  },
) {
  const { rows } = await db.query(inSchema(JOB_END_RUNNING, schema), [
    p.queue,
    p.id,
    p.attempt,
    p.workerId,
    p.reason,
    p.state ?? 'cancelled',
  ]);
  return rows.length > 0;
}
