// Workers for queues spread over several clusters: one Worker per cluster that holds any of the
// tasks' queues, each claiming only its cluster's queues and electing its own leader there (the
// leader's rescue, cron and maintenance are per database).
import { InvalidOptionsError } from '../core/errors.js';
import type { ClusterRouter } from '../client/cluster-router.js';
import { createWorker, type Worker } from './worker.js';
import type { WorkerOptions } from './worker-options.js';

/** Worker options without `db`: the router says where each queue lives. */
export type ClusterWorkersOptions = Omit<WorkerOptions, 'db'> & { router: ClusterRouter };

/**
 * One worker per cluster; start and stop them together.
 * @example
 * const workers = createClusterWorkers({ router, tasks: [sendEmail.handle(send), buildReport.handle(build)] });
 * await workers.start();
 * process.on('SIGTERM', () => void workers.stop());
 */
export class ClusterWorkers {
  /** The worker of each cluster, by cluster name. */
  readonly workers: ReadonlyMap<string, Worker>;

  constructor(options: ClusterWorkersOptions) {
    const { router, ...rest } = options;
    const queues = rest.queues ?? [...new Set(rest.tasks.map((t) => t.queue))];
    const byCluster = new Map<string, string[]>();
    for (const q of queues) {
      const c = router.clusterOf(q);
      byCluster.set(c, [...(byCluster.get(c) ?? []), q]);
    }
    if (byCluster.size === 0)
      throw new InvalidOptionsError('cluster workers', 'no queue to work on');
    this.workers = new Map(
      [...byCluster].map(([cluster, qs]) => [
        cluster,
        createWorker({ ...rest, db: router.urlOf(cluster), queues: qs }),
      ]),
    );
  }

  /** Starts every cluster's worker. */
  async start(): Promise<void> {
    await Promise.all([...this.workers.values()].map((w) => w.start()));
  }

  /** Stops every cluster's worker (see Worker.stop). */
  async stop(options: { graceMs?: number } = {}): Promise<void> {
    await Promise.all([...this.workers.values()].map((w) => w.stop(options)));
  }
}

/**
 * Workers for the tasks' queues on whichever clusters the router places them.
 * @example const workers = createClusterWorkers({ router, tasks }); await workers.start();
 */
export function createClusterWorkers(options: ClusterWorkersOptions): ClusterWorkers {
  return new ClusterWorkers(options);
}
