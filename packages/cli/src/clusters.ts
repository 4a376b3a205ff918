// `--clusters <file>`: queues placed on several Postgres clusters, read from the same JSON the
// library's createClusterRouter takes. Commands that name a queue go to its cluster, list and
// report commands run on every cluster (or `--cluster`), and commands that name a job, flow,
// dead letter or schedule need `--cluster` when there is more than one (ids are per cluster).
import { readFileSync } from 'node:fs';
import { createClusterRouter, type ClusterRouter } from 'sluice';
import { CliError } from './cli-error.js';
import { assertDatabaseUrl } from './connection.js';

/** The cluster options of the program (`--clusters`, `--cluster`). */
export interface ClusterOptions {
  clusters?: string;
  cluster?: string;
  databaseUrl?: string;
}

/** Which statements a command runs where: by queue, on one cluster, or on each. */
export type Scope = { queue: string } | 'one' | 'each';

const routers = new Map<string, ClusterRouter>();

/** The router of `--clusters` (or $SLUICE_CLUSTERS), or undefined without one. */
export function clusterRouterOf(o: ClusterOptions): ClusterRouter | undefined {
  const file = o.clusters ?? process.env.SLUICE_CLUSTERS;
  if (file === undefined || file === '') {
    if (o.cluster !== undefined) throw new CliError('--cluster needs --clusters <file>');
    return undefined;
  }
  if (o.databaseUrl !== undefined) {
    throw new CliError('give --clusters or --database-url, not both');
  }
  let router = routers.get(file);
  if (!router) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new CliError(`cannot read --clusters ${file}: ${(err as Error).message}`);
    }
    let options: unknown;
    try {
      options = JSON.parse(text);
    } catch (err) {
      throw new CliError(`--clusters ${file} is not JSON: ${(err as Error).message}`);
    }
    // The library checks the shape (a typed error names what is wrong); the CLI, the URLs.
    router = createClusterRouter(options as Parameters<typeof createClusterRouter>[0]);
    for (const c of router.clusters) assertDatabaseUrl(router.urlOf(c), `cluster ${c} URL`);
    routers.set(file, router);
  }
  if (o.cluster !== undefined && !router.clusters.includes(o.cluster)) {
    throw new CliError(`unknown cluster ${o.cluster}: ${file} has ${router.clusters.join(', ')}`);
  }
  return router;
}

/** The clusters a command in `scope` runs on, each with its URL. */
export function clustersFor(
  router: ClusterRouter,
  o: ClusterOptions,
  scope: Scope,
): { cluster: string; url: string }[] {
  const at = (cluster: string) => ({ cluster, url: router.urlOf(cluster) });
  if (o.cluster !== undefined) return [at(o.cluster)];
  if (typeof scope === 'object') return [at(router.clusterOf(scope.queue))];
  if (scope === 'each' || router.clusters.length === 1) return router.clusters.map(at);
  throw new CliError(
    `this command works on one cluster (ids and schedules are per cluster): give --cluster ` +
      `(one of ${router.clusters.join(', ')})`,
  );
}

/** The rows of each cluster in one list, each tagged with its cluster when there are clusters. */
export function tagged<T extends object>(
  results: { cluster: string | undefined; value: T[] }[],
): (T & { cluster?: string })[] {
  return results.flatMap(({ cluster, value }) =>
    cluster === undefined ? value : value.map((v) => ({ cluster, ...v })),
  );
}

/** A table's headers, rows and alignment with a leading CLUSTER column when rows carry one. */
export function withClusterColumn<R extends { cluster?: string }>(
  rows: R[],
  headers: string[],
  cells: (r: R) => string[],
  align: ('left' | 'right')[],
): [string[], string[][], ('left' | 'right')[]] {
  if (!rows.some((r) => r.cluster !== undefined)) return [headers, rows.map(cells), align];
  return [
    ['CLUSTER', ...headers],
    rows.map((r) => [r.cluster ?? '', ...cells(r)]),
    ['left', ...align],
  ];
}
