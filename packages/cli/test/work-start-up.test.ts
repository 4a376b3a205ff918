// `sluice work` start-up (the defects issue, items 2 and 3): a stop signal at any moment of
// start-up exits 0 with nothing left running.
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../../test/setup/db.js';
import { spawnCli } from './run-cli.js';

const db = useTestDatabase();
/** Exports `send-email` on the default queue; its imports resolve through the CLI package. */
const TASKS = fileURLToPath(new URL('../examples/tasks.js', import.meta.url));

const children: ChildProcess[] = [];
afterEach(() => {
  // A failed test must not leave workers behind.
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill();
});

/** Starts `sluice work` on `url`; resolves its exit code and what it printed on stderr. */
function startWork(url: string, ...args: string[]) {
  const child = spawnCli(['work', '--tasks', TASKS, '--poll-interval-ms', '200', ...args], {
    databaseUrl: url,
  });
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, exited, stderr: () => stderr };
}

async function count(text: string): Promise<number> {
  const { rows } = await db.current.pool.query<{ n: number }>(text);
  return rows[0]?.n ?? -1;
}

describe('sluice work start-up', () => {
  it.each([250, 500, 1500])('SIGTERM %i ms after spawn exits 0', async (ms) => {
    const w = startWork(db.current.url);
    await new Promise((r) => setTimeout(r, ms));
    w.child.kill('SIGTERM');
    const exit = await w.exited;
    expect(exit, w.stderr()).toEqual({ code: 0, signal: null });
    expect(await count('SELECT count(*)::int AS n FROM sluice.worker')).toBe(0);
    expect(await count(`SELECT count(*)::int AS n FROM sluice.job WHERE state = 'running'`)).toBe(
      0,
    );
  });
});
