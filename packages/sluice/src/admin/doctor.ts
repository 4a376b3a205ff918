// A health report of an installed schema: what the migrations should have built, compared with
// the catalog, plus the live worker processes and the leader. Behind `sluice doctor`.
import { z } from 'zod';
import { toExecutor, type Executor } from '../core/db.js';
import { migrations } from '../core/migrator.js';
import { assertSchemaName } from '../core/names.js';
import {
  catalogListMissing,
  historyDefaultCount,
  blockedListStranded,
  historyPartitionsCoverage,
  leaderListAll,
  migrationListApplied,
  parentIndexList,
  partitionIndexList,
  queueListPartitions,
  snapshotsListOld,
  workerListAll,
} from '../queries/doctor.js';
import type { AdminTarget } from '../queries/admin.js';
import { parseOptions } from '../core/options.js';

// What migrations 0001-0004 build and the runtime relies on. A new migration that adds a table,
// function or index of the job table adds its name here, and the doctor test keeps this honest.
const RELATIONS = [
  'migration',
  'job',
  'job_default',
  'job_id_seq',
  'job_history',
  'job_history_default',
  'dead_letter',
  'queue',
  'queue_rate',
  'schedule',
  'worker',
  'worker_waiting',
  'event_listener',
  'leader',
  'queue_stats',
  'all_jobs',
  'job_dependency',
  'flow_members',
  'history_partitions',
  'audit',
];
const FUNCTIONS = [
  'claim_limited',
  'check_name',
  'enqueue',
  'create_queue',
  'pause_queue',
  'resume_queue',
  'cancel_job',
  'retry_job',
  'replay_dead_letter',
  'replay_dead_letters',
  'create_history_partitions',
  'drop_history_partitions',
  'enqueue_flow',
  'release_dependents',
  'cancel_flow',
  'replay_flow',
  'expire_jobs',
];
const PARENT_INDEXES: Record<string, string[]> = {
  job: ['job_pkey', 'job_claim_idx', 'job_unique_key_idx', 'job_running_idx'],
  job_history: ['job_history_id_idx', 'job_history_finished_idx'],
};
// Today and tomorrow (UTC): a completion must never land in job_history_default.
const HISTORY_DAYS_AHEAD = 2;
// Rows counted in job_history_default before giving up counting.
const DEFAULT_COUNT_LIMIT = 10_000;

/** Stable codes of the problems {@link inspectSchema} reports. */
export type SchemaProblemCode =
  | 'SCHEMA_MISSING'
  | 'PENDING_MIGRATION'
  | 'MISSING_RELATION'
  | 'MISSING_FUNCTION'
  | 'MISSING_TRIGGER'
  | 'MISSING_PARTITION'
  | 'MISSING_INDEX'
  | 'INVALID_INDEX'
  | 'MISSING_HISTORY_PARTITION'
  | 'HISTORY_DEFAULT_NOT_EMPTY'
  | 'STRANDED_BLOCKED_JOB';

/** One thing that differs from the schema the migrations build. */
export interface SchemaProblem {
  code: SchemaProblemCode;
  message: string;
}

/** A registered worker process, as the doctor sees it. */
export interface WorkerStatus {
  id: string;
  host: string;
  pid: number;
  queues: string[];
  concurrency: number;
  startedAt: Date;
  heartbeatAt: Date;
  heartbeatAgeSeconds: number;
  /** No heartbeat for `staleAfterMs`: the process is probably gone. */
  isStale: boolean;
}

/** A leader lease row. */
export interface LeaderStatus {
  name: string;
  workerId: string;
  electedAt: Date;
  expiresAt: Date;
  /** False when the lease ran out and nobody renewed it. */
  isCurrent: boolean;
}

/** What {@link inspectSchema} found. `isHealthy` is true when `problems` is empty. */
export interface SchemaReport {
  schema: string;
  isHealthy: boolean;
  problems: SchemaProblem[];
  /**
   * Worth a look but not a broken schema: stale workers, no current leader, a newer schema, a
   * long-held snapshot that keeps vacuum from cleaning up after finished jobs.
   */
  warnings: string[];
  /** Transactions and replication slots holding back cleanup, oldest first (at most 5). */
  oldSnapshots: {
    kind: 'transaction' | 'replication slot';
    pid: number | null;
    database: string | null;
    applicationName: string;
    state: string | null;
    ageSeconds: number | null;
  }[];
  migrations: { applied: number[]; expected: number[]; pending: number[] };
  workers: WorkerStatus[];
  leaders: LeaderStatus[];
}

const optionsSchema = z
  .object({
    /** A worker whose heartbeat is older than this is flagged stale. Default 60 s. */
    staleAfterMs: z.number().int().min(1).default(60_000),
    /** A snapshot held longer than this is warned about. Default 5 min. */
    oldSnapshotAfterMs: z.number().int().min(1).default(300_000),
  })
  .strict();

/** Options of {@link inspectSchema}. */
export type InspectSchemaOptions = AdminTarget & z.input<typeof optionsSchema>;

/**
 * Compares the live schema with what this version's migrations build (pending migrations,
 * queue partitions, valid indexes on every partition, history partitions for today and
 * tomorrow, an empty `job_history_default`, the SQL functions) and lists the worker processes
 * and leader. Read-only. `staleAfterMs` defaults to 60 s (twice the default lease).
 * @example const report = await inspectSchema({ db: pool }); if (!report.isHealthy) console.log(report.problems);
 */
export async function inspectSchema(options: InspectSchemaOptions): Promise<SchemaReport> {
  const { db, schema: s, ...rest } = options ?? ({} as InspectSchemaOptions);
  const schema = assertSchemaName(s ?? 'sluice');
  const exec = toExecutor(db);
  const parsedData = parseOptions(optionsSchema, 'inspectSchema options', rest);
  const shipped = migrations(schema);
  const report: SchemaReport = {
    schema,
    isHealthy: false,
    problems: [],
    warnings: [],
    migrations: { applied: [], expected: shipped.map((m) => m.version), pending: [] },
    workers: [],
    leaders: [],
    oldSnapshots: [],
  };
  const problem = (code: SchemaProblemCode, message: string) =>
    report.problems.push({ code, message });

  const missing = await catalogListMissing(exec, schema, {
    relations: RELATIONS,
    functions: FUNCTIONS,
  });
  const missingRelations = new Set(missing.filter((m) => m.kind === 'relation').map((m) => m.name));
  if (missingRelations.size === RELATIONS.length) {
    problem('SCHEMA_MISSING', `schema "${schema}" is not installed: run \`sluice migrate\``);
    return report;
  }
  const has = (relation: string) => !missingRelations.has(relation);
  for (const m of missing) {
    if (m.kind === 'relation') problem('MISSING_RELATION', `${schema}.${m.name} is missing`);
    else problem('MISSING_FUNCTION', `function ${schema}.${m.name}() is missing`);
  }

  if (has('migration')) await checkMigrations(exec, report, shipped, problem);
  const queueOf = new Map<string, string>();
  if (has('queue') && has('job')) {
    for (const q of await queueListPartitions(exec, schema)) {
      queueOf.set(q.partition_name, q.queue);
      const part = `${schema}.${q.partition_name}`;
      if (!q.is_present) {
        problem('MISSING_PARTITION', `queue ${q.queue}: partition ${part} does not exist`);
      } else if (!q.is_attached) {
        problem(
          'MISSING_PARTITION',
          `queue ${q.queue}: partition ${part} is not attached to ${schema}.job`,
        );
      } else if (!q.is_bound_right) {
        problem(
          'MISSING_PARTITION',
          `queue ${q.queue}: partition ${part} is attached for other values`,
        );
      }
    }
  }
  for (const table of ['job', 'job_history'] as const) {
    if (has(table)) await checkIndexes(exec, schema, table, queueOf, problem);
  }
  if (has('history_partitions')) {
    for (const d of await historyPartitionsCoverage(exec, schema, HISTORY_DAYS_AHEAD)) {
      if (!d.is_covered) {
        problem(
          'MISSING_HISTORY_PARTITION',
          `no ${schema}.job_history partition covers ${d.day} (UTC): maintenance is not running on a leader`,
        );
      }
    }
  }
  if (has('job_history_default')) {
    const n = await historyDefaultCount(exec, schema, DEFAULT_COUNT_LIMIT);
    if (n > 0) {
      const count = n >= DEFAULT_COUNT_LIMIT ? `${n}+` : String(n);
      problem(
        'HISTORY_DEFAULT_NOT_EMPTY',
        `${schema}.job_history_default holds ${count} rows: their day partition was missing when they finished`,
      );
    }
  }
  if (has('job_dependency')) {
    for (const s of await blockedListStranded(exec, schema, 20)) {
      problem(
        'STRANDED_BLOCKED_JOB',
        s.is_gone
          ? `job ${s.id} is blocked on job ${s.depends_on}, which no longer exists anywhere (purged?): cancel it, or release it by calling ${schema}.release_dependents(ARRAY[${s.depends_on}], 'completed')`
          : `job ${s.id} is blocked on job ${s.depends_on}, which finished without releasing it: call ${schema}.release_dependents(ARRAY[${s.depends_on}], 'completed')`,
      );
    }
  }
  if (has('worker')) {
    report.workers = (await workerListAll(exec, schema)).map((w) => ({
      id: w.id,
      host: w.host,
      pid: w.pid,
      queues: w.queues,
      concurrency: w.concurrency,
      startedAt: w.started_at,
      heartbeatAt: w.heartbeat_at,
      heartbeatAgeSeconds: Math.max(0, w.heartbeat_age_ms / 1000),
      isStale: w.heartbeat_age_ms > parsedData.staleAfterMs,
    }));
    for (const w of report.workers.filter((x) => x.isStale)) {
      report.warnings.push(
        `worker ${w.id} (${w.host} pid ${w.pid}) has not heartbeated for ${Math.round(w.heartbeatAgeSeconds)}s`,
      );
    }
  }
  if (has('leader')) {
    report.leaders = (await leaderListAll(exec, schema)).map((l) => ({
      name: l.name,
      workerId: l.worker_id,
      electedAt: l.elected_at,
      expiresAt: l.expires_at,
      isCurrent: l.is_current,
    }));
    const live = report.workers.filter((w) => !w.isStale);
    if (live.length > 0 && !report.leaders.some((l) => l.isCurrent)) {
      report.warnings.push(
        'no current leader: rescue, retention and cron ticks wait for the next election',
      );
    }
  }
  report.oldSnapshots = (await snapshotsListOld(exec, parsedData.oldSnapshotAfterMs)).map((o) => ({
    kind: o.kind,
    pid: o.pid,
    database: o.database,
    applicationName: o.application_name,
    state: o.state,
    ageSeconds: o.age_ms === null ? null : Math.round(o.age_ms / 1000),
  }));
  for (const o of report.oldSnapshots) {
    const who =
      o.kind === 'transaction'
        ? `a transaction (pid ${o.pid}, ${o.applicationName || 'no application name'}, database ${o.database}, ${o.state}) has held its snapshot for ${o.ageSeconds}s`
        : `replication slot ${o.applicationName} (${o.state}) holds back xmin`;
    report.warnings.push(
      `${who}: vacuum cannot remove dead job rows meanwhile, so claims slow down until it ends`,
    );
  }
  report.isHealthy = report.problems.length === 0;
  return report;
}

async function checkMigrations(
  exec: Executor,
  report: SchemaReport,
  shipped: { version: number; name: string }[],
  problem: (code: SchemaProblemCode, message: string) => void,
): Promise<void> {
  const applied = await migrationListApplied(exec, report.schema);
  const done = new Set(applied.map((a) => a.version));
  const known = new Set(shipped.map((m) => m.version));
  report.migrations.applied = applied.map((a) => a.version);
  for (const m of shipped.filter((x) => !done.has(x.version))) {
    report.migrations.pending.push(m.version);
    problem(
      'PENDING_MIGRATION',
      `migration ${m.version} (${m.name}) is not applied: run \`sluice migrate\``,
    );
  }
  for (const a of applied.filter((x) => !known.has(x.version))) {
    report.warnings.push(
      `migration ${a.version} (${a.name}) is newer than this version of sluice: upgrade it`,
    );
  }
}

async function checkIndexes(
  exec: Executor,
  schema: string,
  table: 'job' | 'job_history',
  queueOf: Map<string, string>,
  problem: (code: SchemaProblemCode, message: string) => void,
): Promise<void> {
  const parents = await parentIndexList(exec, schema, table);
  const present = new Set(parents.map((p) => p.name));
  for (const name of PARENT_INDEXES[table] ?? []) {
    if (!present.has(name))
      problem('MISSING_INDEX', `index ${schema}.${name} on ${schema}.${table} is missing`);
  }
  // An invalid parent index is the symptom; the partitions below say which one lacks its index.
  for (const p of parents.filter((x) => !x.is_valid)) {
    problem('INVALID_INDEX', `index ${schema}.${p.name} on ${schema}.${table} is invalid`);
  }
  for (const r of await partitionIndexList(exec, schema, table)) {
    const queue = queueOf.get(r.partition);
    const where = `partition ${schema}.${r.partition}${queue === undefined ? '' : ` (queue ${queue})`}`;
    if (r.index === null) {
      problem('MISSING_INDEX', `${where} has no index for ${r.parent_index}`);
    } else if (!r.is_valid || !r.is_ready) {
      problem('INVALID_INDEX', `${where}: index ${r.index} (${r.parent_index}) is invalid`);
    }
  }
}
