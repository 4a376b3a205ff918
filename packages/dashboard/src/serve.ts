// Serving the handler with node:http: a listener for node:http and Express, and a server that
// refuses to listen beyond loopback unless the dashboard has an authorize option.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import type { DashboardHandler } from './create-dashboard.js';
import { isLoopbackHost } from './loopback.js';

/**
 * A `(req, res)` listener for node:http, Express and anything built on them. Express strips the
 * mount path from `req.url`; the listener uses `req.originalUrl`, so mount it at its basePath.
 * Mount it before any body parser: actions read the form body themselves.
 * @example app.use('/sluice', nodeListener(createDashboard({ db: pool, basePath: '/sluice' })));
 */
export function nodeListener(
  handler: (request: Request) => Promise<Response>,
): (req: IncomingMessage, res: ServerResponse) => void {
  const listener = getRequestListener(handler);
  return (req, res) => {
    const original = (req as IncomingMessage & { originalUrl?: string }).originalUrl;
    if (typeof original === 'string') req.url = original;
    void listener(req, res);
  };
}

/** A running dashboard server. */
export interface DashboardServer {
  /** `http://host:port` plus the base path. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Serves the dashboard on `host:port` (default 127.0.0.1, port 0 picks a free one). Refuses a
 * host beyond loopback when the dashboard has no `authorize` option.
 * @example const server = await serveDashboard(dashboard, { port: 8080 }); console.log(server.url);
 */
export async function serveDashboard(
  handler: DashboardHandler,
  options: { host?: string; port?: number } = {},
): Promise<DashboardServer> {
  const host = options.host ?? '127.0.0.1';
  if (!handler.hasAuth && !isLoopbackHost(host)) {
    throw new Error(
      `refusing to listen on ${host} without an authorize option: anyone who can reach it could ` +
        'retry, cancel and purge jobs. Listen on 127.0.0.1, or pass authorize (basicAuth, bearerToken).',
    );
  }
  const server = createServer(nodeListener(handler));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}${handler.basePath}/`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
