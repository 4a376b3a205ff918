// A PgBouncer of the test's own (Debian's 1.18 here) in transaction pooling mode, in front of
// the run's Postgres: its ini and userlist in a temp dir, a free port, stopped by the caller.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { eventually, freePort } from '@sluice/testkit';

/** The pgbouncer binary, or undefined when it is not installed. */
export function findPgbouncer(): string | undefined {
  for (const p of ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer', '/usr/local/bin/pgbouncer']) {
    if (existsSync(p)) return p;
  }
  const which = spawnSync('sh', ['-c', 'command -v pgbouncer'], { encoding: 'utf8' });
  return which.status === 0 && which.stdout.trim() ? which.stdout.trim() : undefined;
}

export interface RunningPgbouncer {
  port: number;
  /** `url` with its host and port replaced by the pooler's. */
  urlFor(url: string): string;
  /** Runs a statement on the admin console (`SHOW SERVERS`, `SHOW POOLS`, …). */
  admin<T = Record<string, unknown>>(text: string): Promise<T[]>;
  /** Backend pids of the pooler's server connections to `database`. */
  serverPids(database: string): Promise<Set<number>>;
  log: string[];
  stop(): Promise<void>;
}

/** PgBouncer refuses to run as root: when we are root, it drops to this user. */
function runAsUser(): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const user of ['postgres', 'nobody']) {
    if (spawnSync('id', ['-u', user]).status === 0) return user;
  }
  return undefined;
}

/** Starts `binary` on a free port; `poolSize` server connections per (database, user). */
export async function startPgbouncer(
  binary: string,
  serverUrl: string,
  options: { poolSize?: number } = {},
): Promise<RunningPgbouncer> {
  const server = new URL(serverUrl);
  const user = decodeURIComponent(server.username || 'postgres');
  const password = decodeURIComponent(server.password);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sluice-pgbouncer-'));
  chmodSync(dir, 0o755);
  const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
  writeFileSync(join(dir, 'userlist.txt'), `${q(user)} ${q(password)}\n`, { mode: 0o644 });
  const target = `host=${server.hostname} port=${server.port || 5432}${password ? ` password=${password}` : ''}`;
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = ${target}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      'pool_mode = transaction',
      `default_pool_size = ${options.poolSize ?? 4}`,
      'max_client_conn = 500',
      `admin_users = ${user}`,
      // pg sends `options` for the worker's synchronous_commit; 1.18 refuses the connection
      // otherwise (docs/topology.md).
      'ignore_startup_parameters = options',
      '',
    ].join('\n'),
    { mode: 0o644 },
  );
  const asUser = runAsUser();
  const child = spawn(binary, [...(asUser ? ['-u', asUser] : []), join(dir, 'pgbouncer.ini')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: string[] = [];
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  child.stdout.on('data', (b: Buffer) => log.push(b.toString()));
  child.stderr.on('data', (b: Buffer) => log.push(b.toString()));

  const urlFor = (url: string) => {
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String(port);
    return u.toString();
  };
  const admin = async <T>(text: string): Promise<T[]> => {
    const u = new URL(urlFor(serverUrl));
    u.pathname = '/pgbouncer';
    const c = new pg.Client({ connectionString: u.toString() });
    await c.connect();
    try {
      // The admin console speaks only the simple protocol: no parameters.
      return (await c.query(text)).rows as T[];
    } finally {
      await c.end();
    }
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await eventually(() => admin('SHOW VERSION'), { timeoutMs: 10_000 });
  } catch (err) {
    await stop();
    throw new Error(`pgbouncer did not start: ${log.join('')}`, { cause: err });
  }
  return {
    port,
    urlFor,
    admin,
    serverPids: async (database) =>
      new Set(
        (await admin<{ database: string; remote_pid: string }>('SHOW SERVERS'))
          .filter((s) => s.database === database)
          .map((s) => Number(s.remote_pid)),
      ),
    log,
    stop,
  };
}
