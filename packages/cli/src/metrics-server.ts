// `sluice work --metrics-port N`: GET /metrics for Prometheus, beside the worker. Queue gauges
// are read over their own single connection, so a slow scrape never takes a worker's slot.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import type { Logger, Worker } from 'sluice';
import { createMetrics } from 'sluice/metrics';

/** A listening metrics endpoint; `close()` stops it and ends its connection. */
export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Where one of the process's workers runs: its cluster (with --clusters), URL and queues. */
export interface WorkerSite {
  cluster: string | undefined;
  url: string;
  queues: { named: string[]; ofTasks: string[] };
}

export async function serveWorkerMetrics(options: {
  workers: Worker[];
  sites: WorkerSite[];
  schema: string;
  host: string;
  port: number;
  logger: Logger;
}): Promise<MetricsServer> {
  const pools = options.sites.map(({ cluster, url }) => {
    const pool = new pg.Pool({
      connectionString: url,
      max: 1,
      // A scrape stuck behind a lock must not queue the next ones behind it. Client-side: a
      // statement_timeout startup parameter is refused by PgBouncer.
      query_timeout: 5000,
      connectionTimeoutMillis: 5000,
    });
    pool.on('error', () => undefined);
    return { cluster, target: { db: pool, schema: options.schema } };
  });
  const [single] = pools;
  const metrics = await createMetrics({
    // With --clusters, every cluster's queues, labelled with it.
    ...(single?.cluster === undefined
      ? { target: single?.target }
      : {
          clusters: Object.fromEntries(
            pools.map((p): [string, (typeof p)['target']] => [p.cluster ?? '', p.target]),
          ),
        }),
    onError: (err) => options.logger.warn({ err }, 'metrics: reading queue counts failed'),
  });
  for (const w of options.workers) metrics.observe(w);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    metrics.text().then(
      (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
      (err: unknown) => {
        options.logger.warn({ err }, 'metrics scrape failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('scrape failed\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  options.logger.info({ host: options.host, port }, 'metrics on /metrics');
  return {
    port,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await Promise.all(pools.map((p) => p.target.db.end()));
    },
  };
}
