// `sluice dashboard`: serves @sluice/dashboard on 127.0.0.1 (or --host, with auth) until stopped.
import type { Command } from 'commander';
import pg from 'pg';
import { assertSchemaCurrent, assertSchemaName } from 'sluice/admin';
import {
  anyOf,
  basicAuth,
  bearerToken,
  createDashboard,
  serveDashboard,
  type Authorize,
} from '@sluice/dashboard';
import { CliError } from '../cli-error.js';
import { examples, globals } from '../command-helpers.js';
import { clusterRouterOf, clustersFor } from '../clusters.js';
import { resolveDatabaseUrl } from '../connection.js';
import { positiveInt } from '../parse-args.js';

interface DashboardCliOptions {
  host: string;
  port: number;
  basePath?: string;
  user?: string;
  readOnly?: boolean;
  showPayloads?: boolean;
}

// Secrets come from the environment, never from argv (which `ps` shows to every local user).
function authorizeFromEnv(opts: DashboardCliOptions): Authorize | undefined {
  const authorizers: Authorize[] = [];
  const password = process.env.SLUICE_DASHBOARD_PASSWORD;
  if (opts.user !== undefined) {
    if (!password) throw new CliError('--user needs the password in SLUICE_DASHBOARD_PASSWORD');
    authorizers.push(basicAuth({ username: opts.user, password }));
  } else if (password) {
    throw new CliError('SLUICE_DASHBOARD_PASSWORD is set: name its user with --user');
  }
  const token = process.env.SLUICE_DASHBOARD_TOKEN;
  if (token) {
    if (token.length < 16) throw new CliError('SLUICE_DASHBOARD_TOKEN: use at least 16 characters');
    authorizers.push(bearerToken({ token }));
  }
  if (authorizers.length === 0) return undefined;
  return authorizers.length === 1 ? authorizers[0] : anyOf(...authorizers);
}

/** Registers `sluice dashboard`. */
export function registerDashboard(program: Command): void {
  program
    .command('dashboard')
    .description(
      'serve the web dashboard: queues, jobs, dead letters, schedules, workers, audit log',
    )
    .option(
      '--host <host>',
      'address to listen on (beyond loopback only with --user or a token)',
      '127.0.0.1',
    )
    .option('--port <n>', 'port to listen on', positiveInt, 4100)
    .option('--base-path <path>', 'serve under this path, e.g. /sluice (behind a proxy)')
    .option(
      '--user <name>',
      'basic auth with this user; the password comes from $SLUICE_DASHBOARD_PASSWORD',
    )
    .option('--read-only', 'no actions: only look')
    .option('--show-payloads', 'show job payloads and results (hidden by default)')
    .addHelpText(
      'after',
      examples(
        'sluice dashboard',
        'sluice dashboard --port 8080 --read-only',
        'SLUICE_DASHBOARD_PASSWORD=… sluice dashboard --host 0.0.0.0 --user ops',
        'SLUICE_DASHBOARD_TOKEN=… sluice dashboard --host 0.0.0.0   # Authorization: Bearer …',
        'sluice --clusters clusters.json dashboard   # every cluster, with a switcher',
      ),
    )
    .action(async (opts: DashboardCliOptions, cmd: Command) => {
      const g = globals(cmd);
      const schema = assertSchemaName(g.schema);
      const authorize = authorizeFromEnv(opts);
      // With --clusters, one pool per cluster (or --cluster's) and the cluster switcher.
      const router = clusterRouterOf(g);
      const sites = router
        ? clustersFor(router, g, 'each')
        : [{ cluster: undefined, url: await resolveDatabaseUrl(g) }];
      const pools = sites.map(({ cluster, url }) => {
        const pool = new pg.Pool({ connectionString: url, max: 5 });
        pool.on('error', () => undefined);
        return { cluster, pool };
      });
      try {
        for (const { pool } of pools) await assertSchemaCurrent({ db: pool, schema });
        const dashboard = createDashboard({
          ...(router
            ? { clusters: Object.fromEntries(pools.map((p) => [p.cluster ?? '', p.pool])) }
            : { db: pools[0]!.pool }),
          schema,
          ...(opts.basePath !== undefined && { basePath: opts.basePath }),
          ...(authorize && { authorize }),
          readOnly: opts.readOnly === true,
          showPayloads: opts.showPayloads === true,
        });
        const server = await serveDashboard(dashboard, { host: opts.host, port: opts.port }).catch(
          (err: unknown) => {
            throw new CliError(err instanceof Error ? err.message : String(err), { cause: err });
          },
        );
        process.stdout.write(`sluice dashboard on ${server.url}\n`);
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        await server.close();
      } finally {
        await Promise.all(pools.map((p) => p.pool.end()));
      }
    });
}
