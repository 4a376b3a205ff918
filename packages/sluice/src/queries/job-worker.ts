// Worker-side statements on sluice.job: claim and finish (complete, fail, release, cancel);
// lease upkeep and rescue are in job-lease.ts.
// Every statement names the queue (the partition key) so the planner prunes to one partition,
// and every finishing statement is conditional on the lease token (id, attempt, worker_id,
// state = 'running'): a stale worker's late result matches no row and is never applied.
import type { Executor } from '../core/db.js';
import { inSchema } from '../core/schema-sql.js';
import type { TraceCarrier } from '../core/types.js';
import {
  DEAD_LETTER_KEPT_COLUMNS,
  deadLetterKeptValues,
  HISTORY_KEPT_COLUMNS,
  historyKeptValues,
} from './row-moves.js';

export interface ClaimedJob {
  id: string;
  queue: string;
  task: string;
  payload: unknown;
  attempt: number;
  max_attempts: number;
  group_key: string | null;
  /** Epoch milliseconds: a number is far cheaper for pg to hand over than a parsed Date. */
  created_at_ms: number;
  /** Per-job timeoutMs and retry policy (JSON), null for most jobs. */
  run_options: { timeoutMs?: number; retry?: unknown } | null;
  /** Its expires_at had passed at claim: finished as expired, never run. Null: no expiry. */
  is_expired: boolean | null;
  /** Milliseconds from its due time (run_at) to the claim, by the database clock. */
  due_wait_ms: number;
  /** Set by the worker on arrival (its own clock), for the wait until the handler starts. */
  claimed_at_ms: number | null;
  /** The enqueuer's W3C trace context (`{ traceparent, tracestate? }`), null for most jobs. */
  trace_context: TraceCarrier | null;
  priority: number;
  /** As text: only handed back to the next claim (see claimStartOf). */
  run_at: string;
}

// A column the worker fills in on arrival: the row object has it from the start, so the
// assignment is a plain store (adding a property to 1,000s of pg row objects a second changed
// their shape and slowed every later read of them: ~8% of a drain's CPU in a profile).
const CLAIMED_AT = 'NULL::float8 AS claimed_at_ms';

// The paused check is an InitPlan evaluated once. ORDER BY matches job_claim_idx exactly, so the
// scan reads the index in order and stops at LIMIT; SKIP LOCKED lets workers claim side by side.
// The locked rows are then updated by ctid (a TID scan): joining on id instead let the generic
// plan of this prepared statement hash-join against a seq scan of the whole partition, which made
// every claim cost O(backlog) (30 ms for 200 jobs out of 50,000). Both halves name the same
// queue, so partition pruning leaves one partition and the ctids belong to it; the row locks
// keep those ctids stable until the update. started_at stays NULL until the handler starts (a
// claimed job may wait in the worker's local buffer): the worker writes it for handlers still
// running after a moment (jobMarkStarted), and the finishing statement fills it otherwise.
function claimSql(isAfter: boolean): string {
  // After a full claim, the next one may start its index scan where that one started (same
  // priority, run_at at or after it) instead of at the head of the index: the entries before
  // it belong to jobs already claimed, dead until vacuum, and a scan from the head walks all of
  // them (with a 1M backlog half drained, ~4 ms a claim; while a long transaction holds vacuum
  // back, without bound). It claims nothing while a due job of higher priority waits (a cheap
  // check: the higher-priority range holds no dead entries of this priority), so the worker
  // falls back to a claim from the head: priority order is kept.
  const after = isAfter
    ? `AND n.priority = $5 AND n.run_at >= $6::timestamptz
    AND NOT EXISTS (SELECT 1 FROM sluice.job h WHERE h.queue = $1 AND h.state = 'pending'
      AND h.priority > $5 AND h.run_at <= now())`
    : '';
  return `
UPDATE sluice.job j
SET state = 'running', attempt = j.attempt + 1, worker_id = $3, started_at = NULL,
  lease_expires_at = now() + $4::float8 * interval '1 millisecond'
WHERE j.queue = $1 AND j.ctid = ANY(ARRAY(
  SELECT n.ctid FROM sluice.job n
  WHERE n.queue = $1 AND n.state = 'pending' AND n.run_at <= now() ${after}
    AND NOT EXISTS (SELECT 1 FROM sluice.queue q WHERE q.name = $1 AND q.is_paused)
  ORDER BY n.priority DESC, n.run_at, n.id
  LIMIT $2
  FOR UPDATE OF n SKIP LOCKED
))
RETURNING j.id::text AS id, j.queue, j.task, j.payload, j.attempt, j.max_attempts, j.group_key,
  (extract(epoch FROM j.created_at) * 1000)::float8 AS created_at_ms, j.run_options,
  j.expires_at <= now() AS is_expired, j.trace_context,
  (extract(epoch FROM now() - j.run_at) * 1000)::float8 AS due_wait_ms, j.priority,
  j.run_at::text AS run_at, ${CLAIMED_AT}`;
}
const JOB_CLAIM = claimSql(false);
const JOB_CLAIM_AFTER = claimSql(true);

/** Where a claim may start its index scan: a priority and a run_at (as Postgres wrote it). */
export interface ClaimStart {
  priority: number;
  runAt: string;
}

export async function jobClaim(
  db: Executor,
  schema: string,
  p: { queue: string; limit: number; workerId: string; leaseMs: number; after?: ClaimStart },
) {
  const params: unknown[] = [p.queue, p.limit, p.workerId, p.leaseMs];
  if (p.after) params.push(p.after.priority, p.after.runAt);
  // Named: the worker runs it thousands of times a second; planning it each time cost ~10%.
  const { rows } = await db.query<ClaimedJob>(
    inSchema(p.after ? JOB_CLAIM_AFTER : JOB_CLAIM, schema),
    params,
    `${schema}_job_claim${p.after ? '_after' : ''}`,
  );
  return rows;
}

/**
 * The first job of a claim in index order (highest priority, then earliest run_at): where the
 * next claim may start. run_at compares as text: Postgres writes it in one fixed format per
 * session, and a wrong pick only makes the next claim start earlier or fall back.
 */
export function claimStartOf(jobs: readonly ClaimedJob[]): ClaimStart | undefined {
  let best: ClaimedJob | undefined;
  for (const j of jobs) {
    if (
      !best ||
      j.priority > best.priority ||
      (j.priority === best.priority && j.run_at < best.run_at)
    ) {
      best = j;
    }
  }
  return best && { priority: best.priority, runAt: best.run_at };
}

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

export interface QueueLimits {
  name: string;
  is_paused: boolean;
  is_limited: boolean;
}

/**
 * Which of `queues` are paused or have limits, and whether a listener wants 'active' events; the
 * worker refreshes this on every poll.
 */
export async function queueLimitsGet(db: Executor, schema: string, queues: string[]) {
  const { rows } = await db.query<
    { [K in keyof QueueLimits]: QueueLimits[K] | null } & { wants_active: boolean }
  >(
    inSchema(
      // Also whether a job-event listener wants 'active' events: one row even without queues.
      `SELECT q.name, q.is_paused,
         (q.concurrency_limit IS NOT NULL OR q.rate_limit IS NOT NULL
           OR q.group_concurrency_limit IS NOT NULL OR q.group_rate_limit IS NOT NULL) AS is_limited,
         l.wants_active
       FROM (SELECT EXISTS (SELECT 1 FROM sluice.event_listener WHERE wants_active) AS wants_active) l
       LEFT JOIN sluice.queue q ON q.name = ANY($1::text[])`,
      schema,
    ),
    [queues],
  );
  return {
    limits: rows.filter((r): r is QueueLimits & { wants_active: boolean } => r.name !== null),
    wantsActive: rows[0]?.wants_active === true,
  };
}

/** The claim for queues with limits (see migrations/0004_flow_control.sql). */
export async function jobClaimLimited(
  db: Executor,
  schema: string,
  p: { queue: string; limit: number; workerId: string; leaseMs: number },
) {
  const { rows } = await db.query<ClaimedJob>(
    inSchema(
      `SELECT c.id, c.queue, c.task, c.payload, c.attempt, c.max_attempts, c.group_key,
         (extract(epoch FROM c.created_at) * 1000)::float8 AS created_at_ms, j.run_options,
         j.expires_at <= now() AS is_expired, j.trace_context,
         (extract(epoch FROM now() - j.run_at) * 1000)::float8 AS due_wait_ms, j.priority,
         j.run_at::text AS run_at, ${CLAIMED_AT}
       FROM sluice.claim_limited($1, $2, $3, $4) c
       JOIN sluice.job j ON j.queue = $1 AND j.id = c.id`,
      schema,
    ),
    [p.queue, p.limit, p.workerId, p.leaseMs],
  );
  return rows;
}
