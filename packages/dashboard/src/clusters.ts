// One dashboard over queues on several clusters: a dashboard per cluster under
// {base}/clusters/{name}/, each reading only its own database, with a switcher in the header.
// The root serves the first cluster's overview and /metrics every cluster's gauges; both go
// through that cluster's handler, so they pass the same authorization as any page.
import { randomBytes } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import { withTransaction } from 'sluice/admin';
import { createMetrics } from 'sluice/metrics';
import type { ClusterSide, DashboardHandler, DashboardOptions } from './create-dashboard.js';
import type { ClusterNav } from './layout.js';

export type { ClusterNav } from './layout.js';

type Build = (options: DashboardOptions, side: ClusterSide) => DashboardHandler;

export function clusteredDashboard(
  options: DashboardOptions,
  base: string,
  build: Build,
): DashboardHandler {
  const entries = Object.entries(options.clusters ?? {});
  if (entries.length === 0) throw new TypeError('createDashboard: clusters has no cluster');
  for (const [name, pool] of entries) {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) {
      throw new TypeError(`createDashboard: cluster name ${JSON.stringify(name)} is not URL-safe`);
    }
    if (typeof (pool as { connect?: unknown })?.connect !== 'function') {
      throw new TypeError(`createDashboard: cluster ${name} must be a pg Pool`);
    }
  }
  // One secret for all, so that a form of one cluster's page verifies in any process.
  const secret = options.secret ?? randomBytes(32);
  const baseOf = (name: string) => `${base}/clusters/${name}`;
  const clusters = entries.map(([name]) => ({ name, base: baseOf(name) }));
  const handlers = new Map(
    entries.map(([name, pool], i) => [
      name,
      build(
        { ...options, clusters: undefined, db: pool, basePath: baseOf(name), secret },
        {
          nav: { current: name, clusters } satisfies ClusterNav,
          metricsPools: i === 0 ? options.clusters : undefined,
        },
      ),
    ]),
  );
  const [first] = entries[0]!;
  const firstHandler = handlers.get(first)!;
  const forward = (request: Request, url: URL, path: string) => {
    url.pathname = `${baseOf(first)}${path}`;
    return firstHandler(new Request(url, request));
  };
  const handler = (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const path = url.pathname;
    if (path === base || path === `${base}/`) return forward(request, url, '/');
    if (path === `${base}/metrics`) return forward(request, url, '/metrics');
    const m = path.slice(base.length).match(/^\/clusters\/([^/]+)(?:\/|$)/);
    const inner = m ? handlers.get(m[1]!) : undefined;
    if (inner) return inner(request);
    // Anything else goes to the first cluster, whose 404 page (after its authorization) says so.
    return firstHandler(request);
  };
  return Object.assign(handler, { hasAuth: options.authorize !== undefined, basePath: base });
}

/**
 * Every cluster's queue gauges, labelled `cluster`; each read in its own read-only transaction
 * with the page timeout, so a slow or unreachable cluster reports `sluice_queue_stats_up 0`
 * while the others still answer.
 */
export async function clusterMetrics(
  pools: Record<string, Pool>,
  schema: string,
  timeoutMs: number,
  onError: (err: unknown) => void,
): Promise<{ body: string; type: string }> {
  const timed = (pool: Pool) => ({
    query: (text: string, values?: unknown[]) =>
      withTransaction({ pool, statementTimeoutMs: timeoutMs, isReadOnly: true }, (c: PoolClient) =>
        c.query(text, values),
      ),
  });
  const metrics = await createMetrics({
    // A query-only executor: what the gauges need (one statement per cluster and scrape).
    clusters: Object.fromEntries(
      Object.entries(pools).map(([name, pool]) => [
        name,
        { db: timed(pool) as unknown as Pool, schema },
      ]),
    ),
    onError,
  });
  return { body: await metrics.text(), type: metrics.contentType };
}
