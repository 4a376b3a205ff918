// Statements that keep a job's lease true: extension by lease token, the handler's start,
// progress, and the leader's rescue of lapsed leases. Like the finishing statements, each is
// conditional on the lease token or the lease time, and names the queue where it can.
import type { Executor } from '../core/db.js';
import { inSchema } from '../core/schema-sql.js';
import { DEAD_LETTER_KEPT_COLUMNS, deadLetterKeptValues } from './row-moves.js';

// Extends the leases of the jobs this worker really holds, by lease token (id and attempt), and
// reports which of them were asked to cancel. Never every running row under the worker id: a
// completion lost in a server crash leaves its row running under a live worker, and extending it
// by worker id kept it alive (and unrescued) for as long as the worker lived. Queues are listed so
// partition pruning applies. Rows locked right now are skipped, not waited for: the lock is this
// worker's own completion deleting them (waiting for it, in another row order, deadlocked the
// two under a drain) or a short admin write, and the next beat extends what is still held.
const JOB_EXTEND_LEASES = `
UPDATE sluice.job j
SET lease_expires_at = now() + $3::float8 * interval '1 millisecond'
WHERE j.queue = ANY($1::text[]) AND (j.id, j.queue) IN (
  SELECT n.id, n.queue FROM sluice.job n
  WHERE n.queue = ANY($1::text[]) AND n.id = ANY($4::bigint[])
    AND n.attempt = ($5::jsonb ->> n.id::text)::int AND n.worker_id = $2
    AND (n.state = 'running') IS TRUE
  FOR UPDATE OF n SKIP LOCKED)
RETURNING j.id::text AS id, j.cancel_requested_at IS NOT NULL AS is_cancel_requested`;

export async function jobExtendLeases(
  db: Executor,
  schema: string,
  p: {
    queues: string[];
    workerId: string;
    leaseMs: number;
    jobs: { id: string; attempt: number }[];
  },
) {
  let ids = '';
  let attempts = '';
  for (const { id, attempt } of p.jobs) {
    const sep = ids === '' ? '' : ',';
    ids += sep + id;
    attempts += `${sep}"${id}":${attempt}`;
  }
  const { rows } = await db.query<{ id: string; is_cancel_requested: boolean }>(
    inSchema(JOB_EXTEND_LEASES, schema),
    [p.queues, p.workerId, p.leaseMs, `{${ids}}`, `{${attempts}}`],
  );
  return rows;
}

// Records when handlers started, for jobs still running a moment after their start (readers
// show a claimed job as not yet started until then). `ran_ms` is measured by the worker, so the
// time itself comes from the database clock.
const JOB_MARK_STARTED = `
UPDATE sluice.job j
SET started_at = now() - ($4::jsonb ->> j.id::text)::float8 * interval '1 millisecond'
WHERE j.queue = ANY($1::text[]) AND j.id = ANY($3::bigint[])
  AND j.attempt = ($5::jsonb ->> j.id::text)::int AND j.worker_id = $2 AND (j.state = 'running') IS TRUE
  AND j.started_at IS NULL`;

export async function jobMarkStarted(
  db: Executor,
  schema: string,
  p: { queues: string[]; workerId: string; jobs: { id: string; attempt: number; ranMs: number }[] },
) {
  const ids = p.jobs.map((j) => j.id).join(',');
  const ran = p.jobs.map((j) => `"${j.id}":${j.ranMs}`).join(',');
  const attempts = p.jobs.map((j) => `"${j.id}":${j.attempt}`).join(',');
  await db.query(inSchema(JOB_MARK_STARTED, schema), [
    p.queues,
    p.workerId,
    `{${ids}}`,
    `{${ran}}`,
    `{${attempts}}`,
  ]);
}

export async function jobProgressSet(
  db: Executor,
  schema: string,
  p: { queue: string; id: string; attempt: number; workerId: string; progressJson: string },
) {
  await db.query(
    inSchema(
      // A 'progress' event only for a listener that asked for them.
      `WITH p AS (
         UPDATE sluice.job SET progress = $5::jsonb
         WHERE queue = $1 AND id = $2 AND attempt = $3 AND worker_id = $4 AND state = 'running'
         RETURNING id, task, attempt, progress
       )
       SELECT sluice.notify_job_events(ARRAY[sluice.job_event('progress', p.id, $1, p.task,
         p.attempt, sluice.job_event_value('progress', p.progress))]) FROM p
       WHERE EXISTS (SELECT 1 FROM sluice.event_listener WHERE wants_progress)`,
      schema,
    ),
    [p.queue, p.id, p.attempt, p.workerId, p.progressJson],
  );
}

// Rescue: jobs whose lease expired, or whose worker is gone (unregistered at shutdown or removed
// as stale), go back to pending with back-off, or to dead letters when out of attempts. Attempts
// were counted at claim, so a job that kills its process every time still reaches dead letters
// after max_attempts. Only running rows are read (the partial job_running_idx of each partition),
// so the worker check costs one primary-key probe per running row, not a scan of the backlog.
// One queue per statement: every locking statement stays on one partition (and one shard of a
// Postgres distributed by queue).
const JOB_RESCUE_EXPIRED = `
WITH expired AS (
  SELECT j.id, j.queue,
    CASE WHEN j.lease_expires_at < now() THEN 'lease expired: the worker stopped heartbeating'
      ELSE 'worker gone: it stopped or was removed as stale while holding the job' END AS why
  FROM sluice.job j
  WHERE j.queue = $3 AND j.state = 'running' AND (j.lease_expires_at < now()
    OR ($4 AND NOT EXISTS (SELECT 1 FROM sluice.worker w WHERE w.id = j.worker_id)))
  ORDER BY j.lease_expires_at
  LIMIT $1
  FOR UPDATE OF j SKIP LOCKED
), retried AS (
  UPDATE sluice.job j
  SET state = 'pending', worker_id = NULL, lease_expires_at = NULL,
    run_at = now() + least(3600000, $2::float8 * 2 ^ least(j.attempt - 1, 20)) * interval '1 millisecond',
    errors = j.errors || jsonb_build_array(jsonb_build_object('attempt', j.attempt,
      'name', 'LeaseExpired', 'message', e.why, 'worker_id', j.worker_id, 'at', now()))
  FROM expired e
  WHERE j.queue = e.queue AND j.id = e.id AND j.attempt < j.max_attempts
  RETURNING j.id, j.queue, j.task, j.attempt, 'retried' AS outcome, e.why
), dead AS (
  DELETE FROM sluice.job j
  USING expired e
  WHERE j.queue = e.queue AND j.id = e.id AND j.attempt >= j.max_attempts
  RETURNING j.*, e.why
), buried AS (
  INSERT INTO sluice.dead_letter (${DEAD_LETTER_KEPT_COLUMNS}, errors, reason, started_at)
  SELECT ${deadLetterKeptValues('d')},
    d.errors || jsonb_build_array(jsonb_build_object('attempt', d.attempt, 'name', 'LeaseExpired',
      'message', d.why, 'worker_id', d.worker_id, 'at', now())),
    'attempts_exhausted', d.started_at
  FROM dead d
  RETURNING id, queue, task, attempt, 'dead' AS outcome, errors, has_dependents
), released AS (
  SELECT sluice.release_dependents(array_agg(b.id), 'dead') FROM buried b
  WHERE b.has_dependents HAVING count(*) > 0
), notified AS (
  SELECT sluice.notify_job_events(array_agg(o.event)) FROM (
    SELECT sluice.job_event('retried', r.id, r.queue, r.task, r.attempt,
      jsonb_build_object('error', jsonb_build_object('name', 'LeaseExpired', 'message', r.why)))
      AS event FROM retried r
    UNION ALL
    SELECT sluice.job_event('dead', b.id, b.queue, b.task, b.attempt,
      sluice.job_event_error(b.errors -> -1)) FROM buried b) o
  WHERE EXISTS (SELECT 1 FROM sluice.event_listener) HAVING count(*) > 0
)
SELECT id, queue, task, attempt, outcome FROM retried
WHERE (SELECT count(*) FROM released) + (SELECT count(*) FROM notified) >= 0
UNION ALL SELECT id, queue, task, attempt, outcome FROM buried`;

export async function jobRescueExpired(
  db: Executor,
  schema: string,
  p: { queue: string; limit: number; backoffMs: number; isWorkerGoneChecked: boolean },
) {
  // Unnamed, so planned with its parameters: without the worker check the scan is the range of
  // lapsed leases in job_running_idx. With it, every running entry is read, the dead ones of
  // finished jobs too (430 ms a pass during a 1M drain), so it runs only when a worker is known
  // gone and every tenth pass (see Leader.rescue); a lease outlives its worker by leaseMs at most.
  const { rows } = await db.query<{
    id: string;
    queue: string;
    task: string;
    attempt: number;
    outcome: 'retried' | 'dead';
  }>(inSchema(JOB_RESCUE_EXPIRED, schema), [p.limit, p.backoffMs, p.queue, p.isWorkerGoneChecked]);
  return rows;
}
