// Where the embedded server keeps its files, and which OS user runs it. Postgres refuses to run as
// root, so as root the server runs as the `postgres` user (created if the image has none), and its
// directory must be one that user can reach: `.sluice/` in the working directory when it can,
// else a directory of its own under the temp dir (a root home or a 0700 temp dir, as in many
// containers and CI runners, is closed to it).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { CliError } from './cli-error.js';

/** The OS user the server runs as. */
export const OS_USER = 'postgres';

/** Where the embedded server keeps its files. */
export interface EmbeddedPaths {
  root: string;
  dataDir: string;
  logFile: string;
  stateFile: string;
  lockDir: string;
  /** True when `root` is under the temp dir because the server cannot reach the working directory. */
  isRelocated: boolean;
}

/** Numeric ids of the OS user. */
export interface OsUser {
  uid: number;
  gid: number;
}

function pathsIn(root: string, isRelocated: boolean): EmbeddedPaths {
  return {
    root,
    dataDir: join(root, 'data'),
    logFile: join(root, 'postgres.log'),
    stateFile: join(root, 'server.json'),
    lockDir: join(root, 'start.lock'),
    isRelocated,
  };
}

function idsOf(user: string): OsUser | undefined {
  try {
    const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    return undefined;
  }
}

// useradd on Debian, Ubuntu and RHEL images (into the group of that name when it exists
// already); BusyBox's adduser on Alpine.
const CREATE_USER: [string, string[]][] = [
  ['useradd', ['--system', '--user-group', '--no-create-home', OS_USER]],
  ['useradd', ['--system', '--gid', OS_USER, '--no-create-home', OS_USER]],
  ['adduser', ['-S', '-D', '-H', OS_USER]],
];

let cached: OsUser | null | undefined;

/**
 * The user the server runs as, or null when this process is not root (the server then runs as
 * us) or, without `isCreated`, when the user does not exist yet. With `isCreated`, a missing user
 * is created as a system user.
 */
export function serverUser(options: { isCreated?: boolean } = {}): OsUser | null {
  if (cached !== undefined) return cached;
  if (userInfo().uid !== 0) return (cached = null);
  const found = idsOf(OS_USER);
  if (found) return (cached = found);
  if (!options.isCreated) return null;
  const failures: string[] = [];
  for (const [command, args] of CREATE_USER) {
    try {
      execFileSync(command, args, { stdio: 'pipe' });
      const made = idsOf(OS_USER);
      if (made) {
        process.stderr.write(`sluice: created the system user ${OS_USER} to run PostgreSQL\n`);
        return (cached = made);
      }
    } catch (err) {
      failures.push(
        `${command}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
      );
    }
  }
  throw new CliError(
    `Postgres refuses to run as root and there is no ${OS_USER} user to run it as; creating one ` +
      `failed (${failures.join('; ')}): create it (useradd --system ${OS_USER}) or set DATABASE_URL`,
  );
}

/** The first directory from `dir` up to `/` that `user` cannot enter, if any. */
export function closedDirFor(dir: string, user: OsUser): string | undefined {
  for (let d = dir; ; d = dirname(d)) {
    const st = statSync(d, { throwIfNoEntry: false });
    if (st) {
      const isOwner = st.uid === user.uid;
      const isGroup = st.gid === user.gid && (st.mode & 0o010) !== 0;
      const isOther = (st.mode & 0o001) !== 0;
      if (isOwner ? (st.mode & 0o100) === 0 : !isGroup && !isOther) return d;
    }
    if (dirname(d) === d) return undefined;
  }
}

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

function isInitialised(p: EmbeddedPaths): boolean {
  return existsSync(join(p.dataDir, 'PG_VERSION'));
}

/**
 * The embedded server's paths for a working directory: `.sluice/` there, unless this process is
 * root and the server's user cannot reach it, then `<tmpdir>/sluice-embedded-<hash of cwd>`. A
 * server already initialised in either place stays there.
 */
export function embeddedPaths(cwd = process.cwd()): EmbeddedPaths {
  const local = pathsIn(resolve(cwd, '.sluice'), false);
  const user = serverUser();
  if (user === null || isInitialised(local)) return local;
  const moved = pathsIn(join(tmpdir(), `sluice-embedded-${shortHash(resolve(cwd))}`), true);
  if (isInitialised(moved)) return moved;
  if (closedDirFor(dirname(local.root), user) === undefined) return local;
  return moved;
}

/**
 * Creates `p.root` (owned by the server's user when we are root), after checking the server can
 * reach it. Fails with the path when something that is not a directory is in the way.
 */
export function prepareRoot(p: EmbeddedPaths, user: OsUser | null): void {
  const st = statSync(p.root, { throwIfNoEntry: false });
  if (st && !st.isDirectory()) {
    throw new CliError(
      `${p.root} exists and is not a directory: the embedded PostgreSQL keeps its files there; ` +
        'move it away, or set DATABASE_URL to use another server',
    );
  }
  if (user) {
    const closed = closedDirFor(dirname(p.root), user);
    if (closed !== undefined) {
      throw new CliError(
        `the ${OS_USER} user that runs Postgres (it refuses root) cannot enter ${closed}: ` +
          `run \`chmod o+x ${closed}\` or use a working directory it can reach`,
      );
    }
  }
  // 0700 under the temp dir: other users of the machine have no business there.
  mkdirSync(p.root, { recursive: true, mode: p.isRelocated ? 0o700 : 0o777 });
  // The server (as the postgres user) writes its log here.
  if (user) chownSync(p.root, user.uid, user.gid);
}
