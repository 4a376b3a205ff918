// Prometheus metrics on prom-client, an optional peer: loaded on first use, so an app that never
// asks for metrics needs none of it installed and pays nothing. Queue gauges are read from the
// database at scrape time (one query per scrape, whatever the number of gauges); worker counters
// and histograms are fed by the worker's typed events.
import type { Gauge, Registry } from 'prom-client';
import type { Target } from '../core/target.js';
import { InvalidOptionsError } from '../core/errors.js';
import { queueCountsList } from '../queries/admin-browse.js';
import { camelRow } from '../core/camel-row.js';
import type { Worker } from '../worker/worker.js';
import type { JobEvent } from '../worker/events.js';

/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  /** Where the queue gauges are read at scrape time; without it there are no queue gauges. */
  target?: Target;
  /**
   * Queues on several clusters: the gauges are read from each (in parallel) and carry a
   * `cluster` label. Instead of `target`; `router.targets()` gives these.
   */
  clusters?: Record<string, Target>;
  /** The registry to add to. Default: a new one (not prom-client's global register). */
  registry?: Registry;
  /** Prefix of every metric name. Default `sluice_`. */
  prefix?: string;
  /** Buckets of the run and wait histograms, in seconds. */
  buckets?: number[];
  /** Called when reading the queue gauges fails (the scrape then reports `..._up 0`). */
  onError?: (err: unknown) => void;
}

/** The metrics of a process: what {@link createMetrics} returns. */
export interface Metrics {
  readonly registry: Registry;
  /** Counts `worker`'s outcomes and times its jobs; returns a function that stops it. */
  observe(worker: Worker): () => void;
  /** The exposition text, as a scrape gets it. */
  text(): Promise<string>;
  /** The Content-Type of {@link Metrics.text}. */
  readonly contentType: string;
}

/** A queue's live counts, as sluice/admin's listQueueCounts returns them. */
type QueueCountRow = ReturnType<
  typeof camelRow<Awaited<ReturnType<typeof queueCountsList>>[number]>
>;

/** prom-client's module.exports (CommonJS: the default export of its import). */
type PromClient = typeof import('prom-client');

const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

let loaded: Promise<PromClient> | undefined;
function loadPromClient(): Promise<PromClient> {
  loaded ??= import('prom-client').then(
    (m) => m.default,
    (err: unknown) => {
      loaded = undefined;
      throw new InvalidOptionsError(
        'metrics',
        'prom-client is not installed: add it next to sluice (npm install prom-client)',
        { cause: err },
      );
    },
  );
  return loaded;
}

/**
 * Prometheus metrics for a worker process or a dashboard (names in docs/observability.md). Job
 * ids are never labels: labels are queue, task, state, outcome.
 * @example
 * const metrics = await createMetrics({ target: { db: pool } });
 * metrics.observe(worker);
 * http.createServer(async (_q, res) => res.end(await metrics.text())).listen(9464);
 */
export async function createMetrics(options: MetricsOptions = {}): Promise<Metrics> {
  const pc = await loadPromClient();
  const registry = options.registry ?? new pc.Registry();
  const p = options.prefix ?? 'sluice_';
  const buckets = options.buckets ?? DEFAULT_BUCKETS;
  const registers = [registry];
  const counter = (name: string, help: string, labelNames = ['queue', 'task']) =>
    new pc.Counter({ name: p + name, help, labelNames, registers });
  const jobs = {
    completed: counter('jobs_completed_total', 'Jobs completed.'),
    failed: counter('job_attempts_failed_total', 'Attempts that failed (retried or dead after).'),
    retried: counter('jobs_retried_total', 'Failed attempts scheduled to run again.'),
    dead: counter('jobs_dead_total', 'Jobs moved to dead letters.'),
    cancelled: counter('jobs_cancelled_total', 'Running jobs cancelled.'),
    expired: counter('jobs_expired_total', 'Jobs claimed after their expiresAt, never run.'),
    rejected: counter(
      'stale_results_rejected_total',
      'Results refused because the lease was lost (rescued or cancelled meanwhile).',
    ),
  };
  const rescued = counter(
    'jobs_rescued_total',
    'Jobs whose lease expired or whose worker vanished, returned by the leader of this process.',
    ['queue', 'task', 'outcome'],
  );
  const histogram = (name: string, help: string) =>
    new pc.Histogram({ name: p + name, help, labelNames: ['queue', 'task'], buckets, registers });
  const runSeconds = histogram('job_run_seconds', 'Handler run time per attempt, in seconds.');
  const waitSeconds = histogram(
    'job_wait_seconds',
    'From a job being due to its handler starting, in seconds.',
  );
  const reconnects = new pc.Counter({
    name: p + 'listener_reconnects_total',
    help: 'Times the listener connection came back after a loss.',
    registers,
  });
  const leader = new pc.Gauge({
    name: p + 'worker_is_leader',
    help: '1 while this process leads (cron, maintenance, rescue), else 0.',
    registers,
  });
  const observed = new Set<Worker>();
  new pc.Gauge({
    name: p + 'worker_jobs_in_flight',
    help: 'Jobs this process holds: running or buffered.',
    registers,
    collect() {
      let n = 0;
      for (const w of observed) n += w.inFlight;
      this.set(n);
    },
  });
  const { target, clusters, onError } = options;
  if (target && clusters) {
    throw new InvalidOptionsError('metrics', 'give target or clusters, not both');
  }
  if (target) addQueueGauges(pc, registers, p, [[undefined, target]], onError);
  if (clusters) addQueueGauges(pc, registers, p, Object.entries(clusters), onError);

  const labels = (e: { job: { queue: string; task: string } }) => ({
    queue: e.job.queue,
    task: e.job.task,
  });
  return {
    registry,
    contentType: registry.contentType,
    text: () => registry.metrics(),
    observe(worker) {
      observed.add(worker);
      const ran = (e: JobEvent) => {
        if (e.durationMs !== undefined) runSeconds.observe(labels(e), e.durationMs / 1000);
      };
      const handlers = {
        'job:completed': (e: JobEvent) => (jobs.completed.inc(labels(e)), ran(e)),
        'job:failed': (e: JobEvent) => (jobs.failed.inc(labels(e)), ran(e)),
        'job:retried': (e: JobEvent) => jobs.retried.inc(labels(e)),
        'job:dead': (e: JobEvent) => jobs.dead.inc(labels(e)),
        'job:cancelled': (e: JobEvent) => jobs.cancelled.inc(labels(e)),
        'job:expired': (e: JobEvent) => jobs.expired.inc(labels(e)),
        'job:rejected': (e: JobEvent) => jobs.rejected.inc(labels(e)),
      } as const;
      const onActive = (e: { job: JobEvent['job']; waitMs: number }) =>
        waitSeconds.observe(labels(e), Math.max(0, e.waitMs) / 1000);
      const onRescued = (e: { job: JobEvent['job']; outcome: string }) =>
        rescued.inc({ ...labels(e), outcome: e.outcome });
      const onLeadership = ({ isLeader }: { isLeader: boolean }) => leader.set(isLeader ? 1 : 0);
      const onReconnect = () => reconnects.inc();
      for (const [event, fn] of Object.entries(handlers)) worker.on(event as 'job:dead', fn);
      worker.on('job:active', onActive);
      worker.on('job:rescued', onRescued);
      worker.on('leadership', onLeadership);
      worker.on('listener:reconnected', onReconnect);
      return () => {
        observed.delete(worker);
        for (const [event, fn] of Object.entries(handlers)) worker.off(event as 'job:dead', fn);
        worker.off('job:active', onActive);
        worker.off('job:rescued', onRescued);
        worker.off('leadership', onLeadership);
        worker.off('listener:reconnected', onReconnect);
      };
    },
  };
}

/** A queue's counts with the cluster they were read from (undefined: a single target). */
type ClusterRow = QueueCountRow & { cluster: string | undefined };

/**
 * Per-queue gauges, all set from one read of the live counts per scrape (per cluster). A
 * cluster whose read fails reports `..._up 0` and no queue gauges; the others still do.
 */
function addQueueGauges(
  pc: PromClient,
  registers: Registry[],
  p: string,
  targets: [string | undefined, Target][],
  onError: ((err: unknown) => void) | undefined,
): void {
  const isClustered = targets[0]?.[0] !== undefined;
  // Every gauge's collect runs in the same scrape: they share one read, memoised briefly.
  let read:
    | { at: number; rows: Promise<{ cluster: string | undefined; rows?: ClusterRow[] }[]> }
    | undefined;
  const reads = () => {
    if (!read || Date.now() - read.at > 500) {
      const rows = Promise.all(
        targets.map(([cluster, target]) =>
          queueCountsList({ ...target, queue: null }).then(
            (rs) => ({ cluster, rows: rs.map((r) => ({ ...camelRow(r), cluster })) }),
            (err: unknown) => {
              onError?.(err);
              return { cluster, rows: undefined };
            },
          ),
        ),
      );
      read = { at: Date.now(), rows };
    }
    return read.rows;
  };
  // The rows of every cluster that answered.
  const counts = async () => (await reads()).flatMap((r) => r.rows ?? []);
  // A gauge's labels: the cluster's too, when there are clusters.
  const at = (r: ClusterRow, labels: Record<string, string>) =>
    isClustered ? { cluster: r.cluster ?? '', ...labels } : labels;
  const withCluster = (names: string[]) => (isClustered ? ['cluster', ...names] : names);
  const gauge = (
    name: string,
    help: string,
    labelNames: string[],
    fill: (g: Gauge, rows: ClusterRow[]) => void,
  ) =>
    new pc.Gauge({
      name: p + name,
      help,
      labelNames: withCluster(labelNames),
      registers,
      async collect() {
        const rows = await counts();
        this.reset();
        fill(this, rows);
      },
    });
  gauge(
    'queue_jobs',
    'Jobs in the queue by state (ready, scheduled, running, blocked).',
    ['queue', 'state'],
    (g, rows) => {
      for (const r of rows) {
        for (const state of ['ready', 'scheduled', 'running', 'blocked'] as const) {
          g.set(at(r, { queue: r.queue, state }), r[state]);
        }
      }
    },
  );
  gauge('queue_dead_letters', 'Dead letters of the queue.', ['queue'], (g, rows) => {
    for (const r of rows) g.set(at(r, { queue: r.queue }), r.dead);
  });
  gauge(
    'queue_oldest_ready_age_seconds',
    'Age of the oldest ready job (0 when none).',
    ['queue'],
    (g, rows) => {
      for (const r of rows) g.set(at(r, { queue: r.queue }), r.oldestReadyAgeSeconds);
    },
  );
  gauge('queue_paused', '1 while the queue is paused.', ['queue'], (g, rows) => {
    for (const r of rows) g.set(at(r, { queue: r.queue }), r.isPaused ? 1 : 0);
  });
  new pc.Gauge({
    name: p + 'queue_stats_up',
    help: '1 when this scrape read the queue gauges from the database, 0 when that failed.',
    labelNames: withCluster([]),
    registers,
    async collect() {
      for (const r of await reads()) {
        const up = r.rows ? 1 : 0;
        if (isClustered) this.set({ cluster: r.cluster ?? '' }, up);
        else this.set(up);
      }
    },
  });
}
