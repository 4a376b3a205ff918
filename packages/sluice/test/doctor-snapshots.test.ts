// inspectSchema (sluice doctor) warns while a long-held snapshot keeps vacuum from removing the
// dead rows that claimed and finished jobs leave (issue 14's soak: claims slow down meanwhile).
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { inspectSchema } from 'sluice/admin';
import { useTestDatabase } from '../../../test/setup/db.js';

const db = useTestDatabase();

describe('old snapshots', () => {
  it('a REPEATABLE READ transaction held open is reported with its pid, and not after it ends', async () => {
    const holder = new pg.Client({ connectionString: db.current.url, application_name: 'report' });
    await holder.connect();
    try {
      await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await holder.query('SELECT count(*) FROM sluice.job');
      const { rows } = await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const pid = rows[0]!.pid;
      await new Promise((r) => setTimeout(r, 400));
      const held = await inspectSchema({ db: db.current.pool, oldSnapshotAfterMs: 200 });
      expect(held.oldSnapshots).toContainEqual(
        expect.objectContaining({ kind: 'transaction', pid, applicationName: 'report' }),
      );
      expect(held.warnings.join('\n')).toMatch(
        new RegExp(`pid ${pid}, report, .*held its snapshot .*vacuum cannot remove dead job rows`),
      );
      expect(held.isHealthy).toBe(true); // a warning, not a broken schema
      await holder.query('COMMIT');
      const after = await inspectSchema({ db: db.current.pool, oldSnapshotAfterMs: 200 });
      expect(after.oldSnapshots.filter((o) => o.pid === pid)).toEqual([]);
    } finally {
      await holder.end();
    }
  });
});
