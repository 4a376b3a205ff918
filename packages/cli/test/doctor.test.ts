// `sluice doctor` as a real process: healthy on a fresh schema (exit 0), then each kind of
// damage done in SQL to the test database is named in the report (exit 1).
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../../test/setup/db.js';
import { runCli, type CliResult } from './run-cli.js';

const db = useTestDatabase();
const sluice = (...args: string[]) => runCli(args, { databaseUrl: db.current.url });
const sql = (text: string, values: unknown[] = []) => db.current.pool.query(text, values);

interface Report {
  isHealthy: boolean;
  problems: { code: string; message: string }[];
  warnings: string[];
  migrations: { applied: number[]; expected: number[]; pending: number[] };
  workers: { id: string; isStale: boolean; heartbeatAgeSeconds: number; queues: string[] }[];
  leaders: { name: string; workerId: string; isCurrent: boolean }[];
}

async function partitionOf(queue: string): Promise<string> {
  const { rows } = await sql(`SELECT partition_name FROM sluice.queue WHERE name = $1`, [queue]);
  return (rows[0] as { partition_name: string }).partition_name;
}

function failed(r: CliResult, problems: number): CliResult {
  expect(r.code).toBe(1);
  expect(r.stderr).toBe(`sluice: doctor found ${problems} problem${problems === 1 ? '' : 's'}\n`);
  return r;
}

describe('sluice doctor', () => {
  it('a freshly migrated schema is healthy: exit 0, with workers and the leader listed', async () => {
    await sql(`SELECT sluice.create_queue('mail'), sluice.create_queue('webhooks')`);
    await sql(
      `INSERT INTO sluice.worker (id, host, pid, queues, concurrency, heartbeat_at) VALUES
         ('w-live', 'host-a', 101, '{default,mail}', 8, now() - interval '2 seconds'),
         ('w-gone', 'host-b', 202, '{webhooks}', 4, now() - interval '5 minutes')`,
    );
    await sql(
      `INSERT INTO sluice.leader (name, worker_id, expires_at)
       VALUES ('maintenance', 'w-live', now() + interval '20 seconds')`,
    );

    const r = await sluice('doctor', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    expect(report).toMatchObject({ isHealthy: true, problems: [] });
    expect(report.migrations.pending).toEqual([]);
    expect(report.migrations.applied).toEqual(report.migrations.expected);
    expect(report.workers.map((w) => [w.id, w.isStale, w.queues])).toEqual([
      ['w-live', false, ['default', 'mail']],
      ['w-gone', true, ['webhooks']],
    ]);
    expect(report.workers[1]!.heartbeatAgeSeconds).toBeGreaterThanOrEqual(299);
    expect(report.warnings).toEqual([expect.stringMatching(/^worker w-gone .* not heartbeated/)]);
    expect(report.leaders).toMatchObject([
      { name: 'maintenance', workerId: 'w-live', isCurrent: true },
    ]);

    const text = await sluice('doctor');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^schema sluice: migrations applied 1, 2, 3, 4/);
    expect(text.stdout).toMatch(/\nw-live\s+host-a\s+101\s+default,mail\s+8\s+\ds ago\n/);
    expect(text.stdout).toMatch(/\nw-gone\s+host-b\s+202\s+webhooks\s+4\s+5m0\ds ago STALE\n/);
    expect(text.stdout).toMatch(/\nmaintenance\s+w-live\s+.*\s+yes\n/);
    expect(text.stdout.trimEnd().split('\n').at(-1)).toBe('healthy');
    // A shorter threshold flags the live worker too; staleness is a warning, not a failure.
    const strict = JSON.parse((await sluice('doctor', '--json', '--stale-after', '1')).stdout);
    expect(strict.workers.map((w: { isStale: boolean }) => w.isStale)).toEqual([true, true]);
    expect(strict.isHealthy).toBe(true);
  });

  it('names every problem after the schema is damaged, and exits 1', async () => {
    const mail = await partitionOf('mail');
    const webhooks = await partitionOf('webhooks');
    const defaultPart = await partitionOf('default');
    // A pending migration: its row is gone, as if it had never been applied.
    await sql(`DELETE FROM sluice.migration WHERE version = 2`);
    // A queue partition detached by hand.
    await sql(`ALTER TABLE sluice.job DETACH PARTITION sluice.${webhooks}`);
    // PostgreSQL refuses to drop one partition's copy of a partitioned index, so the claim index
    // goes the way it does in real life: rebuilt by hand ON ONLY the parent, one partition forgotten.
    await sql(`DROP INDEX sluice.job_claim_idx`);
    await sql(
      `CREATE INDEX job_claim_idx ON ONLY sluice.job (queue, priority DESC, run_at, id)
       WHERE state = 'pending'`,
    );
    const { rows: parts } = await sql(
      `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
       WHERE i.inhparent = 'sluice.job'::regclass AND c.relname <> $1`,
      [mail],
    );
    for (const { relname } of parts as { relname: string }[]) {
      await sql(
        `CREATE INDEX ${relname}_claim ON sluice.${relname} (queue, priority DESC, run_at, id)
         WHERE state = 'pending'`,
      );
      await sql(`ALTER INDEX sluice.job_claim_idx ATTACH PARTITION sluice.${relname}_claim`);
    }
    // An index left invalid, as a failed CREATE INDEX CONCURRENTLY leaves it.
    await sql(
      `UPDATE pg_index SET indisvalid = false WHERE indexrelid = (
         SELECT i.inhrelid FROM pg_inherits i JOIN pg_index x ON x.indexrelid = i.inhrelid
         WHERE i.inhparent = 'sluice.job_running_idx'::regclass
           AND x.indrelid = $1::regclass)`,
      [`sluice.${defaultPart}`],
    );
    // Tomorrow's history partition is missing, and a completion landed in the default partition.
    // Noon UTC tomorrow: inside tomorrow's UTC day whatever time zone made the partitions.
    const noon = `(date_trunc('day', now() AT TIME ZONE 'UTC') + interval '36 hours') AT TIME ZONE 'UTC'`;
    const { rows: tomorrow } = await sql(
      `SELECT name FROM sluice.history_partitions WHERE from_at <= ${noon} AND to_at > ${noon}`,
    );
    await sql(`DROP TABLE sluice.${(tomorrow[0] as { name: string }).name}`);
    await sql(
      `INSERT INTO sluice.job_history (id, queue, task, payload, state, priority, run_at, attempt,
         max_attempts, created_at, finished_at)
       VALUES (nextval('sluice.job_id_seq'), 'mail', 't', '{}', 'completed', 0, now(), 1, 25, now(),
         ${noon})`,
    );

    const r = failed(await sluice('doctor', '--json'), 7);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.isHealthy).toBe(false);
    expect(report.migrations.pending).toEqual([2]);
    expect(report.problems).toEqual([
      { code: 'PENDING_MIGRATION', message: expect.stringMatching(/^migration 2 \(worker\)/) },
      {
        code: 'MISSING_PARTITION',
        message: `queue webhooks: partition sluice.${webhooks} is not attached to sluice.job`,
      },
      { code: 'INVALID_INDEX', message: 'index sluice.job_claim_idx on sluice.job is invalid' },
      // Partitions in name order: job_q_default_… before job_q_mail_….
      {
        code: 'INVALID_INDEX',
        message: expect.stringMatching(
          new RegExp(
            `^partition sluice\\.${defaultPart} \\(queue default\\): index \\S+ \\(job_running_idx\\) is invalid$`,
          ),
        ),
      },
      {
        code: 'MISSING_INDEX',
        message: `partition sluice.${mail} (queue mail) has no index for job_claim_idx`,
      },
      {
        code: 'MISSING_HISTORY_PARTITION',
        message: expect.stringMatching(/^no sluice\.job_history partition covers \d{4}-\d\d-\d\d/),
      },
      {
        code: 'HISTORY_DEFAULT_NOT_EMPTY',
        message: expect.stringMatching(/^sluice\.job_history_default holds 1 rows/),
      },
    ]);

    const text = failed(await sluice('doctor'), 7);
    const lines = text.stdout.split('\n');
    for (const p of report.problems) expect(lines).toContain(`  - ${p.message}`);
    expect(lines.at(-2)).toBe('7 problems');
  });

  it('a schema that was never migrated is one problem', async () => {
    const r = failed(await sluice('doctor', '--schema', 'not_installed'), 1);
    expect(r.stdout).toMatch(/schema "not_installed" is not installed: run `sluice migrate`/);
  });

  it('--help shows an example; bad input is one line', async () => {
    const help = await runCli(['doctor', '--help'], { databaseUrl: 'postgres://127.0.0.1:1/none' });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/\nExamples:\n {2}\$ sluice doctor/);
    const bad = await sluice('doctor', '--stale-after', 'soon');
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/^sluice: .*positive integer\.?\n$/);
  });
});
