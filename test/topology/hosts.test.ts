// Workers on two "hosts" (network namespaces) against a Postgres in a third (see netns.ts).
// One setup for the file; the tests run in order and share it: a split drain; host 1, the leader,
// cut off for 30 s while host 2's LISTEN address is half-open (rescue within the lease, leader
// handover, polling carries the work, late results rejected, host 1 rejoins); then host 2, now
// the leader, is killed. An every-second cron schedule runs throughout and must neither stop nor
// double.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueMany, schedule } from 'sluice';
import { eventually, killAllProcesses, spawnNode, type TestProcess } from '@sluice/testkit';
import { ledgerTask, type ledgerPayload } from '../worker/harness.js';
import { createTopology, netnsUnavailable, type Host, type Topology } from './netns.js';
import type { z } from 'zod';

const workerScript = fileURLToPath(new URL('../fixtures/worker.mjs', import.meta.url));
const unavailable = netnsUnavailable();
if (unavailable) console.warn(`skipping the multi-host tests: ${unavailable}`);

const LEASE_MS = 3000;
const LEADER_LEASE_MS = 3000;
const LIVENESS_MS = 2000;
const CUT_MS = 30_000;
const TICK = 'every-second';

describe.skipIf(unavailable !== undefined)('workers on two hosts (network namespaces)', () => {
  let topo: Topology;
  let h1: Host;
  let h2: Host;
  let scheduleStart: Date;
  beforeAll(async () => {
    topo = await createTopology(2);
    [h1, h2] = topo.hosts as [Host, Host];
    await topo.pool.query(
      'CREATE TABLE ledger (job_id bigint, attempt int, pid int, at timestamptz DEFAULT clock_timestamp())',
    );
    // Tick jobs go to a queue no worker claims: they stay in sluice.job as the record of ticks.
    await topo.pool.query(`SELECT sluice.create_queue('ticks')`);
  }, 60_000);
  afterAll(async () => {
    await killAllProcesses();
    await topo?.remove();
  });

  const q = async <T = Record<string, unknown>>(text: string, values: unknown[] = []) =>
    (await topo.pool.query(text, values)).rows as T[];
  const enqueue = async (count: number, payload: z.input<typeof ledgerPayload> = {}) =>
    (
      await enqueueMany(
        Array.from({ length: count }, () => ({ task: ledgerTask(), payload })),
        { db: topo.pool },
      )
    ).map((o) => o.id);
  const completed = async (ids: string[]) =>
    (
      await q<{ n: number; d: number }>(
        `SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM sluice.job_history
          WHERE id = ANY($1) AND state = 'completed'`,
        [ids],
      )
    )[0]!;
  const leader = async () =>
    (
      await q<{ worker_id: string }>(`SELECT worker_id FROM sluice.leader WHERE expires_at > now()`)
    )[0]?.worker_id;
  function startOn(host: Host, env: Record<string, string> = {}): TestProcess {
    return spawnNode(
      workerScript,
      {
        DATABASE_URL: host.url,
        LISTEN_URL: host.listenUrl,
        SLUICE_LOG_LEVEL: 'warn',
        CONCURRENCY: '10',
        BUFFER_SIZE: '0',
        LEASE_MS: String(LEASE_MS),
        LEADER_LEASE_MS: String(LEADER_LEASE_MS),
        STALE_WORKER_MS: String(2 * LEASE_MS),
        RESCUE_INTERVAL_MS: '500',
        RESCUE_BACKOFF_MS: '10',
        POLL_INTERVAL_MS: '500',
        LIVENESS_INTERVAL_MS: String(LIVENESS_MS),
        ...env,
      },
      { prefix: ['ip', 'netns', 'exec', host.ns] },
    );
  }
  const idOf = async (p: TestProcess) => (await p.waitFor((e) => e.event === 'ready')).workerId;

  let w1: TestProcess;
  let w2: TestProcess;
  let w1Id: unknown;
  let w2Id: unknown;

  it('a drain of 1,000 jobs splits across both hosts: 0 lost, 0 duplicates', async () => {
    w1 = startOn(h1);
    w1Id = await idOf(w1);
    // Host 1 is the leader: the cut below takes the leader's host away.
    await eventually(async () => expect(await leader()).toBe(w1Id), { timeoutMs: 10_000 });
    w2 = startOn(h2);
    w2Id = await idOf(w2);
    const created = await schedule({
      db: topo.pool,
      name: TICK,
      cron: '* * * * * *',
      task: 'tick',
      queue: 'ticks',
      missedPolicy: 'run_all',
    });
    scheduleStart = created.nextRunAt!;
    const ids = await enqueue(1000);
    await eventually(async () => expect((await completed(ids)).n).toBe(1000), {
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    expect(await completed(ids)).toEqual({ n: 1000, d: 1000 });
    const byPid = await q<{ pid: number; n: number }>(
      'SELECT pid, count(*)::int AS n FROM ledger GROUP BY pid ORDER BY pid',
    );
    expect(byPid.map((r) => r.pid).sort()).toEqual([w1.pid, w2.pid].sort());
    expect(byPid.reduce((s, r) => s + r.n, 0)).toBe(1000);
    console.log(`split drain: ${byPid.map((r) => r.n).join(' + ')} jobs`);
  });

  it(`host 1 (the leader) cut off for ${CUT_MS / 1000} s while host 2's LISTEN is half-open`, async () => {
    await topo.pool.query('TRUNCATE ledger');
    const ids = await enqueue(60, { firstAttemptSleepMs: 2000 });
    await eventually(
      async () => {
        const [r] = await q<{ n: number }>('SELECT count(*)::int AS n FROM ledger WHERE pid = $1', [
          w1.pid,
        ]);
        expect(r!.n).toBeGreaterThanOrEqual(5);
      },
      { timeoutMs: 10_000 },
    );
    topo.cut(h1);
    topo.cutListen(h2);
    const cutAt = Date.now();
    try {
      await cutOffPhase(ids, cutAt);
    } finally {
      topo.restore(h1);
      topo.restore(h2);
    }
  }, 120_000);

  async function cutOffPhase(ids: string[], cutAt: number) {
    // What host 1 held when it vanished: started by it, not finished.
    const held = (
      await q<{ job_id: string }>(
        `SELECT l.job_id::text FROM ledger l JOIN sluice.job j ON j.id = l.job_id
          WHERE l.pid = $1 AND j.state = 'running' AND j.attempt = l.attempt`,
        [w1.pid],
      )
    ).map((r) => r.job_id);
    expect(held.length).toBeGreaterThan(0);

    await eventually(async () => expect(await leader()).toBe(w2Id), { timeoutMs: 15_000 });
    const handoverMs = Date.now() - cutAt;
    // Rescued: no longer running on host 1's attempt (pending again, or running elsewhere).
    await eventually(
      async () => {
        const [r] = await q<{ n: number }>(
          `SELECT count(*)::int AS n FROM sluice.job
            WHERE id = ANY($1) AND state = 'running' AND worker_id = $2`,
          [held, w1Id],
        );
        expect(r!.n).toBe(0);
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    const rescuedMs = Date.now() - cutAt;
    // The lease runs out, then the new leader's rescue pass: within the lease plus the leader's
    // lease and a little.
    expect(handoverMs).toBeLessThan(LEADER_LEASE_MS + 3000);
    expect(rescuedMs).toBeLessThan(LEASE_MS + LEADER_LEASE_MS + 3000);
    // Host 2's LISTEN connection is half-open: the liveness probe notices within its interval
    // plus its echo deadline, and polling alone carries the work meanwhile.
    await eventually(
      () => expect(w2.stderr.some((l) => l.includes('liveness check got no echo'))).toBe(true),
      { timeoutMs: 2 * LIVENESS_MS + 4000 },
    );
    const detectedMs = Date.now() - cutAt;
    await eventually(async () => expect((await completed(ids)).n).toBe(60), {
      timeoutMs: CUT_MS,
      intervalMs: 200,
    });
    expect(Date.now() - cutAt).toBeLessThan(CUT_MS);
    const listenRestoredAt = new Date();
    topo.restore(h2);

    await new Promise((r) => setTimeout(r, Math.max(0, cutAt + CUT_MS - Date.now())));
    topo.restore(h1);
    const restoredAt = Date.now();
    // Host 1's results for the jobs it held arrive late and are rejected, never applied.
    await eventually(
      () => {
        const rejected = new Set(
          w1.events.filter((e) => e.event === 'job:rejected').map((e) => String(e.id)),
        );
        expect(held.filter((id) => rejected.has(id)).length).toBe(held.length);
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    const lateMs = Date.now() - restoredAt;
    expect(w1.events.some((e) => e.event === 'job:completed' && held.includes(String(e.id)))).toBe(
      false,
    );
    const history = await q<{ attempt: number }>(
      `SELECT attempt FROM sluice.job_history WHERE id = ANY($1)`,
      [held],
    );
    expect(history.every((h) => h.attempt === 2)).toBe(true);
    expect(await completed(ids)).toEqual({ n: 60, d: 60 });
    const [dups] = await q<{ n: number }>(
      'SELECT count(*)::int AS n FROM (SELECT 1 FROM ledger GROUP BY job_id, attempt HAVING count(*) > 1) d',
    );
    expect(dups!.n).toBe(0);

    // Host 2 listens again on a new connection.
    await eventually(
      async () => {
        const rows = await q(
          // Its last statement is LISTEN, or the liveness probe's NOTIFY to itself.
          `SELECT pid FROM pg_stat_activity WHERE client_addr = '10.231.2.2' AND backend_start > $1
            AND (query ILIKE 'listen%' OR query LIKE 'NOTIFY%__ping:%')`,
          [listenRestoredAt],
        );
        expect(rows.length).toBeGreaterThan(0);
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    );
    // Host 1 rejoins: registered again and running new jobs.
    const more = await enqueue(60, { sleepMs: 200 });
    await eventually(async () => expect((await completed(more)).n).toBe(60), {
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    const [rejoined] = await q<{ n: number }>(
      'SELECT count(*)::int AS n FROM ledger WHERE pid = $1 AND job_id = ANY($2)',
      [w1.pid, more],
    );
    expect(rejoined!.n).toBeGreaterThan(0);
    expect(await q('SELECT 1 FROM sluice.worker WHERE id = $1', [w1Id])).toHaveLength(1);
    console.log(
      `cut: leader handed over in ${handoverMs} ms, ${held.length} held jobs rescued ` +
        `within ${rescuedMs} ms, half-open LISTEN detected within ${detectedMs} ms, ` +
        `late results rejected ${lateMs} ms after the restore`,
    );
  }

  it("killing the leader's host hands leadership over; cron ticks neither stopped nor doubled", async () => {
    expect(await leader()).toBe(w2Id);
    w2.kill('SIGKILL');
    topo.linkDown(h2);
    const killedAt = Date.now();
    await eventually(async () => expect(await leader()).toBe(w1Id), {
      timeoutMs: LEADER_LEASE_MS + 5000,
    });
    const handoverMs = Date.now() - killedAt;
    expect(handoverMs).toBeLessThan(LEADER_LEASE_MS + 3000);
    // Two more ticks under the new leader.
    const [{ now }] = (await q<{ now: Date }>('SELECT now()')) as [{ now: Date }];
    await eventually(
      async () => {
        const [r] = await q<{ n: number }>(
          `SELECT count(*)::int AS n FROM sluice.job WHERE queue = 'ticks' AND run_at > $1`,
          [now],
        );
        expect(r!.n).toBeGreaterThanOrEqual(2);
      },
      { timeoutMs: 10_000, intervalMs: 200 },
    );
    const ticks = await q<{ run_at: Date; unique_key: string; late_ms: number }>(
      `SELECT run_at, unique_key, extract(epoch FROM created_at - run_at) * 1000 AS late_ms
         FROM sluice.job WHERE queue = 'ticks' ORDER BY run_at`,
    );
    // One job per second from the schedule's first tick on: none missing, none twice.
    expect(new Set(ticks.map((t) => t.unique_key)).size).toBe(ticks.length);
    ticks.forEach((t, i) => expect(t.run_at.getTime()).toBe(scheduleStart.getTime() + i * 1000));
    const maxLateMs = Math.max(...ticks.map((t) => Number(t.late_ms)));
    // Ticks due during a handover are enqueued late by the new leader, never skipped.
    expect(maxLateMs).toBeLessThan(LEADER_LEASE_MS + 5000);
    w1.kill('SIGTERM');
    await w1.exited;
    console.log(
      `leader killed: handed over in ${handoverMs} ms; ${ticks.length} ticks, latest ${Math.round(maxLateMs)} ms late`,
    );
  }, 60_000);
});
