// Flow statements: enqueueing a whole flow (sluice.enqueue_flow, one call), the checks that let
// the client refuse bad input before writing, a handler's dependency results, the completion
// inside a handler's transaction, and the operator's reads and actions on a flow.
import type { Executor } from '../core/db.js';
import { inSchema } from '../core/schema-sql.js';
import { HISTORY_KEPT_COLUMNS, historyKeptValues } from './row-moves.js';

/** Writes a flow given as JSON members (see migrations/0013_flows.sql); ids in input order. */
export async function flowEnqueue(db: Executor, schema: string, membersJson: string) {
  const { rows } = await db.query<{ ref: string; id: string }>(
    inSchema(`SELECT ref, id::text AS id FROM sluice.enqueue_flow($1::jsonb)`, schema),
    [membersJson],
  );
  return rows;
}

/** How each job depended on by id stands: unfinished, or how it finished; absent: missing. */
export async function dependencyStates(db: Executor, schema: string, ids: string[]) {
  const { rows } = await db.query<{ id: string; state: string }>(
    inSchema(
      `SELECT i.id::text AS id, coalesce(
         (SELECT 'unfinished' FROM sluice.job j WHERE j.id = i.id),
         (SELECT 'dead' FROM sluice.dead_letter d WHERE d.id = i.id),
         (SELECT h.state FROM sluice.job_history h WHERE h.id = i.id LIMIT 1)) AS state
       FROM unnest($1::bigint[]) AS i(id)`,
      schema,
    ),
    [ids],
  );
  return new Map(rows.filter((r) => r.state !== null).map((r) => [r.id, r.state]));
}

export interface DependencyRow {
  id: string;
  task: string | null;
  queue: string | null;
  state: 'completed' | 'dead' | 'cancelled' | 'expired' | 'pending';
  result: unknown;
  error: { name?: string; message?: string } | null;
}

// A dependent's dependencies in their stable order, with results (history) or the last error
// (dead letters). Only run when a handler asks.
const DEPENDENCIES_READ = `
SELECT d.depends_on::text AS id, coalesce(h.task, dl.task) AS task, coalesce(h.queue, dl.queue) AS queue,
  coalesce(d.outcome, 'pending') AS state, h.result, dl.errors -> -1 AS error
FROM sluice.job_dependency d
LEFT JOIN LATERAL (SELECT hh.task, hh.queue, hh.result FROM sluice.job_history hh
  WHERE hh.id = d.depends_on LIMIT 1) h ON true
LEFT JOIN sluice.dead_letter dl ON dl.id = d.depends_on
WHERE d.job_id = $1
ORDER BY d.position, d.depends_on`;

export async function dependenciesRead(db: Executor, schema: string, jobId: string) {
  const { rows } = await db.query<DependencyRow>(inSchema(DEPENDENCIES_READ, schema), [jobId]);
  return rows;
}

// Completion inside the handler's own transaction, for one job by its lease token. A lost lease
// raises (SQLSTATE SL409) instead of matching nothing, so the COMMIT sent with it in the same
// round trip never commits the handler's writes.
const JOB_COMPLETE_HELD = `
WITH done AS (
  DELETE FROM sluice.job j
  WHERE j.queue = $1 AND j.id = $2 AND j.attempt = $3 AND j.worker_id = $4 AND j.state = 'running'
  RETURNING j.*, $5::jsonb AS result, $6::float8 AS ran_ms
), kept AS (
  INSERT INTO sluice.job_history (${HISTORY_KEPT_COLUMNS}, state, result, started_at)
  SELECT ${historyKeptValues('d')}, 'completed', d.result,
    coalesce(d.started_at, now() - d.ran_ms * interval '1 millisecond')
  FROM done d
  WHERE d.has_dependents
    OR (SELECT q.history_retention > interval '0' FROM sluice.queue q WHERE q.name = $1)
), released AS (
  SELECT sluice.release_dependents(array_agg(d.id), 'completed') FROM done d
  WHERE d.has_dependents HAVING count(*) > 0
), notified AS (
  SELECT sluice.notify_job_events(ARRAY[sluice.job_event('completed', d.id, $1, d.task,
    d.attempt, sluice.job_event_value('result', d.result))]) FROM done d
  WHERE EXISTS (SELECT 1 FROM sluice.event_listener)
)
SELECT sluice.lease_held((SELECT count(*) FROM done) = 1, $2)
WHERE (SELECT count(*) FROM released) + (SELECT count(*) FROM notified) >= 0`;

/** The completion statement with its values inlined, to be sent with COMMIT in one query. */
export function jobCompleteHeldText(
  schema: string,
  quote: (value: string) => string,
  p: {
    queue: string;
    id: string;
    attempt: number;
    workerId: string;
    resultJson: string | null;
    ranMs: number;
  },
) {
  // Simple-query protocol (several statements, no parameters): values become quoted literals.
  const values = [
    quote(p.queue),
    `${BigInt(p.id)}`,
    `${Math.trunc(p.attempt)}`,
    quote(p.workerId),
    p.resultJson === null ? 'NULL' : quote(p.resultJson),
    `${Number(p.ranMs) || 0}`,
  ];
  return inSchema(JOB_COMPLETE_HELD, schema).replace(/\$(\d)/g, (_, n: string) => values[+n - 1]!);
}

export interface FlowMemberRow {
  flow_id: string;
  id: string;
  queue: string;
  task: string;
  state: string;
  attempt: number;
  max_attempts: number;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  depends_on: string[];
}

/** The flow a job belongs to (its own id when it is the first member), or undefined. */
export async function flowOf(db: Executor, schema: string, jobId: string) {
  const { rows } = await db.query<{ flow_id: string | null }>(
    inSchema(`SELECT flow_id::text AS flow_id FROM sluice.all_jobs WHERE id = $1 LIMIT 1`, schema),
    [jobId],
  );
  return rows[0]?.flow_id ?? undefined;
}

export async function flowMembers(db: Executor, schema: string, flowId: string, limit: number) {
  const { rows } = await db.query<FlowMemberRow>(
    inSchema(
      `SELECT flow_id::text AS flow_id, id::text AS id, queue, task, state, attempt, max_attempts,
         created_at, started_at, finished_at, depends_on::text[] AS depends_on
       FROM sluice.flow_members WHERE flow_id = $1 ORDER BY id LIMIT $2`,
      schema,
    ),
    [flowId, limit],
  );
  return rows;
}

export async function flowCancel(db: Executor, schema: string, flowId: string, reason: string) {
  const { rows } = await db.query<{ n: number }>(
    inSchema(`SELECT sluice.cancel_flow($1, $2) AS n`, schema),
    [flowId, reason],
  );
  return rows[0]?.n ?? 0;
}

export async function flowReplay(db: Executor, schema: string, flowId: string) {
  const { rows } = await db.query<{ n: number }>(
    inSchema(`SELECT sluice.replay_flow($1) AS n`, schema),
    [flowId],
  );
  return rows[0]?.n ?? 0;
}

/** The leader's sweep of one queue's unstarted jobs past their expiry (sluice.expire_jobs). */
export async function jobsExpire(db: Executor, schema: string, queue: string, limit: number) {
  const { rows } = await db.query<{ n: number }>(
    inSchema(`SELECT sluice.expire_jobs($1, $2) AS n`, schema),
    [limit, queue],
  );
  return rows[0]?.n ?? 0;
}
