// `sluice demo` on a test database (DATABASE_URL, so ./.sluice is untouched), run twice: it exits
// 0, narrates every step, leaves exactly one run's data behind, and no worker process.
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../../test/setup/db.js';
import { runCli, type CliResult } from './run-cli.js';

const db = useTestDatabase();

const HEADINGS = [
  '== 0. Set-up ==',
  '== 1. An app transaction creates an order and enqueues its email (COMMIT) ==',
  '== 2. A second app transaction does the same and rolls back ==',
  '== 3. Two worker processes start ==',
  '== 4. A flaky task fails twice and succeeds on its third attempt ==',
  '== 5. A task that always fails lands in sluice.dead_letter, is fixed and replayed ==',
  '== 6. A cron schedule ticks ==',
  '== 7. Bulk enqueue of 20,000 jobs, drained by the workers ==',
  '== 8. Final stats per queue (what `sluice stats` prints) ==',
  '== Stopping the workers (SIGTERM) ==',
];

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function workerPids(r: CliResult): number[] {
  const match = /Worker pids: (\d+), (\d+)\./.exec(r.stdout);
  expect(match, 'the demo prints its worker pids').not.toBeNull();
  return [Number(match![1]), Number(match![2])];
}

async function one(text: string): Promise<Record<string, unknown>> {
  const { rows } = await db.current.pool.query(text);
  return rows[0] as Record<string, unknown>;
}

describe('sluice demo', () => {
  it('runs the whole life cycle twice, exits 0 and leaves one run of data and no process', async () => {
    const runs: CliResult[] = [];
    // The second run proves the demo cleans up after the first.
    for (let i = 0; i < 2; i++) {
      const r = await runCli(['demo'], { databaseUrl: db.current.url });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      runs.push(r);
    }
    const last = runs[1]!;
    let at = 0;
    for (const heading of HEADINGS) {
      const found = last.stdout.indexOf(heading, at);
      expect(found, `heading "${heading}" in order`).toBeGreaterThanOrEqual(at);
      at = found;
    }
    expect(last.stdout).toMatch(/worker \d+ exited with code 0\nworker \d+ exited with code 0/);
    expect(last.stdout).toMatch(/20,000 \/ 20,000/);
    expect(last.stdout).not.toContain('sluice db stop');

    expect(await one('SELECT count(*)::int AS n FROM demo_order')).toEqual({ n: 1 });
    expect(
      await one(`SELECT count(*)::int AS n FROM sluice.job_history
        WHERE task = 'demo-send-order-email' AND state = 'completed'`),
    ).toEqual({ n: 1 });
    // The flaky job completed on its third attempt after two recorded errors.
    expect(
      await one(`SELECT attempt, jsonb_array_length(errors) AS errors FROM sluice.job_history
        WHERE task = 'demo-flaky-charge' AND state = 'completed'`),
    ).toEqual({ attempt: 3, errors: 2 });
    // The replayed job completed and is no longer a dead letter.
    expect(
      await one(`SELECT count(*)::int AS n, min(jsonb_array_length(errors)) AS errors
        FROM sluice.job_history WHERE task = 'demo-sync-invoice' AND state = 'completed'`),
    ).toEqual({ n: 1, errors: 3 });
    expect(await one('SELECT count(*)::int AS n FROM sluice.dead_letter')).toEqual({ n: 0 });
    expect(
      await one(`SELECT count(*) >= 1 AS ok FROM sluice.job_history
        WHERE task = 'demo-tick' AND state = 'completed'`),
    ).toEqual({ ok: true });
    expect(await one(`SELECT count(*)::int AS n FROM sluice.schedule`)).toEqual({ n: 0 });
    expect(
      await one(`SELECT count(*)::int AS n FROM sluice.job_history
        WHERE task = 'demo-bulk' AND state = 'completed'`),
    ).toEqual({ n: 20_000 });
    expect(await one(`SELECT count(*)::int AS n FROM sluice.job WHERE state = 'running'`)).toEqual({
      n: 0,
    });
    expect(await one('SELECT count(*)::int AS n FROM sluice.worker')).toEqual({ n: 0 });

    const pids = runs.flatMap(workerPids);
    expect(new Set(pids).size).toBe(4);
    expect(pids.filter(isAlive)).toEqual([]);
  }, 180_000);
});
