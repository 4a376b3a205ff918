// `sluice migrate`, `queue` and `stats` run as real processes against a test database; every
// effect is checked in SQL.
import { describe, expect, it } from 'vitest';
import { eventually } from '@sluice/testkit';
import { migrations } from 'sluice/admin';
import { useTestDatabase } from '../../../test/setup/db.js';
import { runCli, spawnCli, type CliResult } from './run-cli.js';

const db = useTestDatabase();
const allVersions = migrations().map((m) => m.version);
const sluice = (...args: string[]) => runCli(args, { databaseUrl: db.current.url });

function ok(r: CliResult): CliResult {
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r;
}

async function queueRow(name: string, schema = 'sluice') {
  const { rows } = await db.current.pool.query(
    `SELECT name, is_paused, concurrency_limit, rate_limit, rate_window_ms, max_payload_bytes,
       history_retention::text AS history_retention
     FROM ${schema}.queue WHERE name = $1`,
    [name],
  );
  return rows[0] as Record<string, unknown> | undefined;
}

describe('sluice migrate', () => {
  it('installs a schema once; a second run applies nothing', async () => {
    const first = ok(await sluice('migrate', '--schema', 'cli_m', '--json'));
    expect(JSON.parse(first.stdout)).toMatchObject({ schema: 'cli_m', applied: allVersions });
    const second = ok(await sluice('migrate', '--schema', 'cli_m', '--json'));
    expect(JSON.parse(second.stdout)).toMatchObject({ schema: 'cli_m', applied: [] });
    expect(ok(await sluice('migrate', '--schema', 'cli_m')).stdout).toMatch(/up to date/);
    const { rows } = await db.current.pool.query(
      `SELECT to_regclass('cli_m.job') AS job, (SELECT count(*) FROM cli_m.migration)::int AS n`,
    );
    expect(rows[0]).toEqual({ job: 'cli_m.job', n: allVersions.length });
    expect(await queueRow('default', 'cli_m')).toBeDefined();
  });

  it('--print-sql prints an idempotent script that installs the schema', async () => {
    const r = ok(await sluice('migrate', '--print-sql', '--schema', 'cli_printed'));
    expect(r.stdout).toMatch(/^BEGIN;/);
    expect(r.stdout).toContain('CREATE TABLE cli_printed.job');
    expect(r.stdout.trimEnd()).toMatch(/COMMIT;$/);
    expect(await db.current.pool.query(`SELECT to_regclass('cli_printed.job') AS t`)).toMatchObject(
      { rows: [{ t: null }] },
    );
    await db.current.pool.query(r.stdout);
    await db.current.pool.query(r.stdout);
    const { rows } = await db.current.pool.query(`SELECT version FROM cli_printed.migration`);
    expect(rows).toEqual(allVersions.map((version) => ({ version })));
  });
});

describe('sluice queue', () => {
  it('create, list, pause, resume and set round-trip through the database', async () => {
    ok(
      await sluice(
        'queue',
        'create',
        'mail',
        '--concurrency-limit',
        '5',
        '--rate-limit',
        '100',
        '--rate-window-ms',
        '60000',
        '--max-payload-bytes',
        '2048',
        '--history-retention',
        '3 days',
      ),
    );
    expect(await queueRow('mail')).toEqual({
      name: 'mail',
      is_paused: false,
      concurrency_limit: 5,
      rate_limit: 100,
      rate_window_ms: 60000,
      max_payload_bytes: 2048,
      history_retention: '3 days',
    });
    expect(ok(await sluice('queue', 'create', 'mail')).stdout).toMatch(/already exists/);

    const listed = JSON.parse(ok(await sluice('queue', 'list', '--json')).stdout);
    expect(listed.map((q: { name: string }) => q.name)).toEqual(['default', 'mail']);
    const table = ok(await sluice('queue', 'list')).stdout.split('\n');
    expect(table[0]).toMatch(/^QUEUE\s+PAUSED\s+CONCURRENCY\s+RATE/);
    expect(table.find((l) => l.startsWith('mail'))).toMatch(/^mail\s+no\s+5\s+100\/1m/);

    ok(await sluice('queue', 'pause', 'mail'));
    expect(await queueRow('mail')).toMatchObject({ is_paused: true });
    ok(await sluice('queue', 'resume', 'mail'));
    expect(await queueRow('mail')).toMatchObject({ is_paused: false });

    ok(await sluice('queue', 'set', 'mail', '--concurrency-limit', 'none', '--rate-limit', '7'));
    expect(await queueRow('mail')).toMatchObject({
      concurrency_limit: null,
      rate_limit: 7,
      rate_window_ms: 60000,
      max_payload_bytes: 2048,
    });
  });
});

describe('sluice stats', () => {
  async function seed() {
    const q = 'stats-q';
    await db.current.pool.query(`SELECT sluice.create_queue($1)`, [q]);
    await db.current.pool.query(
      `SELECT sluice.enqueue('t', '{}', $1, now() - interval '1 minute') FROM generate_series(1, 3)`,
      [q],
    );
    await db.current.pool.query(
      `SELECT sluice.enqueue('t', '{}', $1, now() + interval '1 hour') FROM generate_series(1, 2)`,
      [q],
    );
    // One running job and one finished in the last hour, written as a worker would leave them.
    await db.current.pool.query(
      `UPDATE sluice.job SET state = 'running', attempt = 1, worker_id = 'w', started_at = now()
       WHERE id = (SELECT min(id) FROM sluice.job WHERE queue = $1 AND run_at > now())`,
      [q],
    );
    await db.current.pool.query(
      `INSERT INTO sluice.job_history (id, queue, task, payload, state, priority, run_at, attempt,
         max_attempts, created_at)
       VALUES (nextval('sluice.job_id_seq'), $1, 't', '{}', 'completed', 0, now(), 1, 25, now()),
              (nextval('sluice.job_id_seq'), $1, 't', '{}', 'completed', 0, now(), 1, 25, now())`,
      [q],
    );
    await db.current.pool.query(
      `INSERT INTO sluice.dead_letter (id, queue, task, payload, priority, run_at, attempt,
         max_attempts, reason, created_at)
       VALUES (nextval('sluice.job_id_seq'), $1, 't', '{}', 0, now(), 25, 25, 'boom', now())`,
      [q],
    );
    return q;
  }

  it('--json counts match the jobs in the database; the table shows the same', async () => {
    const q = await seed();
    const stats = JSON.parse(ok(await sluice('stats', '--json')).stdout);
    const line = stats.find((s: { queue: string }) => s.queue === q);
    expect(line).toMatchObject({
      isPaused: false,
      ready: 3,
      scheduled: 1,
      running: 1,
      blocked: 0,
      dead: 1,
      completedLastHour: 2,
    });
    expect(line.oldestReadyAgeSeconds).toBeGreaterThanOrEqual(59);
    const row = ok(await sluice('stats'))
      .stdout.split('\n')
      .find((l) => l.startsWith(q));
    expect(row?.split(/\s+/)).toEqual([
      q,
      '3',
      '1',
      '1',
      '0',
      '1',
      '2',
      expect.stringMatching(/^1m\d\ds$/),
    ]);
  });

  it('--watch --json prints a line a second with a rate, and exits 0 on SIGINT', async () => {
    const child = spawnCli(['stats', '--watch', '--json'], { databaseUrl: db.current.url });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    try {
      const lines = await eventually(() => {
        const l = out.split('\n').filter(Boolean);
        expect(l.length).toBeGreaterThanOrEqual(2);
        return l.map(
          (s) => JSON.parse(s) as { queues: { queue: string; ratePerSecond: unknown }[] },
        );
      });
      expect(lines[0]!.queues.find((s) => s.queue === 'default')).toMatchObject({
        ratePerSecond: null,
      });
      expect(lines[1]!.queues[0]!.ratePerSecond).toBeTypeOf('number');
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
  });
});
