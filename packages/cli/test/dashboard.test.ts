// `sluice dashboard` as a real process: serves on loopback, answers pages, asks for a login with
// --user, refuses a public address without auth, and exits on SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '@sluice/testkit';
import { useTestDatabase } from '../../../test/setup/db.js';
import { BIN, runCli } from './run-cli.js';

const db = useTestDatabase();
const children: ChildProcess[] = [];

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

function start(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN, 'dashboard', ...args], {
    env: { ...process.env, DATABASE_URL: db.current.url, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const url = new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /sluice dashboard on (\S+)/.exec(out);
      if (m?.[1]) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { child, url, exited };
}

describe('sluice dashboard', () => {
  it('serves on 127.0.0.1 under --base-path and stops on SIGTERM', async () => {
    const port = await freePort();
    const d = start(['--port', String(port), '--base-path', '/ops', '--read-only']);
    const url = await d.url;
    expect(url).toBe(`http://127.0.0.1:${port}/ops/`);
    const res = await fetch(`${url}queues/default`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('read-only');
    expect(html).not.toContain('method="post"');
    d.child.kill('SIGTERM');
    expect(await d.exited).toBe(0);
  });

  it('asks for a login with --user, the password coming from the environment', async () => {
    const port = await freePort();
    const d = start(['--port', String(port), '--user', 'ops'], {
      SLUICE_DASHBOARD_PASSWORD: 'pw-123',
    });
    const url = await d.url;
    expect((await fetch(url)).status).toBe(401);
    const ok = await fetch(url, {
      headers: { authorization: `Basic ${Buffer.from('ops:pw-123').toString('base64')}` },
    });
    expect(ok.status).toBe(200);
    d.child.kill('SIGTERM');
    expect(await d.exited).toBe(0);
  });

  it('refuses a public address without auth, and --user without a password', async () => {
    const open = await runCli(['dashboard', '--host', '0.0.0.0'], { databaseUrl: db.current.url });
    expect(open.code).toBe(1);
    expect(open.stderr).toMatch(/refusing to listen on 0\.0\.0\.0 without an authorize option/);
    const noPassword = await runCli(['dashboard', '--user', 'ops'], {
      databaseUrl: db.current.url,
    });
    expect(noPassword.code).toBe(1);
    expect(noPassword.stderr).toMatch(/SLUICE_DASHBOARD_PASSWORD/);
  });
});
