// The CLI's first-hour messages (the defects issue, item 18): each mistake ends as one line on
// stderr that says what is wrong and what to do, with nothing on stdout.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@sluice/testkit';
import { serverUrl, useTestDatabase } from '../../../test/setup/db.js';
import { runCli, type CliResult, type RunOptions } from './run-cli.js';

const db = useTestDatabase();
const TASKS = fileURLToPath(new URL('../examples/tasks.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'sluice-cli-messages-'));
let empty: TestDatabase;

beforeAll(async () => {
  empty = await createTestDatabase(serverUrl());
});
afterAll(async () => {
  await empty?.drop();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the CLI and expects it to fail with exactly one stderr line; returns that line. */
async function failsWith(args: string[], options: RunOptions): Promise<string> {
  const r: CliResult = await runCli(args, options);
  expect(r.code, r.stderr).toBe(1);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  return lines[0]!;
}

describe('CLI messages', () => {
  it('work --queue with a queue that does not exist fails with the command that creates it', async () => {
    const url = { databaseUrl: db.current.url };
    const line = await failsWith(['work', '--tasks', TASKS, '--queue', 'does-not-exist'], url);
    expect(line).toBe(
      'sluice: queue "does-not-exist" does not exist (--queue): ' +
        'create it with `sluice queue create does-not-exist`',
    );
    // The command given works as written.
    const created = await runCli(['queue', 'create', 'does-not-exist'], url);
    expect(created.code, created.stderr).toBe(0);
  });

  it('a tasks module with a syntax error names file:line:column, in it or in what it imports', async () => {
    const bad = join(dir, 'bad.js');
    writeFileSync(bad, 'export const a = 1;\nexport const b = ;\n');
    const importer = join(dir, 'imports-bad.js');
    writeFileSync(importer, "import { a } from './bad.js';\nexport const c = a;\n");
    const url = { databaseUrl: db.current.url };
    expect(await failsWith(['work', '--tasks', bad], url)).toBe(
      `sluice: cannot load tasks module ${bad}: syntax error at ${bad}:2:18: Unexpected token ';'`,
    );
    expect(await failsWith(['work', '--tasks', importer], url)).toBe(
      `sluice: cannot load tasks module ${importer}: syntax error at ${bad}:2:18: ` +
        "Unexpected token ';'",
    );
  });

  it('a TypeScript tasks module says to compile it or use a loader', async () => {
    const ts = join(dir, 'tasks.ts');
    writeFileSync(ts, 'export const n: number = 1;\n');
    const line = await failsWith(['work', '--tasks', ts], { databaseUrl: db.current.url });
    expect(line).toMatch(new RegExp(`^sluice: cannot load tasks module ${ts}: `));
    expect(line).toContain('compile it (tsc)');
    expect(line).toContain("NODE_OPTIONS='--import tsx'");
    expect(line).toContain('--experimental-strip-types');
  });

  it('a database URL that is not one fails before any connection', async () => {
    const flag = await failsWith(['--database-url', 'not a url', 'stats'], { databaseUrl: null });
    expect(flag).toMatch(
      /^sluice: invalid --database-url "not a url": not a URL; expected postgres:\/\//,
    );
    const env = await failsWith(['stats'], { databaseUrl: 'nope' });
    expect(env).toMatch(/^sluice: invalid DATABASE_URL "nope": not a URL/);
    // A password in a URL of the wrong kind is not repeated.
    const scheme = await failsWith(['stats'], { databaseUrl: 'mysql://app:secret@db/app' });
    expect(scheme).toMatch(
      /^sluice: invalid DATABASE_URL "mysql:\/\/\*\*\*@db\/app": scheme mysql:/,
    );
  });

  it('.sluice as a file names the path', async () => {
    const cwd = join(dir, 'dot-sluice-file');
    mkdirSync(cwd);
    // Reachable by the postgres user (as root), so the embedded server would live right here.
    chmodSync(dir, 0o755);
    chmodSync(cwd, 0o755);
    writeFileSync(join(cwd, '.sluice'), 'not a directory\n');
    const line = await failsWith(['stats'], { databaseUrl: null, cwd });
    expect(line).toBe(
      `sluice: ${join(cwd, '.sluice')} exists and is not a directory: the embedded PostgreSQL ` +
        'keeps its files there; move it away, or set DATABASE_URL to use another server',
    );
  });

  it('an unmigrated database says to run `sluice migrate`', async () => {
    const url = { databaseUrl: empty.url };
    const migrate = /: run `sluice migrate` or migrate\(\) from the library$/;
    expect(await failsWith(['stats'], url)).toMatch(/^sluice: schema "sluice" is not migrated \(/);
    expect(await failsWith(['queue', 'create', 'mail'], url)).toMatch(migrate);
    expect(await failsWith(['work', '--tasks', TASKS], url)).toMatch(
      /^sluice: schema "sluice" is at migration 0, this version needs \d+: run `sluice migrate`$/,
    );
  });
});
