// Every ```sql block of docs/workflows.md runs, in order, in one rolled-back transaction: the
// flow it writes is what the later blocks inspect, cancel and replay.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './setup/db.js';

const PAGE = new URL('../docs/workflows.md', import.meta.url);
const blocks = [...readFileSync(PAGE, 'utf8').matchAll(/^```sql\n([\s\S]*?)^```$/gm)].map((m) =>
  m[1]!.trim(),
);
const db = useTestDatabase();

describe('docs/workflows.md SQL', () => {
  it('enqueues the order flow, lists its members and edges, cancels and replays it', async () => {
    expect(blocks).toHaveLength(4);
    const client = await db.current.pool.connect();
    try {
      await client.query('BEGIN');
      const written = await client.query<{ ref: string; id: string }>(blocks[0]!);
      expect(written.rows.map((r) => r.ref)).toEqual(['charge', 'reserve', 'ship']);
      const members = await client.query<{ task: string; state: string; depends_on: string[] }>(
        blocks[1]!,
      );
      expect(members.rows.map((m) => [m.task, m.state])).toEqual([
        ['charge', 'pending'],
        ['reserve', 'pending'],
        ['ship', 'blocked'],
      ]);
      expect(members.rows[2]!.depends_on.map(String)).toEqual(
        written.rows.slice(0, 2).map((r) => String(r.id)),
      );
      const edges = await client.query<{ on_failure: string; outcome: string | null }>(blocks[2]!);
      expect(edges.rows.map((e) => [e.on_failure, e.outcome])).toEqual([
        ['fail', null],
        ['ignore', null],
      ]);
      const acted = await client.query<{ cancel_flow: number; replay_flow: number }>(blocks[3]!);
      expect(acted.rows).toEqual([{ cancel_flow: 3, replay_flow: 0 }]);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });
});
