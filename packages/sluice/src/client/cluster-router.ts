// Queues placed on several Postgres clusters: a router from queue name to the cluster that holds
// it, for producers (enqueue, enqueueMany, flows) and for workers (one Worker per cluster, see
// worker/cluster-workers.ts). Every statement stays on one cluster; a flow must too, since its
// release runs inside one database's finishing statement.
import pg from 'pg';
import { z } from 'zod';
import type { Task } from './define-task.js';
import {
  enqueue,
  enqueueMany,
  type BulkJob,
  type EnqueuedJob,
  type JobOptions,
} from './enqueue.js';
import type { EnqueuedFlow, Flow } from '../flows/flow.js';
import { InvalidFlowError, InvalidOptionsError } from '../core/errors.js';
import { assertName, assertSchemaName } from '../core/names.js';
import { parseOptions } from '../core/options.js';
import type { Target } from '../core/target.js';

const routerOptionsSchema = z
  .object({
    clusters: z
      .record(z.string().min(1), z.string().min(1))
      .refine((c) => Object.keys(c).length > 0, {
        message: 'give at least one cluster',
      }),
    queues: z.record(z.string(), z.string()).default({}),
    defaultCluster: z.string().optional(),
    schema: z.string().optional(),
    poolMax: z.number().int().min(1).max(100).default(4),
  })
  .strict()
  .superRefine((o, ctx) => {
    for (const [queue, cluster] of Object.entries(o.queues)) {
      if (!(cluster in o.clusters)) {
        ctx.addIssue({
          code: 'custom',
          message: `queue ${queue} is placed on unknown cluster ${cluster}`,
        });
      }
    }
    if (o.defaultCluster !== undefined && !(o.defaultCluster in o.clusters)) {
      ctx.addIssue({
        code: 'custom',
        message: `defaultCluster ${o.defaultCluster} is not a cluster`,
      });
    }
  });

/** Where each queue lives: cluster name → connection string, queue → cluster name. */
export type ClusterRouterOptions = z.input<typeof routerOptionsSchema>;

/** A job written through a router, with the cluster it went to. */
export interface RoutedJob extends EnqueuedJob {
  cluster: string;
}

/**
 * Routes producers' writes by queue to the cluster that holds it. Writes go through the router's
 * own pools; to enqueue inside your own transaction, use `target(queue)`'s cluster for it.
 * @example
 * const router = createClusterRouter({
 *   clusters: { main: process.env.PG_MAIN!, bulk: process.env.PG_BULK! },
 *   queues: { reports: 'bulk' },
 *   defaultCluster: 'main',
 * });
 * await router.enqueue(buildReport, { month: '2026-11' }); // on the bulk cluster
 */
export class ClusterRouter {
  readonly #o: z.output<typeof routerOptionsSchema>;
  readonly #pools = new Map<string, pg.Pool>();

  constructor(options: ClusterRouterOptions) {
    this.#o = parseOptions(routerOptionsSchema, 'cluster router options', options);
    assertSchemaName(this.#o.schema ?? 'sluice');
    for (const queue of Object.keys(this.#o.queues)) assertName('queue', queue);
  }

  /** Cluster names, in the order given. */
  get clusters(): string[] {
    return Object.keys(this.#o.clusters);
  }

  /** The connection string of a cluster. */
  urlOf(cluster: string): string {
    const url = this.#o.clusters[cluster];
    if (url === undefined) throw new InvalidOptionsError('cluster', `unknown cluster ${cluster}`);
    return url;
  }

  /** The cluster that holds `queue`; throws for a queue placed nowhere (and no default). */
  clusterOf(queue: string): string {
    const cluster = this.#o.queues[queue] ?? this.#o.defaultCluster;
    if (cluster === undefined) {
      throw new InvalidOptionsError(
        'queue',
        `queue ${queue} is on no cluster: place it in queues or give a defaultCluster`,
      );
    }
    return cluster;
  }

  /** The queues placed on `cluster` by name (the default cluster also takes unlisted ones). */
  queuesOn(cluster: string): string[] {
    return Object.entries(this.#o.queues)
      .filter(([, c]) => c === cluster)
      .map(([q]) => q);
  }

  /** Whether unlisted queues live on `cluster`. */
  isDefault(cluster: string): boolean {
    return this.#o.defaultCluster === cluster;
  }

  /** The pool of a cluster (made on first use, closed by `close()`). */
  pool(cluster: string): pg.Pool {
    let pool = this.#pools.get(cluster);
    if (!pool) {
      pool = new pg.Pool({ connectionString: this.urlOf(cluster), max: this.#o.poolMax });
      pool.on('error', () => undefined);
      this.#pools.set(cluster, pool);
    }
    return pool;
  }

  /** Each cluster's pool and the schema, by cluster name (for createMetrics' `clusters`). */
  targets(): Record<string, Target> {
    return Object.fromEntries(
      this.clusters.map((c) => [c, { db: this.pool(c), schema: this.#o.schema }]),
    );
  }

  /** Where `queue`'s jobs are written: its cluster's pool and the schema. */
  target(queue: string): Target {
    return { db: this.pool(this.clusterOf(queue)), schema: this.#o.schema };
  }

  /** Enqueues on the cluster of the job's queue. */
  async enqueue<S extends z.ZodType>(
    task: Task<S>,
    payload: z.input<S>,
    options: JobOptions = {},
  ): Promise<RoutedJob> {
    const cluster = this.clusterOf(options.queue ?? task.queue);
    const job = await enqueue(task, payload, {
      ...options,
      db: this.pool(cluster),
      schema: this.#o.schema,
    });
    return { ...job, cluster };
  }

  /**
   * Enqueues many jobs: one `enqueueMany` per cluster. Atomic per cluster, not across them.
   * Returns the jobs in input order.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each job carries its own task type
  async enqueueMany(jobs: readonly BulkJob<any>[]): Promise<RoutedJob[]> {
    const byCluster = new Map<string, number[]>();
    jobs.forEach((j, i) => {
      const c = this.clusterOf(j.queue ?? j.task.queue);
      const list = byCluster.get(c);
      if (list) list.push(i);
      else byCluster.set(c, [i]);
    });
    const out = new Array<RoutedJob>(jobs.length);
    for (const [cluster, idx] of byCluster) {
      const written = await enqueueMany(
        idx.map((i) => jobs[i]!),
        { db: this.pool(cluster), schema: this.#o.schema },
      );
      idx.forEach((i, k) => (out[i] = { ...written[k]!, cluster }));
    }
    return out;
  }

  /**
   * Writes a flow on the one cluster all its members' queues live on; a flow across clusters is
   * refused before anything is written (its releases run inside one database).
   */
  async enqueueFlow(
    flow: Flow,
    options: { db?: Target['db'] } = {},
  ): Promise<EnqueuedFlow & { cluster: string }> {
    const clusters = new Map<string, string[]>();
    for (const q of flow.queues) {
      const c = this.clusterOf(q);
      clusters.set(c, [...(clusters.get(c) ?? []), q]);
    }
    if (clusters.size !== 1) {
      const where = [...clusters].map(([c, qs]) => `${c} (${qs.join(', ')})`).join(' and ');
      throw new InvalidFlowError(
        `its members' queues are on different clusters, ${where}: a flow stays on one cluster (place those queues together, or split the flow and link the parts from a handler)`,
      );
    }
    const [cluster] = [...clusters.keys()] as [string];
    const written = await flow.enqueue({
      db: options.db ?? this.pool(cluster),
      schema: this.#o.schema,
    });
    return { ...written, cluster };
  }

  /** Closes the router's pools. */
  async close(): Promise<void> {
    await Promise.all([...this.#pools.values()].map((p) => p.end()));
    this.#pools.clear();
  }
}

/**
 * A router from queue names to the clusters that hold them.
 * @example const router = createClusterRouter({ clusters: { a: urlA, b: urlB }, queues: { mail: 'a', reports: 'b' } });
 */
export function createClusterRouter(options: ClusterRouterOptions): ClusterRouter {
  return new ClusterRouter(options);
}
