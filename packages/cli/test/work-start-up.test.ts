// `sluice work` start-up (the defects issue, items 2 and 3): a worker started before its database
// waits for it, or gives up after --connect-timeout-ms; a stop signal at any moment of start-up
// exits 0 with nothing left running.
import type { ChildProcess } from 'node:child_process';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTask, enqueue } from 'sluice';
import { eventually, freePort } from '@sluice/testkit';
import { useTestDatabase } from '../../../test/setup/db.js';
import { spawnCli } from './run-cli.js';

const db = useTestDatabase();
/** Exports `send-email` on the default queue; its imports resolve through the CLI package. */
const TASKS = fileURLToPath(new URL('../examples/tasks.js', import.meta.url));

const sendEmail = defineTask({ name: 'send-email', schema: z.object({ to: z.string() }) });

const children: ChildProcess[] = [];
const relays: { server: Server; sockets: Set<Socket> }[] = [];
afterEach(async () => {
  // A failed test must not leave workers behind.
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill();
  for (const { server, sockets } of relays.splice(0)) {
    sockets.forEach((s) => s.destroy());
    await new Promise((r) => server.close(r));
  }
});

/** From now on, listens on `port` and forwards every connection to the test server. */
function startRelay(port: number): Promise<void> {
  const target = new URL(db.current.url);
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    for (const s of [socket, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => (s === socket ? upstream : socket).destroy());
    }
    socket.pipe(upstream).pipe(socket);
  });
  relays.push({ server, sockets });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
}

/** The test database's URL, on another port of 127.0.0.1. */
function onPort(port: number): string {
  const u = new URL(db.current.url);
  u.hostname = '127.0.0.1';
  u.port = String(port);
  return u.toString();
}

const SIGNAL_READY = fileURLToPath(new URL('./signal-ready.cjs', import.meta.url));

/** Starts `sluice work` on `url`; resolves its exit code and what it printed on stderr. */
function startWork(url: string, ...args: string[]) {
  const child = spawnCli(['work', '--tasks', TASKS, '--poll-interval-ms', '200', ...args], {
    databaseUrl: url,
    nodeArgs: ['--require', SIGNAL_READY],
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
  it('started before its database, waits for it, then runs jobs', async () => {
    const port = await freePort();
    const w = startWork(onPort(port));
    const retryLines = () =>
      w
        .stderr()
        .split('\n')
        .filter((l) => l.includes('database not reachable yet'));
    // Nothing listens until it has failed three times (counted, not timed: a loaded machine can
    // take seconds to start the CLI): it keeps trying instead of exiting 1 after a second.
    await eventually(() => expect(retryLines().length).toBeGreaterThanOrEqual(3), {
      timeoutMs: 30_000,
    });
    expect(w.child.exitCode).toBeNull();
    await startRelay(port);
    const { id } = await enqueue(sendEmail, { to: 'a@example.com' }, { db: db.current.pool });
    await eventually(
      async () =>
        expect(
          await count(`SELECT count(*)::int AS n FROM sluice.job_history
            WHERE id = ${id} AND state = 'completed'`),
        ).toBe(1),
      { timeoutMs: 20_000 },
    );
    // Each failed attempt was logged, with its error.
    const retries = retryLines().map(
      (l) => JSON.parse(l) as { level: string; attempt: number; error: string },
    );
    expect(retries.length).toBeGreaterThanOrEqual(3);
    expect(retries[0]).toMatchObject({ level: 'warn', attempt: 1 });
    expect(retries[0]!.error).toMatch(/^cannot reach the database \(ECONNREFUSED\)/);
    w.child.kill('SIGTERM');
    expect(await w.exited).toEqual({ code: 0, signal: null });
  });

  it('--connect-timeout-ms gives up with a clear message', async () => {
    const port = await freePort();
    const startedAt = Date.now();
    const w = startWork(onPort(port), '--connect-timeout-ms', '1500');
    const exit = await w.exited;
    const elapsed = Date.now() - startedAt;
    expect(exit.code).toBe(1);
    expect(elapsed).toBeGreaterThanOrEqual(1500);
    expect(elapsed).toBeLessThan(5000);
    const last = w.stderr().trimEnd().split('\n').at(-1);
    expect(last).toMatch(
      new RegExp(
        `^sluice: gave up reaching postgres://.*127\\.0\\.0\\.1:${port}/.* \\(--connect-timeout-ms 1500\\): ` +
          'database unreachable after \\d+ attempts in 1\\.\\d s: .*ECONNREFUSED',
      ),
    );
  });

  it.each([0, 250, 500, 1500])('SIGTERM %i ms into start-up exits 0', async (ms) => {
    const w = startWork(db.current.url);
    // From the moment the CLI's first line ran (see signal-ready.cjs), not from spawn.
    await eventually(() => expect(w.stderr()).toContain('SIGTERM handler installed'));
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
