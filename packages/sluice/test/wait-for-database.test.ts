// waitForDatabase: start-up waits for a server that is not there yet, with back-off and a deadline,
// and gives up at once on what will not pass by itself (the defects issue, item 2).
import { createServer, connect, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DatabaseUnreachableError, InvalidOptionsError } from 'sluice';
import { isTransientConnectionError, waitForDatabase, type DatabaseAttempt } from 'sluice/admin';
import { freePort, withDatabase } from '@sluice/testkit';
import { serverUrl } from '../../../test/setup/db.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** Listens on `port` from now on and forwards every connection to the test server. */
function relay(port: number): Promise<void> {
  const target = new URL(serverUrl());
  const server = createServer((socket) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    socket.pipe(upstream).pipe(socket);
    socket.on('error', () => upstream.destroy());
    upstream.on('error', () => socket.destroy());
  });
  servers.push(server);
  return new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
}

function urlOnPort(port: number): string {
  const u = new URL(serverUrl());
  u.port = String(port);
  return u.toString();
}

describe('waitForDatabase', () => {
  it('retries until the server listens, reporting each failed attempt', async () => {
    const port = await freePort();
    const attempts: DatabaseAttempt[] = [];
    const startedAt = Date.now();
    setTimeout(() => void relay(port), 1000);
    const done = await waitForDatabase({
      db: urlOnPort(port),
      onAttempt: (a) => attempts.push(a),
    });
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(1000);
    expect(done.attempts).toBe(attempts.length + 1);
    expect(attempts.map((a) => a.attempt)).toEqual(attempts.map((_, i) => i + 1));
    expect(isTransientConnectionError(attempts[0]!.error)).toBe(true);
    // Capped exponential back-off: 250 ms, then about double each time.
    expect(attempts[0]!.delayMs).toBeGreaterThanOrEqual(200);
    expect(attempts[0]!.delayMs).toBeLessThanOrEqual(300);
    expect(attempts[1]!.delayMs).toBeGreaterThan(attempts[0]!.delayMs);
  });

  it('gives up at the deadline with DatabaseUnreachableError', async () => {
    const port = await freePort();
    const startedAt = Date.now();
    const err = await waitForDatabase({ db: urlOnPort(port), deadlineMs: 1500 }).catch(
      (e: unknown) => e,
    );
    const elapsed = Date.now() - startedAt;
    expect(err).toBeInstanceOf(DatabaseUnreachableError);
    const e = err as DatabaseUnreachableError;
    expect(e.code).toBe('DATABASE_UNREACHABLE');
    expect(e.attempts).toBeGreaterThanOrEqual(3);
    expect(e.message).toMatch(
      /^database unreachable after \d+ attempts in 1\.\d s: .*ECONNREFUSED/,
    );
    expect(elapsed).toBeGreaterThanOrEqual(1400);
    expect(elapsed).toBeLessThan(3000);
  });

  it('fails at once on errors that do not pass: a missing database, a malformed URL', async () => {
    const startedAt = Date.now();
    const onAttempt = (a: DatabaseAttempt) => expect.fail(`retried: ${String(a.error)}`);
    await expect(
      waitForDatabase({ db: withDatabase(serverUrl(), 'no_such_db_here'), onAttempt }),
    ).rejects.toMatchObject({ code: '3D000' });
    expect(Date.now() - startedAt).toBeLessThan(1000);
    await expect(waitForDatabase({ db: 'not a url' })).rejects.toBeInstanceOf(InvalidOptionsError);
  });

  it('an aborted signal ends the wait with its reason', async () => {
    const port = await freePort();
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('stop requested')), 300);
    const startedAt = Date.now();
    await expect(
      waitForDatabase({ db: urlOnPort(port), signal: controller.signal }),
    ).rejects.toThrow('stop requested');
    expect(Date.now() - startedAt).toBeLessThan(1000);
  });

  it('a custom connect that hangs still ends at the deadline', async () => {
    const hang = (signal: AbortSignal) =>
      new Promise<void>((_, reject) =>
        signal.addEventListener('abort', () => reject(new Error(String(signal.reason)))),
      );
    const err = await waitForDatabase({ connect: hang, deadlineMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatabaseUnreachableError);
    expect((err as Error).message).toMatch(/no answer within 300 ms/);
  });
});

describe('isTransientConnectionError', () => {
  it('tells passing failures from lasting ones', () => {
    const transient = ['ECONNREFUSED', 'ETIMEDOUT', 'ECONNRESET', 'EAI_AGAIN', 'ENOTFOUND'];
    for (const code of [...transient, '57P01', '57P02', '57P03', '08006', '08001', '53300']) {
      expect(isTransientConnectionError(Object.assign(new Error('x'), { code })), code).toBe(true);
    }
    for (const code of ['28P01', '28000', '3D000', '42P01', 'EACCES']) {
      expect(isTransientConnectionError(Object.assign(new Error('x'), { code })), code).toBe(false);
    }
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(isTransientConnectionError(new AggregateError([refused], ''))).toBe(true);
    expect(isTransientConnectionError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isTransientConnectionError(new Error('password authentication failed'))).toBe(false);
    expect(isTransientConnectionError('ECONNREFUSED')).toBe(false);
  });
});
