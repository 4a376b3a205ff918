// `sluice flow show|cancel|replay` as real processes on a flow written with the SQL function.
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../../test/setup/db.js';
import { runCli } from './run-cli.js';

const db = useTestDatabase();
const sluice = (...args: string[]) => runCli(args, { databaseUrl: db.current.url });

async function enqueueFlow(members: unknown[]) {
  const { rows } = await db.current.pool.query<{ ref: string; id: string }>(
    `SELECT ref, id::text FROM sluice.enqueue_flow($1::jsonb)`,
    [JSON.stringify(members)],
  );
  return Object.fromEntries(rows.map((r) => [r.ref, r.id]));
}

describe('sluice flow', () => {
  it('show draws the DAG with states and attempts; --json has every member; cancel and replay act on the flow', async () => {
    const ids = await enqueueFlow([
      { ref: 'charge', task: 'charge', payload: {} },
      { ref: 'reserve', task: 'reserve', payload: {} },
      { ref: 'ship', task: 'ship', depends_on: [{ ref: 'charge' }, { ref: 'reserve' }] },
      { ref: 'notify', task: 'notify', depends_on: [{ ref: 'ship' }, { ref: 'charge' }] },
    ]);
    const shown = await sluice('flow', 'show', ids.ship!);
    expect(shown.stderr).toBe('');
    const lines = shown.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`flow ${ids.charge}: 4 jobs`);
    expect(lines[1]).toMatch(
      new RegExp(`^#${ids.notify} notify \\[default\\] blocked  attempt 0/25$`),
    );
    expect(lines[2]).toMatch(new RegExp(`^├─ #${ids.ship} ship \\[default\\] blocked`));
    expect(lines[3]).toMatch(new RegExp(`^│  ├─ #${ids.charge} charge \\[default\\] pending`));
    expect(lines[4]).toMatch(new RegExp(`^│  └─ #${ids.reserve} reserve`));
    expect(lines[5]).toBe(`└─ #${ids.charge} charge (shown above)`);
    const json = JSON.parse((await sluice('flow', 'show', ids.notify!, '--json')).stdout) as {
      flowId: string;
      members: { id: string; dependsOn: string[] }[];
    };
    expect(json.flowId).toBe(ids.charge);
    expect(json.members.find((m) => m.id === ids.ship)!.dependsOn).toEqual([
      ids.charge,
      ids.reserve,
    ]);

    // A member dies; replay brings it and what died of it back.
    await db.current.pool.query(
      `WITH gone AS (DELETE FROM sluice.job WHERE id = $1 RETURNING *)
       INSERT INTO sluice.dead_letter (id, queue, task, payload, priority, run_at, attempt, max_attempts,
         reason, created_at, flow_id, has_dependents)
       SELECT id, queue, task, payload, priority, run_at, 1, 1, 'permanent', created_at, flow_id, has_dependents FROM gone`,
      [ids.reserve],
    );
    await db.current.pool.query(`SELECT sluice.release_dependents(ARRAY[$1::bigint], 'dead')`, [
      ids.reserve,
    ]);
    expect((await sluice('flow', 'show', ids.charge!)).stdout).toMatch(/ship \[default\] dead/);
    const replayed = await sluice('flow', 'replay', ids.charge!);
    expect(replayed.stdout.trim()).toBe(`replayed 1 dead job of the flow of ${ids.charge}`);
    const after = (await sluice('flow', 'show', ids.charge!)).stdout;
    expect(after).toMatch(/reserve \[default\] pending/);
    expect(after).toMatch(/ship \[default\] blocked/);
    expect(after).toMatch(/notify \[default\] blocked/);

    const cancelled = await sluice('flow', 'cancel', ids.charge!);
    expect(cancelled.stdout.trim()).toBe(`cancelled 4 jobs of the flow of ${ids.charge}`);
    expect((await sluice('flow', 'show', ids.charge!)).stdout).not.toMatch(/pending|blocked/);
    const missing = await sluice('flow', 'show', '999999999');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^sluice: job 999999999 not found/);
  });
});
