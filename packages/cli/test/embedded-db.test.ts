// The embedded default: with no DATABASE_URL the CLI starts a Postgres under ./.sluice, leaves it
// running between commands, says on stderr which database each command uses, and `sluice db stop`
// stops it.
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from '@sluice/testkit';
import { runCli, type CliResult } from './run-cli.js';

// As root the server runs as the postgres user, which must be able to enter the directory.
const cwd = mkdtempSync(join(tmpdir(), 'sluice-cli-embedded-'));
chmodSync(cwd, 0o755);
const sluice = (...args: string[]) => runCli(args, { databaseUrl: null, cwd });

function ok(r: CliResult): CliResult {
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r;
}

/** A command on the embedded server: its only stderr line says which database it uses. */
function okEmbedded(r: CliResult, url: string): CliResult {
  expect(r.code, r.stderr).toBe(0);
  const shown = url.replace(':postgres@', ':***@');
  expect(r.stderr).toBe(
    `sluice: no DATABASE_URL: using the embedded PostgreSQL in ${join(cwd, '.sluice/data')} ` +
      `(${shown})\n`,
  );
  return r;
}

function serverPid(): number | null {
  try {
    return Number(readFileSync(join(cwd, '.sluice/data/postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return null;
  }
}

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
  const pid = serverPid();
  if (pid !== null && isAlive(pid)) process.kill(pid, 'SIGQUIT');
  rmSync(cwd, { recursive: true, force: true });
});

describe('embedded Postgres (no DATABASE_URL)', () => {
  it('db start, url, status, migrate, stats and db stop', async () => {
    expect(ok(await sluice('db', 'status')).stdout).toMatch(/not initialised/);

    const started = ok(await sluice('db', 'start', '--json'));
    const state = JSON.parse(started.stdout);
    expect(state.url).toMatch(/^postgres:\/\/postgres:postgres@127\.0\.0\.1:\d+\/postgres$/);
    expect(JSON.parse(readFileSync(join(cwd, '.sluice/server.json'), 'utf8'))).toEqual(state);
    // The server outlived the command that started it.
    expect(isAlive(state.pid)).toBe(true);

    expect(ok(await sluice('db', 'url')).stdout.trim()).toBe(state.url);
    expect(ok(await sluice('db', 'start')).stdout).toContain(state.url);
    const status = JSON.parse(ok(await sluice('db', 'status', '--json')).stdout);
    expect(status).toMatchObject({ isRunning: true, isInitialised: true, pid: state.pid });

    expect(okEmbedded(await sluice('migrate'), state.url).stdout).toMatch(
      /applied migrations 1, 2, 3, 4/,
    );
    expect(okEmbedded(await sluice('stats'), state.url).stdout).toMatch(/^default\s+0/m);
    // stdout stays clean for --json.
    const json = okEmbedded(await sluice('stats', '--json'), state.url);
    expect(JSON.parse(json.stdout)).toEqual([expect.objectContaining({ queue: 'default' })]);
    const client = new pg.Client({ connectionString: state.url });
    await client.connect();
    const { rows } = await client.query(`SELECT count(*)::int AS n FROM sluice.queue`);
    await client.end();
    expect(rows).toEqual([{ n: 1 }]);

    expect(ok(await sluice('db', 'stop')).stdout).toMatch(/stopped/);
    // pg_ctl reports "stopped" once postmaster.pid is gone, a moment before the process exits.
    await eventually(() => expect(isAlive(state.pid)).toBe(false));
    expect(ok(await sluice('db', 'status')).stdout).toMatch(/^stopped/);
    expect(ok(await sluice('db', 'stop')).stdout).toMatch(/was not running/);
    expect(existsSync(join(cwd, '.sluice/data/PG_VERSION'))).toBe(true);

    // Started again on demand by an ordinary command, on the same port, data kept.
    expect(okEmbedded(await sluice('migrate'), state.url).stdout).toMatch(/up to date/);
    expect(JSON.parse(ok(await sluice('db', 'status', '--json')).stdout)).toMatchObject({
      isRunning: true,
      url: state.url,
    });
    ok(await sluice('db', 'stop'));
  });
});
