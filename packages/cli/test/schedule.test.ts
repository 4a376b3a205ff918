// `sluice schedule` as a real process: every effect is checked in SQL.
import { describe, expect, it } from 'vitest';
import { schedule } from 'sluice';
import { useTestDatabase } from '../../../test/setup/db.js';
import { runCli, type CliResult } from './run-cli.js';

const db = useTestDatabase();
const sluice = (...args: string[]) => runCli(args, { databaseUrl: db.current.url });

function ok(r: CliResult): CliResult {
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r;
}

function failsWith(r: CliResult, pattern: RegExp): void {
  expect(r.code).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/^sluice: /);
  expect(r.stderr).toMatch(pattern);
}

async function scheduleRow(name: string) {
  const { rows } = await db.current.pool.query<{
    is_enabled: boolean;
    next_run_at: Date | null;
    is_future: boolean;
  }>(
    `SELECT is_enabled, next_run_at, next_run_at > now() AS is_future
     FROM sluice.schedule WHERE name = $1`,
    [name],
  );
  return rows[0];
}

describe('sluice schedule', () => {
  it('list, disable, enable, run-now and remove round-trip through the database', async () => {
    await schedule({
      db: db.current.pool,
      name: 'nightly-report',
      cron: '0 2 * * *',
      timezone: 'Europe/Paris',
      task: 'send-report',
      payload: { kind: 'daily' },
    });
    await schedule({
      db: db.current.pool,
      name: 'every-minute',
      cron: '* * * * *',
      task: 'ping',
      missedPolicy: 'run_all',
      maxCatchUp: 5,
    });

    const listed = JSON.parse(ok(await sluice('schedule', 'list', '--json')).stdout);
    expect(listed).toMatchObject([
      { name: 'every-minute', cron: '* * * * *', timezone: 'UTC', missedPolicy: 'run_all' },
      {
        name: 'nightly-report',
        cron: '0 2 * * *',
        timezone: 'Europe/Paris',
        task: 'send-report',
        queue: 'default',
        payload: { kind: 'daily' },
        isEnabled: true,
      },
    ]);
    const table = ok(await sluice('schedule', 'list')).stdout.split('\n');
    expect(table[0]).toMatch(/^NAME\s+CRON\s+TIME ZONE\s+TASK\s+QUEUE\s+ENABLED\s+MISSED/);
    expect(table.find((l) => l.startsWith('every-minute'))).toMatch(/\syes\s+run_all \(5\)\s/);
    expect(table.find((l) => l.startsWith('nightly-report'))).toMatch(
      /^nightly-report\s+0 2 \* \* \*\s+Europe\/Paris\s+send-report\s+default\s+yes\s+run_once/,
    );

    expect(ok(await sluice('schedule', 'disable', 'nightly-report')).stdout).toBe(
      'disabled schedule nightly-report\n',
    );
    expect(await scheduleRow('nightly-report')).toMatchObject({ is_enabled: false });
    expect(
      ok(await sluice('schedule', 'list'))
        .stdout.split('\n')
        .find((l) => l.startsWith('nightly')),
    ).toMatch(/\sno\s+run_once\s+-\s/);
    const enabled = JSON.parse(
      ok(await sluice('schedule', 'enable', 'nightly-report', '--json')).stdout,
    );
    expect(enabled).toEqual({ name: 'nightly-report', isEnabled: true });
    expect(await scheduleRow('nightly-report')).toMatchObject({
      is_enabled: true,
      is_future: true,
    });

    const before = await scheduleRow('nightly-report');
    const ran = JSON.parse(
      ok(await sluice('schedule', 'run-now', 'nightly-report', '--json')).stdout,
    );
    expect(ran).toEqual({ name: 'nightly-report', jobId: expect.stringMatching(/^\d+$/) });
    const { rows: jobs } = await db.current.pool.query(
      `SELECT task, queue, payload, state, unique_key, run_at <= now() AS is_due
       FROM sluice.job WHERE id = $1`,
      [ran.jobId],
    );
    expect(jobs).toEqual([
      {
        task: 'send-report',
        queue: 'default',
        payload: { kind: 'daily' },
        state: 'pending',
        unique_key: null,
        is_due: true,
      },
    ]);
    // An extra run: the schedule's own next tick does not move.
    expect((await scheduleRow('nightly-report'))?.next_run_at).toEqual(before?.next_run_at);
    expect(ok(await sluice('schedule', 'run-now', 'nightly-report')).stdout).toMatch(
      /^enqueued job \d+ for schedule nightly-report\n$/,
    );

    expect(ok(await sluice('schedule', 'remove', 'every-minute')).stdout).toBe(
      'removed schedule every-minute\n',
    );
    expect(await scheduleRow('every-minute')).toBeUndefined();
    const names = JSON.parse(ok(await sluice('schedule', 'list', '--json')).stdout).map(
      (s: { name: string }) => s.name,
    );
    expect(names).toEqual(['nightly-report']);
  });

  const bad: [string[], RegExp][] = [
    [['schedule', 'enable'], /missing required argument 'name'/],
    [['schedule', 'disable', 'bad name'], /invalid schedule name/],
    [['schedule', 'enable', 'nope'], /schedule nope not found/],
    [['schedule', 'disable', 'nope'], /schedule nope not found/],
    [['schedule', 'run-now', 'nope'], /schedule nope not found/],
    [['schedule', 'remove', 'nope', '--json'], /schedule nope not found/],
    [['schedule', 'list', '--bogus'], /unknown option '--bogus'/],
  ];
  it.each(bad)('sluice %j exits 1 with one line', async (args, pattern) => {
    failsWith(await sluice(...args), pattern);
  });

  it('every schedule command has help with an example, without touching a database', async () => {
    for (const args of [
      ['schedule'],
      ['schedule', 'list'],
      ['schedule', 'enable'],
      ['schedule', 'disable'],
      ['schedule', 'run-now'],
      ['schedule', 'remove'],
    ]) {
      const r = await runCli([...args, '--help'], { databaseUrl: 'postgres://127.0.0.1:1/none' });
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout, args.join(' ')).toMatch(/\nExamples:\n {2}\$ sluice schedule /);
    }
  });
});
