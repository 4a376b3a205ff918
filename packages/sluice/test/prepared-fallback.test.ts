// Behind a pooler in transaction mode (PgBouncer before 1.21), a named prepared statement meets a
// server connection that already has one of that name, or lacks it. The same error is produced
// here for real, on one connection, with SQL PREPARE: the executor runs the statement unnamed,
// warns once, and names nothing from then on.
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { toExecutor } from '../src/core/db.js';
import { useTestDatabase } from '../../../test/setup/db.js';

const db = useTestDatabase();

describe('prepared statements behind a pooler', () => {
  it('falls back to unnamed statements with one warning', async () => {
    const client = new pg.Client({ connectionString: db.current.url });
    await client.connect();
    try {
      // What another client of the pooler left on this server connection.
      await client.query('PREPARE claim_like AS SELECT 1');
      const warnings: unknown[] = [];
      const exec = toExecutor(client, { onPreparedFallback: (err) => warnings.push(err) });
      for (let i = 0; i < 3; i++) {
        const { rows } = await exec.query<{ n: number }>('SELECT $1::int AS n', [i], 'claim_like');
        expect(rows).toEqual([{ n: i }]);
      }
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ code: '42P05' });
      const { rows } = await client.query<{ name: string }>(
        'SELECT name FROM pg_prepared_statements',
      );
      expect(rows.map((r) => r.name)).toEqual(['claim_like']); // ours never got prepared
    } finally {
      await client.end();
    }
  });
});
