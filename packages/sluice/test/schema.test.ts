import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTask, enqueue, enqueueMany } from 'sluice';
import { createQueue } from 'sluice/admin';
import { useTestDatabase } from '../../../test/setup/db.js';
import { sluiceColumns } from './schema-columns.js';

const db = useTestDatabase();
const anything = defineTask({ name: 'anything', schema: z.unknown() });

async function query<R extends pg.QueryResultRow>(text: string, values?: unknown[]) {
  return (await db.current.pool.query<R>(text, values)).rows;
}

async function partitionOf(queue: string) {
  const rows = await query<{ partition_name: string }>(
    'SELECT partition_name FROM sluice.queue WHERE name = $1',
    [queue],
  );
  return rows[0]!.partition_name;
}

/** The partitions of sluice.job, by name. */
async function jobPartitions() {
  const rows = await query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_partition_tree('sluice.job') t
     JOIN pg_class c ON c.oid = t.relid WHERE t.isleaf ORDER BY 1`,
  );
  return rows.map((r) => r.name);
}

/** Definitions of the indexes on one partition. */
async function indexesOn(partition: string) {
  const rows = await query<{ def: string }>(
    `SELECT pg_get_indexdef(i.indexrelid) AS def FROM pg_index i
     WHERE i.indrelid = format('sluice.%I', $1::text)::regclass`,
    [partition],
  );
  return rows.map((r) => r.def);
}

const CLAIM_INDEX =
  /USING btree \(queue, priority DESC, run_at, id\) WHERE \(state = 'pending'::text\)$/;

describe('job partitions', () => {
  it('createQueue gives a queue its own partition with the claim index, and its jobs land there', async () => {
    expect(await createQueue({ db: db.current.pool, name: 'emails' })).toBe(true);
    const partition = await partitionOf('emails');
    expect(partition).toMatch(/^job_q_emails_[0-9a-f]{8}$/);
    expect(await jobPartitions()).toContain(partition);
    const bound = await query<{ bound: string }>(
      `SELECT pg_get_expr(c.relpartbound, c.oid) AS bound FROM pg_class c
       WHERE c.oid = format('sluice.%I', $1::text)::regclass`,
      [partition],
    );
    expect(bound[0]!.bound).toBe(`FOR VALUES IN ('emails')`);

    const claim = (await indexesOn(partition)).filter((d) => CLAIM_INDEX.test(d));
    expect(claim).toHaveLength(1);

    const one = await enqueue(anything, { n: 1 }, { db: db.current.pool, queue: 'emails' });
    const many = await enqueueMany(
      [1, 2].map((n) => ({ task: anything, payload: n, queue: 'emails' })),
      { db: db.current.pool },
    );
    const rows = await query<{ part: string }>(
      'SELECT DISTINCT tableoid::regclass::text AS part FROM sluice.job WHERE id = ANY($1)',
      [[one.id, ...many.map((m) => m.id)]],
    );
    expect(rows).toEqual([{ part: `sluice.${partition}` }]);
    // The SQL function writes into the same partition.
    const [viaSql] = await query<{ id: string }>(
      `SELECT sluice.enqueue('anything', '{}', 'emails') AS id`,
    );
    const sqlRows = await query<{ part: string }>(
      'SELECT tableoid::regclass::text AS part FROM sluice.job WHERE id = $1',
      [viaSql!.id],
    );
    expect(sqlRows).toEqual([{ part: `sluice.${partition}` }]);
    // Creating it again is a no-op.
    expect(await createQueue({ db: db.current.pool, name: 'emails' })).toBe(false);
  });

  it('the default queue has its partition and claim index after migrate', async () => {
    const partition = await partitionOf('default');
    expect(await jobPartitions()).toContain(partition);
    expect((await indexesOn(partition)).some((d) => CLAIM_INDEX.test(d))).toBe(true);
  });

  it('derives a safe partition name from a queue name with odd characters', async () => {
    const odd = ['a.b:c-d', 'A.B:C-D', 'x'.repeat(128), 'sluice.job;drop'];
    for (const name of odd.slice(0, 3)) {
      expect(await createQueue({ db: db.current.pool, name })).toBe(true);
    }
    const parts = await Promise.all(odd.slice(0, 3).map(partitionOf));
    expect(parts[0]).toMatch(/^job_q_a_b_c_d_[0-9a-f]{8}$/);
    // Names differing only in case or punctuation still get distinct partitions (the hash).
    expect(new Set(parts).size).toBe(3);
    for (const p of parts) {
      expect(p).toMatch(/^[a-z0-9_]{1,63}$/);
    }
    const { id } = await enqueue(anything, 1, { db: db.current.pool, queue: 'a.b:c-d' });
    const rows = await query<{ part: string }>(
      'SELECT tableoid::regclass::text AS part FROM sluice.job WHERE id = $1',
      [id],
    );
    expect(rows[0]!.part).toBe(`sluice.${parts[0]}`);
    // A name outside the whitelist never reaches DDL.
    await expect(query(`SELECT sluice.create_queue($1)`, [odd[3]])).rejects.toThrow(
      /invalid queue name/,
    );
  });
});

describe('Kysely types', () => {
  it('SluiceDatabase matches the migrated tables and views column by column', async () => {
    const rows = await query<{ rel: string; column_name: string; is_nullable: 'YES' | 'NO' }>(
      `SELECT c.table_schema || '.' || c.table_name AS rel, c.column_name, c.is_nullable
       FROM information_schema.columns c
       JOIN pg_class r ON r.oid = format('%I.%I', c.table_schema, c.table_name)::regclass
       WHERE c.table_schema = 'sluice' AND NOT r.relispartition
       ORDER BY rel, c.ordinal_position`,
    );
    const fromDb = new Map<string, Record<string, 'YES' | 'NO'>>();
    for (const r of rows) {
      fromDb.set(r.rel, { ...fromDb.get(r.rel), [r.column_name]: r.is_nullable });
    }
    const views = new Set(
      (
        await query<{ rel: string }>(
          `SELECT 'sluice.' || table_name AS rel FROM information_schema.views
           WHERE table_schema = 'sluice'`,
        )
      ).map((r) => r.rel),
    );
    // Every table and view has a type, and every type a table or view.
    expect([...fromDb.keys()].sort()).toEqual(Object.keys(sluiceColumns).sort());

    for (const [rel, spec] of Object.entries(sluiceColumns)) {
      const live = fromDb.get(rel)!;
      expect({ rel, columns: Object.keys(live).sort() }).toEqual({
        rel,
        columns: Object.keys(spec).sort(),
      });
      // Views report every column as nullable; only tables say something here.
      if (views.has(rel)) continue;
      for (const [column, nullability] of Object.entries(spec) as [string, string][]) {
        if (nullability === 'any') continue;
        expect({ rel, column, nullable: live[column] === 'YES' }).toEqual({
          rel,
          column,
          nullable: nullability === 'null',
        });
      }
    }
  });
});
