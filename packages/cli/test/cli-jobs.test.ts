// `sluice jobs` and `sluice dlq` as real processes on rows written with SQL, and the one-line
// failure every command gives on bad input.
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../../test/setup/db.js';
import { runCli, type CliResult } from './run-cli.js';

const db = useTestDatabase();
const sluice = (...args: string[]) => runCli(args, { databaseUrl: db.current.url });

function ok(r: CliResult): CliResult {
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r;
}

/** Exit code 1, nothing on stdout, exactly one line on stderr starting `sluice: `. */
function failsWith(r: CliResult, pattern: RegExp): void {
  expect(r.code).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr.endsWith('\n')).toBe(true);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/^sluice: /);
  expect(r.stderr).toMatch(pattern);
}

async function one<T>(sql: string, values: unknown[] = []): Promise<T> {
  const { rows } = await db.current.pool.query(sql, values);
  return rows[0] as T;
}

async function enqueue(queue: string, runAt = 'now()'): Promise<string> {
  const r = await one<{ id: string }>(
    `SELECT sluice.enqueue('send-email', '{"to":"a@example.com"}', $1, ${runAt}) AS id`,
    [queue],
  );
  return r.id;
}

async function insertDeadLetter(queue: string, task: string, failedAt = 'now()'): Promise<string> {
  const r = await one<{ id: string }>(
    `INSERT INTO sluice.dead_letter (id, queue, task, payload, priority, run_at, attempt,
       max_attempts, errors, reason, created_at, failed_at)
     VALUES (nextval('sluice.job_id_seq'), $1, $2, '{"n":1}', 0, now(), 3, 3,
       '[{"attempt":3,"message":"smtp said no"}]', 'attempts exhausted: smtp said no', now(),
       ${failedAt})
     RETURNING id`,
    [queue, task],
  );
  return r.id;
}

async function hasFunction(name: string): Promise<boolean> {
  const r = await one<{ ok: boolean }>(`SELECT to_regproc($1) IS NOT NULL AS ok`, [name]);
  return r.ok;
}

describe('sluice jobs', () => {
  it('list filters by queue and state; show prints every column; cancel moves to history', async () => {
    await db.current.pool.query(`SELECT sluice.create_queue('jobs-q')`);
    const ready = await enqueue('jobs-q');
    const later = await enqueue('jobs-q', `now() + interval '1 day'`);
    await enqueue('default');

    const listed = JSON.parse(
      ok(await sluice('jobs', 'list', '--queue', 'jobs-q', '--json')).stdout,
    );
    expect(listed.map((j: { id: string }) => j.id)).toEqual([later, ready]);
    const limited = JSON.parse(ok(await sluice('jobs', 'list', '--limit', '1', '--json')).stdout);
    expect(limited).toHaveLength(1);
    const table = ok(await sluice('jobs', 'list', '--queue', 'jobs-q')).stdout.split('\n');
    expect(table[0]).toMatch(/^ID\s+QUEUE\s+TASK\s+STATE\s+ATTEMPT/);
    expect(table[2]).toMatch(
      new RegExp(`^\\s*${ready}\\s+jobs-q\\s+send-email\\s+pending\\s+0/25`),
    );

    const shown = JSON.parse(ok(await sluice('jobs', 'show', ready, '--json')).stdout);
    expect(shown).toMatchObject({
      id: ready,
      queue: 'jobs-q',
      task: 'send-email',
      state: 'pending',
      payload: { to: 'a@example.com' },
      errors: [],
      result: null,
      progress: null,
      log: [],
    });
    expect(ok(await sluice('jobs', 'show', ready)).stdout).toMatch(/^id:\s+\d+\n[\s\S]*errors:/);
    await db.current.pool.query(
      `INSERT INTO sluice.job_log (job_id, attempt, seq, message, fields)
       VALUES ($1, 1, 1, 'charged card', '{"cents": 1200}')`,
      [ready],
    );
    expect(ok(await sluice('jobs', 'show', ready)).stdout).toMatch(
      /\nlog:\n {2}#1 \S+ info charged card \{"cents":1200\}/,
    );
    const logged = JSON.parse(ok(await sluice('jobs', 'show', ready, '--json')).stdout);
    expect(logged.log).toMatchObject([
      { attempt: 1, message: 'charged card', fields: { cents: 1200 } },
    ]);

    expect(ok(await sluice('jobs', 'cancel', ready)).stdout).toMatch(/cancelled/);
    expect(
      await one(`SELECT state, cancel_reason FROM sluice.job_history WHERE id = $1`, [ready]),
    ).toEqual({ state: 'cancelled', cancel_reason: 'cancelled from the CLI' });
    const cancelled = JSON.parse(
      ok(await sluice('jobs', 'list', '--state', 'cancelled', '--json')).stdout,
    );
    expect(cancelled.map((j: { id: string }) => j.id)).toEqual([ready]);
    failsWith(await sluice('jobs', 'cancel', ready), /is cancelled/);
    failsWith(await sluice('jobs', 'show', '999999'), /job 999999 not found/);
  });

  it('retry runs a pending job now', async ({ skip }) => {
    skip(!(await hasFunction('sluice.retry_job')), 'sluice.retry_job arrives with migration 0002');
    const id = await enqueue('default', `now() + interval '1 day'`);
    ok(await sluice('jobs', 'retry', id));
    expect(await one(`SELECT run_at <= now() AS due FROM sluice.job WHERE id = $1`, [id])).toEqual({
      due: true,
    });
    const dead = await insertDeadLetter('default', 'x');
    failsWith(await sluice('jobs', 'retry', dead), /sluice dlq replay/);
    await db.current.pool.query(`DELETE FROM sluice.dead_letter WHERE id = $1`, [dead]);
  });
});

describe('sluice dlq', () => {
  it('list, show and purge dead letters by queue and time', async () => {
    await db.current.pool.query(`SELECT sluice.create_queue('dlq-q')`);
    const old = await insertDeadLetter('dlq-q', 'a', `now() - interval '10 days'`);
    const recent = await insertDeadLetter('dlq-q', 'b');
    const other = await insertDeadLetter('default', 'a');

    const all = JSON.parse(ok(await sluice('dlq', 'list', '--json')).stdout);
    expect(all.map((d: { id: string }) => d.id)).toEqual([other, recent, old]);
    const ofQueue = JSON.parse(
      ok(await sluice('dlq', 'list', '--queue', 'dlq-q', '--json')).stdout,
    );
    expect(ofQueue.map((d: { id: string }) => d.id)).toEqual([recent, old]);
    const ofTask = JSON.parse(ok(await sluice('dlq', 'list', '--task', 'b', '--json')).stdout);
    expect(ofTask.map((d: { id: string }) => d.id)).toEqual([recent]);
    expect(ok(await sluice('dlq', 'list')).stdout).toMatch(/attempts exhausted: smtp said no/);

    const shown = JSON.parse(ok(await sluice('dlq', 'show', recent, '--json')).stdout);
    expect(shown).toMatchObject({
      id: recent,
      reason: 'attempts exhausted: smtp said no',
      errors: [{ attempt: 3, message: 'smtp said no' }],
    });
    expect(ok(await sluice('dlq', 'show', recent)).stdout).toMatch(/smtp said no/);
    failsWith(await sluice('dlq', 'show', '999999'), /dead letter 999999 not found/);

    failsWith(await sluice('dlq', 'purge'), /--all/);
    const cutoff = new Date(Date.now() - 86_400_000).toISOString();
    const purged = ok(
      await sluice('dlq', 'purge', '--queue', 'dlq-q', '--before', cutoff, '--json'),
    );
    expect(JSON.parse(purged.stdout)).toEqual({ purged: 1 });
    const left = await db.current.pool.query<{ id: string }>(
      `SELECT id FROM sluice.dead_letter ORDER BY id`,
    );
    expect(left.rows.map((r) => r.id)).toEqual([recent, other]);
    expect(ok(await sluice('dlq', 'purge', '--all')).stdout).toBe('purged 2 dead letters\n');
  });

  it('replay moves one or many dead letters back to pending', async ({ skip }) => {
    skip(
      !(await hasFunction('sluice.replay_dead_letter')),
      'sluice.replay_dead_letter(s) arrive with migration 0002',
    );
    const a = await insertDeadLetter('default', 'a');
    const b = await insertDeadLetter('default', 'b');
    const c = await insertDeadLetter('default', 'b', `now() - interval '2 days'`);

    const one_ = JSON.parse(ok(await sluice('dlq', 'replay', a, '--json')).stdout);
    expect(one_.id).toBe(a);
    expect(await one(`SELECT state FROM sluice.all_jobs WHERE id = $1`, [one_.jobId])).toEqual({
      state: 'pending',
    });
    failsWith(await sluice('dlq', 'replay', a), /not found/);

    const since = new Date(Date.now() - 86_400_000).toISOString();
    const many = ok(
      await sluice('dlq', 'replay', '--all', '--task', 'b', '--since', since, '--json'),
    );
    expect(JSON.parse(many.stdout)).toEqual({ replayed: 1 });
    const rest = await db.current.pool.query<{ id: string }>(
      `SELECT id FROM sluice.dead_letter WHERE id = ANY($1) ORDER BY id`,
      [[a, b, c]],
    );
    expect(rest.rows.map((r) => r.id)).toEqual([c]);
    expect(b).not.toBe(c);
  });
});

describe('bad input', () => {
  const cases: [string[], RegExp][] = [
    [['nope'], /unknown command 'nope'/],
    [['queue', 'create'], /missing required argument 'name'/],
    [['queue', 'create', 'bad name'], /invalid queue name/],
    [['queue', 'create', 'q', '--concurrency-limit', '0'], /positive integer/],
    [['queue', 'set', 'default'], /nothing to change/],
    [['queue', 'set', 'default', '--history-retention', 'forever'], /7 days/],
    [['queue', 'pause', 'missing-q'], /unknown queue "missing-q"/],
    [['jobs', 'list', '--state', 'sleeping'], /Allowed choices/],
    [['jobs', 'list', '--limit', 'ten'], /positive integer/],
    [['jobs', 'show', 'abc'], /expected a job id/],
    [['dlq', 'replay'], /either a dead letter id or --all/],
    [['dlq', 'replay', '5', '--queue', 'x'], /go with --all/],
    [['dlq', 'replay', '--all', '--since', 'yesterday'], /ISO time/],
    [['stats', '--schema', 'Bad-Schema'], /invalid schema name/],
    [['migrate', '--bogus'], /unknown option '--bogus'/],
  ];
  it.each(cases)('sluice %j exits 1 with one line', async (args, pattern) => {
    failsWith(await sluice(...args), pattern);
  });

  it('an unreachable database is one line too', async () => {
    const r = await runCli(['stats'], { databaseUrl: 'postgres://postgres@127.0.0.1:1/none' });
    failsWith(r, /cannot reach the database \(ECONNREFUSED\)/);
  });
});

describe('--help', () => {
  const commands = [
    [],
    ['migrate'],
    ['db'],
    ['db', 'start'],
    ['db', 'stop'],
    ['db', 'url'],
    ['db', 'status'],
    ['queue', 'create'],
    ['queue', 'list'],
    ['queue', 'pause'],
    ['queue', 'resume'],
    ['queue', 'set'],
    ['stats'],
    ['jobs', 'list'],
    ['jobs', 'show'],
    ['jobs', 'cancel'],
    ['jobs', 'retry'],
    ['dlq', 'list'],
    ['dlq', 'show'],
    ['dlq', 'replay'],
    ['dlq', 'purge'],
  ];
  it('every command has help with an example, without touching a database', async () => {
    for (const args of commands) {
      const r = await runCli([...args, '--help'], { databaseUrl: 'postgres://127.0.0.1:1/none' });
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout, args.join(' ')).toMatch(/\nExamples:\n {2}\$ .*sluice /);
    }
  });
});
