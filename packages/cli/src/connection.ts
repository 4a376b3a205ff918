// Which database a command talks to: --database-url, else DATABASE_URL, else the embedded
// server under ./.sluice (started on demand, and said so on stderr); with --clusters, the
// cluster of the command's queue, or --cluster, or each cluster (clusters.ts).
import pg from 'pg';
import { assertSchemaName } from 'sluice/admin';
import { CliError } from './cli-error.js';
import { clusterRouterOf, clustersFor, type ClusterOptions, type Scope } from './clusters.js';
import { ensureEmbeddedDb } from './embedded-db.js';

/** Options every command inherits from the program. */
export interface GlobalOptions extends ClusterOptions {
  databaseUrl?: string;
  schema: string;
}

/** `url` with its password replaced by `***`, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(the database URL)';
  }
}

const URL_FORMS =
  'expected postgres://user:password@host:5432/database (or postgresql://…), or a socket ' +
  'directory as postgresql:///database?host=/var/run/postgresql';

/**
 * Checks a database URL before pg sees it: pg reads a string that is no URL as a path under host
 * "base" and fails with `getaddrinfo ENOTFOUND base`. Accepts postgres:// and postgresql:// URLs
 * with a host (or a `host` parameter), and pg's socket forms (`socket:/dir?db=x`, `/dir db`).
 */
export function assertDatabaseUrl(url: string, source: string): string {
  if (url.startsWith('/') || url.startsWith('socket:')) return url;
  // Shown without what could be a password: anything between `//` and `@`.
  const shown = JSON.stringify(url.replace(/\/\/[^/@]*@/, '//***@'));
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CliError(`invalid ${source} ${shown}: not a URL; ${URL_FORMS}`);
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new CliError(`invalid ${source} ${shown}: scheme ${parsed.protocol}; ${URL_FORMS}`);
  }
  if (!parsed.hostname && !parsed.searchParams.get('host')) {
    throw new CliError(`invalid ${source} ${shown}: no host; ${URL_FORMS}`);
  }
  return url;
}

/**
 * The connection URL for these options; starts the embedded server when none is given. With
 * --clusters: the cluster of `scope`'s queue, else --cluster, else the only cluster.
 */
export async function resolveDatabaseUrl(
  globals: GlobalOptions,
  scope: Scope = 'one',
): Promise<string> {
  const router = clusterRouterOf(globals);
  if (router) return clustersFor(router, globals, scope === 'each' ? 'one' : scope)[0]!.url;
  if (globals.databaseUrl !== undefined)
    return assertDatabaseUrl(globals.databaseUrl, '--database-url');
  if (process.env.DATABASE_URL) return assertDatabaseUrl(process.env.DATABASE_URL, 'DATABASE_URL');
  const embedded = await ensureEmbeddedDb();
  // stderr, so that stdout stays clean for --json.
  process.stderr.write(
    `sluice: no DATABASE_URL: using the embedded PostgreSQL in ${embedded.dataDir} ` +
      `(${redactUrl(embedded.url)})\n`,
  );
  return embedded.url;
}

/** Runs `fn` with a small pool on the resolved database and the validated schema, then closes it. */
export async function withDb<T>(
  globals: GlobalOptions,
  fn: (db: pg.Pool, schema: string) => Promise<T>,
  scope: Scope = 'one',
): Promise<T> {
  return openDb(await resolveDatabaseUrl(globals, scope), globals, fn);
}

/**
 * Runs `fn` on every cluster of --clusters (or --cluster's; or `queue`'s when given), one after
 * another, and returns each result with its cluster; without --clusters, once on the one
 * database (cluster undefined).
 */
export async function withEachDb<T>(
  globals: GlobalOptions,
  fn: (db: pg.Pool, schema: string) => Promise<T>,
  queue?: string,
): Promise<{ cluster: string | undefined; value: T }[]> {
  const router = clusterRouterOf(globals);
  if (!router) return [{ cluster: undefined, value: await withDb(globals, fn) }];
  const out: { cluster: string | undefined; value: T }[] = [];
  const scope = queue === undefined ? 'each' : { queue };
  for (const { cluster, url } of clustersFor(router, globals, scope)) {
    out.push({ cluster, value: await openDb(url, globals, fn) });
  }
  return out;
}

async function openDb<T>(
  url: string,
  globals: GlobalOptions,
  fn: (db: pg.Pool, schema: string) => Promise<T>,
): Promise<T> {
  const schema = assertSchemaName(globals.schema);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  // An idle client dropped by the server must surface through the next query, not crash us.
  pool.on('error', () => undefined);
  try {
    return await fn(pool, schema);
  } finally {
    await pool.end();
  }
}
