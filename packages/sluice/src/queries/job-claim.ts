// Worker-side claims of sluice.job: from the head of the claim index or from a start point,
// the claim of limited queues, and the limits that choose between them. Finishing statements are
// in job-worker.ts, lease upkeep and rescue in job-lease.ts. Every statement names the queue (the
// partition key) so the planner prunes to one partition; a claim's UPDATE names the partition.
import type { Executor } from '../core/db.js';
import { inSchema } from '../core/schema-sql.js';
import type { TraceCarrier } from '../core/types.js';

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
// The locked rows are then updated by ctid (a TID scan) in the queue's partition, named outright:
// through the parent, the `queue = $1` needed for pruning also let the planner read the whole
// partition's primary key with the ctids as a filter, which it costs by live rows only, so it
// chose that whenever the queue looked nearly empty (steady light load): every claim then walked
// every dead entry, 9 ms a claim in the soak while a snapshot held vacuum back. Joining on id
// instead let a generic plan hash-join against a seq scan of the whole partition. On the
// partition itself the choice is a TID scan or a seq scan, costed by its real size. The row
// locks keep the ctids stable until the update. started_at stays NULL until the handler starts (a
// claimed job may wait in the worker's local buffer): the worker writes it for handlers still
// running after a moment (jobMarkStarted), and the finishing statement fills it otherwise.
/**
 * 'head': from the head of job_claim_idx. 'after': from a start point (a priority and a run_at,
 * taken from an earlier claim, less a margin for jobs written a little behind it), then the
 * lower priorities: the entries before the start point belong to jobs already claimed, dead until
 * vacuum, and a scan from the head walks all of them (with a 1M backlog half drained, ~4 ms a
 * claim; while a long transaction holds vacuum back, every entry finished since it began). It
 * claims nothing while a due job of higher priority waits. 'above': only jobs of a higher
 * priority than $5, from the head (cheap: that range holds none of the lower priority's dead
 * entries).
 */
type ClaimMode = 'head' | 'after' | 'above';

const PICK = `FROM sluice.job n
  WHERE n.queue = $1 AND n.state = 'pending' AND n.run_at <= now()
    AND NOT EXISTS (SELECT 1 FROM sluice.queue q WHERE q.name = $1 AND q.is_paused)`;
const ORDER = 'ORDER BY n.priority DESC, n.run_at, n.id LIMIT $2 FOR UPDATE OF n SKIP LOCKED';

function claimSql(mode: ClaimMode): string {
  // Each part reads one range of the index in its order; UNION ALL runs them in turn, so the
  // lower priorities are read only when the start point's own range is used up. A locking clause
  // is not allowed on a UNION branch itself, hence the sub-selects.
  const picked = {
    head: `SELECT n.ctid ${PICK} ${ORDER}`,
    after: `SELECT a.ctid FROM (SELECT n.ctid ${PICK}
    AND n.priority = $5 AND n.run_at >= $6::timestamptz - $7::float8 * interval '1 millisecond'
    AND NOT EXISTS (SELECT 1 FROM sluice.job h WHERE h.queue = $1 AND h.state = 'pending'
      AND h.priority > $5 AND h.run_at <= now())
    ${ORDER}) a
  UNION ALL
  SELECT b.ctid FROM (SELECT n.ctid ${PICK} AND n.priority < $5 ${ORDER}) b
  LIMIT $2`,
    above: `SELECT n.ctid ${PICK} AND n.priority > $5 ${ORDER}`,
  }[mode];
  return `
UPDATE sluice.${PARTITION} j
SET state = 'running', attempt = j.attempt + 1, worker_id = $3, started_at = NULL,
  lease_expires_at = now() + $4::float8 * interval '1 millisecond'
WHERE j.ctid = ANY(ARRAY(
  ${picked}
))
RETURNING j.id::text AS id, j.queue, j.task, j.payload, j.attempt, j.max_attempts, j.group_key,
  (extract(epoch FROM j.created_at) * 1000)::float8 AS created_at_ms, j.run_options,
  j.expires_at <= now() AS is_expired, j.trace_context,
  (extract(epoch FROM now() - j.run_at) * 1000)::float8 AS due_wait_ms, j.priority,
  j.run_at::text AS run_at, ${CLAIMED_AT}`;
}
// Unquoted, so inSchema sees `sluice.` followed by a name and rewrites it for other schemas.
const PARTITION = '__partition__';
const JOB_CLAIMS = { head: claimSql('head'), after: claimSql('after'), above: claimSql('above') };
const claimTexts = new Map<string, string>();

/** The claim statement of `mode` for one partition (memoised: a handful of queues per worker). */
function claimText(mode: ClaimMode, schema: string, partition: string): string {
  const key = `${mode}\u0000${schema}\u0000${partition}`;
  let text = claimTexts.get(key);
  if (text === undefined) {
    // Partition names are made by sluice.create_queue from [a-z0-9_] only; quoted all the same.
    text = inSchema(JOB_CLAIMS[mode], schema).replace(
      PARTITION,
      `"${partition.replace(/"/g, '""')}"`,
    );
    claimTexts.set(key, text);
  }
  return text;
}

/**
 * Where a claim may start its index scan: a priority and a run_at (as Postgres wrote it), less
 * `marginMs`.
 */
export interface ClaimStart {
  priority: number;
  runAt: string;
  marginMs: number;
}

/** Claims from the head, or `after` a start point, or only `above` its priority (see claimSql). */
export async function jobClaim(
  db: Executor,
  schema: string,
  p: {
    queue: string;
    /** The queue's partition (sluice.queue.partition_name, from queueLimitsGet). */
    partition: string;
    limit: number;
    workerId: string;
    leaseMs: number;
    after?: ClaimStart;
    above?: number;
  },
) {
  const params: unknown[] = [p.queue, p.limit, p.workerId, p.leaseMs];
  let mode: ClaimMode = 'head';
  if (p.after) {
    mode = 'after';
    params.push(p.after.priority, p.after.runAt, p.after.marginMs);
  } else if (p.above !== undefined) {
    mode = 'above';
    params.push(p.above);
  }
  // The head claim is named: planning it each time cost ~10% of a drain. The other two are
  // planned with their parameters each time: as prepared statements their generic plans found the
  // claimed rows by a scan of the partition's primary key (16 ms with 60k rows) instead of by
  // ctid, the partition's row estimate being low after a drain.
  const { rows } = await db.query<ClaimedJob>(
    claimText(mode, schema, p.partition),
    params,
    mode === 'head' ? `${schema}_job_claim_${p.partition}` : undefined,
  );
  return rows;
}

/**
 * The first job of a claim in index order (highest priority, then earliest run_at): where the
 * next claim may start, less `marginMs`. run_at compares as text: Postgres writes it in one fixed
 * format per session, and a wrong pick only moves the start point within what this claim took.
 */
export function claimStartOf(
  jobs: readonly ClaimedJob[],
  marginMs: number,
): ClaimStart | undefined {
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
  return best && { priority: best.priority, runAt: best.run_at, marginMs };
}

export interface QueueLimits {
  name: string;
  /** The queue's partition of sluice.job: claims update it by name. */
  partition_name: string;
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
      `SELECT q.name, q.partition_name, q.is_paused,
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
