// Flows across worker processes: fan-in at scale, kill -9 during a fan-in and a chain, and the
// handler transaction under a stolen lease and a crash before its commit.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTask, flow, type Flow } from 'sluice';
import { eventually, spawnNode, type TestProcess } from '@sluice/testkit';
import { useTestDatabase } from '../setup/db.js';
import { assertNoWorkerOutlivesTest, rows, stopAll } from '../worker/harness.js';

const db = useTestDatabase();
assertNoWorkerOutlivesTest();

const script = fileURLToPath(new URL('../fixtures/flow-worker.mjs', import.meta.url));
const FAST = {
  LEASE_MS: '1500',
  RESCUE_INTERVAL_MS: '250',
  RESCUE_BACKOFF_MS: '10',
  POLL_INTERVAL_MS: '250',
};
const child = defineTask({ name: 'fan-child', schema: z.object({ n: z.number() }) });
const parent = defineTask({ name: 'fan-parent', schema: z.object({}) });
const link = defineTask({ name: 'chain-step', schema: z.object({ i: z.number() }) });
const txStep = defineTask({ name: 'tx-step', schema: z.object({ stallMs: z.number() }) });

function startWorker(env: Record<string, string> = {}): TestProcess {
  return spawnNode(script, { DATABASE_URL: db.current.url, SLUICE_LOG_LEVEL: 'warn', ...env });
}

async function reset() {
  await db.current.pool.query(
    `CREATE TABLE IF NOT EXISTS flow_ledger (job_id bigint, attempt int, pid int, kind text,
       at timestamptz DEFAULT clock_timestamp());
     CREATE TABLE IF NOT EXISTS flow_effect (job_id bigint, attempt int, results int, total bigint,
       at timestamptz DEFAULT clock_timestamp());
     TRUNCATE flow_ledger, flow_effect, sluice.job, sluice.job_history, sluice.dead_letter,
       sluice.job_dependency, sluice.worker, sluice.worker_waiting, sluice.leader`,
  );
}

function fanIn(children: number): Flow {
  const f = flow();
  const kids = Array.from({ length: children }, (_, n) => f.add(child, { n }));
  f.add(parent, {}, { dependsOn: kids });
  return f;
}

async function completedOnce(ids: string[]) {
  const [r] = await rows<{ n: string; d: string }>(
    db.current,
    `SELECT count(*) AS n, count(DISTINCT id) AS d FROM sluice.job_history
     WHERE id = ANY($1) AND state = 'completed'`,
    [ids],
  );
  return r!;
}

/** Kills a random worker every `everyMs` and starts a new one, `times` times. */
async function killRepeatedly(
  procs: TestProcess[],
  env: Record<string, string>,
  times: number,
  everyMs: number,
) {
  for (let k = 0; k < times; k++) {
    await new Promise((r) => setTimeout(r, everyMs));
    const i = k % procs.length;
    procs[i]!.kill('SIGKILL');
    await procs[i]!.exited;
    procs[i] = startWorker(env);
  }
}

describe('flows across worker processes', () => {
  it('fan-in: 10,000 children on 4 worker processes release their parent once, and it sees 10,000 results', async () => {
    await reset();
    const out = await fanIn(10_000).enqueue({ db: db.current.pool });
    const parentId = out.ids.at(-1)!;
    const procs = Array.from({ length: 4 }, () => startWorker({ CONCURRENCY: '16' }));
    await eventually(async () => expect((await completedOnce([parentId])).n).toBe('1'), {
      timeoutMs: 120_000,
    });
    expect(await completedOnce(out.ids)).toEqual({ n: '10001', d: '10001' });
    // The ledger: every child ran once (no crash here), the parent once, after its last child.
    const [l] = await rows<{ runs: string; jobs: string }>(
      db.current,
      `SELECT count(*) AS runs, count(DISTINCT job_id) AS jobs FROM flow_ledger WHERE kind = 'child'`,
    );
    expect(l).toEqual({ runs: '10000', jobs: '10000' });
    const effects = await rows<{ results: number; total: string }>(
      db.current,
      `SELECT results, total FROM flow_effect WHERE job_id = $1`,
      [parentId],
    );
    expect(effects).toEqual([{ results: 10_000, total: String((9999 * 10_000) / 2) }]);
    const [order] = await rows<{ ok: boolean }>(
      db.current,
      `SELECT (SELECT min(at) FROM flow_ledger WHERE job_id = $1)
         >= (SELECT max(finished_at) FROM sluice.job_history WHERE id = ANY($2)) AS ok`,
      [parentId, out.ids.slice(0, -1)],
    );
    expect(order!.ok).toBe(true);
    await stopAll(procs);
  }, 180_000);

  it('kill -9 during a fan-in, repeatedly: every child completes once, the parent runs its effect once, after all of them', async () => {
    await reset();
    const out = await fanIn(2_000).enqueue({ db: db.current.pool });
    const parentId = out.ids.at(-1)!;
    const env = { ...FAST, CONCURRENCY: '8', CHILD_SLEEP_MS: '5' };
    const procs = [startWorker(env), startWorker(env), startWorker(env)];
    await killRepeatedly(procs, env, 5, 400);
    await eventually(async () => expect((await completedOnce([parentId])).n).toBe('1'), {
      timeoutMs: 60_000,
    });
    expect(await completedOnce(out.ids)).toEqual({ n: '2001', d: '2001' });
    const effects = await rows<{ results: number }>(
      db.current,
      `SELECT results FROM flow_effect WHERE job_id = $1`,
      [parentId],
    );
    expect(effects).toEqual([{ results: 2000 }]);
    const [order] = await rows<{ ok: boolean }>(
      db.current,
      `SELECT (SELECT min(at) FROM flow_ledger WHERE job_id = $1)
         >= (SELECT max(finished_at) FROM sluice.job_history WHERE id = ANY($2)) AS ok`,
      [parentId, out.ids.slice(0, -1)],
    );
    expect(order!.ok).toBe(true);
    // Crashes re-ran some children (at least once), but none was lost.
    const [l] = await rows<{ jobs: string }>(
      db.current,
      `SELECT count(DISTINCT job_id) AS jobs FROM flow_ledger WHERE kind = 'child'`,
    );
    expect(l!.jobs).toBe('2000');
    await stopAll(procs);
  }, 120_000);

  it('kill -9 during a 100-step chain, repeatedly: every step commits its effect once, each after the previous', async () => {
    await reset();
    const f = flow();
    f.chain(Array.from({ length: 100 }, (_, i) => ({ task: link, payload: { i } })));
    const out = await f.enqueue({ db: db.current.pool });
    const env = { ...FAST, CONCURRENCY: '4', CHILD_SLEEP_MS: '20' };
    const procs = [startWorker(env), startWorker(env)];
    await killRepeatedly(procs, env, 5, 500);
    await eventually(async () => expect((await completedOnce(out.ids)).n).toBe('100'), {
      timeoutMs: 60_000,
    });
    const effects = await rows<{ job_id: string; total: string; at: Date }>(
      db.current,
      `SELECT job_id::text, total, at FROM flow_effect ORDER BY at`,
    );
    expect(effects.map((e) => e.job_id)).toEqual(out.ids);
    expect(effects.map((e) => Number(e.total))).toEqual(out.ids.map((_, i) => i));
    // No step saw a wrong previous result (that would have failed it into dead letters).
    expect(await rows(db.current, `SELECT id FROM sluice.dead_letter`)).toEqual([]);
    await stopAll(procs);
  }, 120_000);

  it('handler transaction: SIGSTOP past the lease, rescue elsewhere, SIGCONT — the stale writes roll back', async () => {
    await reset();
    const f = flow();
    f.add(txStep, { stallMs: 2500 });
    const { ids } = await f.enqueue({ db: db.current.pool });
    const a = startWorker({ ...FAST, CONCURRENCY: '1' });
    await a.waitFor((e) => e.event === 'written' && e.id === ids[0]);
    a.kill('SIGSTOP');
    const b = startWorker({ ...FAST, CONCURRENCY: '1' });
    await b.waitFor((e) => e.event === 'job:completed' && e.id === ids[0], 20_000);
    a.kill('SIGCONT');
    await a.waitFor((e) => e.event === 'job:rejected' && e.id === ids[0], 20_000);
    const effects = await rows<{ attempt: number }>(db.current, `SELECT attempt FROM flow_effect`);
    expect(effects).toEqual([{ attempt: 2 }]);
    await stopAll([a, b]);
  }, 60_000);

  it('handler transaction: kill -9 between the handler writes and the commit leaves none; one attempt survives', async () => {
    await reset();
    const f = flow();
    f.add(txStep, { stallMs: 60_000 });
    const { ids } = await f.enqueue({ db: db.current.pool });
    const a = startWorker({ ...FAST, CONCURRENCY: '1' });
    await a.waitFor((e) => e.event === 'written' && e.id === ids[0]);
    a.kill('SIGKILL');
    await a.exited;
    expect(await rows(db.current, `SELECT 1 FROM flow_effect`)).toEqual([]);
    const b = startWorker({ ...FAST, CONCURRENCY: '1' });
    await b.waitFor((e) => e.event === 'job:completed' && e.id === ids[0], 20_000);
    const effects = await rows<{ attempt: number }>(db.current, `SELECT attempt FROM flow_effect`);
    expect(effects).toEqual([{ attempt: 2 }]);
    await stopAll([b]);
  }, 60_000);
});
