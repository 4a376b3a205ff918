// Row types of the Sluice schema: the one source of truth for Kysely and for query results.
// Keep in step with migrations/: packages/sluice/test/schema.test.ts compares them with the
// migrated schema.

// Kysely's column markers, written out (the same shape, so Kysely reads them as its own) so that
// these declarations do not need kysely installed.
/** A column whose select, insert and update types differ (Kysely's ColumnType). */
interface ColumnType<S, I = S, U = S> {
  readonly __select__: S;
  readonly __insert__: I;
  readonly __update__: U;
}
/** A column the database fills in: optional on insert (Kysely's Generated). */
type Generated<S> = ColumnType<S, S | undefined, S>;

/** Timestamps come back from pg as Date; inserts may pass Date or an ISO string. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- only the select type matters
type SelectOf<C> = C extends ColumnType<infer S, any, any> ? SelectOf<S> : C;

/** A row as it is read back: each column's select type (Kysely's Selectable). */
export type Selected<T> = { [K in keyof T]: SelectOf<T[K]> };

/** A timestamptz column: read as a Date, written as a Date or an ISO string. */
export type Timestamp = ColumnType<Date, Date | string, Date | string>;
/** A jsonb column: any JSON value. */
export type Json = unknown;

/** State of an unfinished job in `sluice.job`. */
export type ActiveJobState = 'pending' | 'running' | 'blocked';
/** State of a finished job in `sluice.job_history`. */
export type FinishedJobState = 'completed' | 'cancelled' | 'expired';
/** Every state `sluice.all_jobs` reports. */
export type JobState = ActiveJobState | FinishedJobState | 'dead';

/** `sluice.queue`: one row per queue, with its limits and retention. */
export interface QueueTable {
  name: string;
  partition_name: string;
  is_paused: Generated<boolean>;
  concurrency_limit: number | null;
  rate_limit: number | null;
  rate_window_ms: Generated<number>;
  group_concurrency_limit: number | null;
  group_rate_limit: number | null;
  max_payload_bytes: Generated<number>;
  history_retention: Generated<string>;
  dead_letter_retention: Generated<string>;
  created_at: Generated<Timestamp>;
  updated_at: Generated<Timestamp>;
}

/** A W3C Trace Context carrier, as stored with a job (`sluice.job.trace_context`). */
export interface TraceCarrier {
  traceparent: string;
  tracestate?: string;
}

/** `sluice.job`: unfinished jobs (pending, running, blocked), partitioned by queue. */
export interface JobTable {
  id: Generated<string>;
  queue: string;
  task: string;
  payload: Generated<Json>;
  state: Generated<ActiveJobState>;
  priority: Generated<number>;
  run_at: Generated<Timestamp>;
  attempt: Generated<number>;
  max_attempts: Generated<number>;
  unique_key: string | null;
  group_key: string | null;
  worker_id: string | null;
  lease_expires_at: Timestamp | null;
  progress: Json;
  errors: Generated<Json>;
  cancel_requested_at: Timestamp | null;
  created_at: Generated<Timestamp>;
  started_at: Timestamp | null;
  /** The flow it belongs to (its first member's id); null outside flows. */
  flow_id: string | null;
  /** Unfinished dependencies of a blocked job. */
  waiting_for: number | null;
  has_dependents: Generated<boolean>;
  expires_at: Timestamp | null;
  /** Per-job `{ timeoutMs, retry }`. */
  run_options: Json;
  /** The enqueuer's trace context (OpenTelemetry), kept through retries and replays. */
  trace_context: TraceCarrier | null;
}

/** `sluice.job_history`: completed and cancelled jobs, partitioned by UTC day. */
export interface JobHistoryTable {
  id: string;
  queue: string;
  task: string;
  payload: Json;
  state: FinishedJobState;
  priority: number;
  run_at: Timestamp;
  attempt: number;
  max_attempts: number;
  unique_key: string | null;
  group_key: string | null;
  worker_id: string | null;
  progress: Json;
  errors: Generated<Json>;
  result: Json;
  cancel_reason: string | null;
  created_at: Timestamp;
  started_at: Timestamp | null;
  finished_at: Generated<Timestamp>;
  flow_id: string | null;
  has_dependents: Generated<boolean>;
  run_options: Json;
  trace_context: TraceCarrier | null;
}

/** `sluice.dead_letter`: jobs out of attempts or failed permanently. */
export interface DeadLetterTable {
  id: string;
  queue: string;
  task: string;
  payload: Json;
  priority: number;
  run_at: Timestamp;
  attempt: number;
  max_attempts: number;
  unique_key: string | null;
  group_key: string | null;
  progress: Json;
  errors: Generated<Json>;
  reason: string;
  created_at: Timestamp;
  started_at: Timestamp | null;
  failed_at: Generated<Timestamp>;
  flow_id: string | null;
  has_dependents: Generated<boolean>;
  run_options: Json;
  trace_context: TraceCarrier | null;
}

/** `sluice.job_dependency`: job_id waits for depends_on; outcome is set once depends_on finished. */
export interface JobDependencyTable {
  job_id: string;
  job_queue: string;
  depends_on: string;
  position: number;
  on_failure: Generated<'fail' | 'ignore' | 'cancel'>;
  outcome: 'completed' | 'dead' | 'cancelled' | 'expired' | null;
  created_at: Generated<Timestamp>;
  finished_at: Timestamp | null;
}

/** `sluice.job_log`: ctx.log lines, per job and attempt in the order written (seq). */
export interface JobLogTable {
  job_id: string;
  attempt: number;
  seq: number;
  at: Generated<Timestamp>;
  level: Generated<string>;
  message: string;
  fields: Json;
}

/** `sluice.schedule`: cron schedules and their next tick. */
export interface ScheduleTable {
  name: string;
  cron: string;
  timezone: Generated<string>;
  task: string;
  queue: string;
  payload: Generated<Json>;
  priority: Generated<number>;
  max_attempts: number | null;
  is_enabled: Generated<boolean>;
  missed_policy: Generated<'run_once' | 'run_all' | 'skip'>;
  max_catch_up: Generated<number>;
  next_run_at: Timestamp | null;
  last_run_at: Timestamp | null;
  created_at: Generated<Timestamp>;
  updated_at: Generated<Timestamp>;
}

/** `sluice.worker`: live worker processes and their heartbeats. */
export interface WorkerTable {
  id: string;
  host: string;
  pid: number;
  queues: string[];
  concurrency: number;
  started_at: Generated<Timestamp>;
  heartbeat_at: Generated<Timestamp>;
}

/** `sluice.worker_waiting`: which idle workers wait on which queue (for NOTIFY). */
export interface WorkerWaitingTable {
  queue: string;
  worker_id: string;
  since: Generated<Timestamp>;
}

/** `sluice.event_listener`: live job-event listeners (finish NOTIFYs are sent only while one exists). */
export interface EventListenerTable {
  id: string;
  heartbeat_at: Generated<Timestamp>;
  /** Wants 'active' events (workers announce their claims). */
  wants_active: Generated<boolean>;
  /** Wants 'progress' events. */
  wants_progress: Generated<boolean>;
}

/** `sluice.leader`: the leader lease. */
export interface LeaderTable {
  name: string;
  worker_id: string;
  elected_at: Generated<Timestamp>;
  expires_at: Timestamp;
}

/** `sluice.queue_rate`: recent claims of rate-limited queues. */
export interface QueueRateTable {
  queue: string;
  group_key: string;
  window_start: Timestamp;
  started: number;
}

/** `sluice.history_partitions`: the day partitions of job_history with their bounds. */
export interface HistoryPartitionsView {
  name: string | null;
  from_at: Timestamp | null;
  to_at: Timestamp | null;
}

/** `sluice.migration`: applied migrations. */
export interface MigrationTable {
  version: number;
  name: string;
  applied_at: Generated<Timestamp>;
}

/** `sluice.audit`: operator actions (the dashboard's), one row each (migration 0014). */
export interface AuditTable {
  id: Generated<string>;
  at: Generated<Timestamp>;
  actor: string;
  action: string;
  target: string | null;
  filter: Json;
  count: number | null;
}

/** `sluice.queue_stats`: per-queue counts. */
export interface QueueStatsView {
  queue: string;
  is_paused: boolean;
  ready: string;
  scheduled: string;
  running: string;
  blocked: string;
  dead: string;
  completed_last_hour: string;
  oldest_ready_age_seconds: number;
}

/** `sluice.all_jobs`: every job wherever it lives, with one state column. */
export interface AllJobsView {
  id: string;
  queue: string;
  task: string;
  state: JobState;
  payload: Json;
  priority: number;
  run_at: Timestamp;
  attempt: number;
  max_attempts: number;
  unique_key: string | null;
  group_key: string | null;
  worker_id: string | null;
  progress: Json;
  errors: Json;
  result: Json;
  created_at: Timestamp;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
  flow_id: string | null;
}

/** `sluice.flow_members`: every member of a flow, its state and the ids it depends on. */
export interface FlowMembersView {
  flow_id: string;
  id: string;
  queue: string;
  task: string;
  state: JobState;
  attempt: number;
  max_attempts: number;
  created_at: Timestamp;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
  depends_on: string[];
}

/**
 * Kysely `Database` interface of the default `sluice` schema, keyed `schema.table`.
 * @example const db = new Kysely<SluiceDatabase>({ dialect }); await db.selectFrom('sluice.queue_stats').selectAll().execute();
 */
export interface SluiceDatabase {
  'sluice.queue': QueueTable;
  'sluice.job': JobTable;
  'sluice.job_history': JobHistoryTable;
  'sluice.dead_letter': DeadLetterTable;
  'sluice.schedule': ScheduleTable;
  'sluice.worker': WorkerTable;
  'sluice.worker_waiting': WorkerWaitingTable;
  'sluice.migration': MigrationTable;
  'sluice.event_listener': EventListenerTable;
  'sluice.leader': LeaderTable;
  'sluice.queue_rate': QueueRateTable;
  'sluice.audit': AuditTable;
  'sluice.history_partitions': HistoryPartitionsView;
  'sluice.queue_stats': QueueStatsView;
  'sluice.all_jobs': AllJobsView;
  'sluice.job_dependency': JobDependencyTable;
  'sluice.job_log': JobLogTable;
  'sluice.flow_members': FlowMembersView;
}
