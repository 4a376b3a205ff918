import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createWorker, defineTask, enqueue } from 'sluice';
import { eventually } from '@sluice/testkit';
import { useTestDatabase } from '../../../test/setup/db.js';

const db = useTestDatabase();
const role = `sluice_app_${randomBytes(4).toString('hex')}`;

// The GRANTs the README gives for producers and workers: DML and EXECUTE, no DDL.
const grants = (r: string) => `
  CREATE ROLE ${r} LOGIN PASSWORD 'app';
  GRANT USAGE ON SCHEMA sluice TO ${r};
  GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA sluice TO ${r};
  GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA sluice TO ${r};
  GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA sluice TO ${r};`;

afterAll(async () => {
  await db.current.pool
    .query(`DROP OWNED BY ${role}; DROP ROLE IF EXISTS ${role}`)
    .catch(() => undefined);
});

describe('least privilege', () => {
  it('a role with only DML and EXECUTE can enqueue and run a worker, but not change the schema', async () => {
    await db.current.pool.query(grants(role));
    const url = new URL(db.current.url);
    url.username = role;
    url.password = 'app';
    const appUrl = url.toString();
    let ran = 0;
    const task = defineTask({ name: 'least', schema: z.object({}) }).handle(() => {
      ran++;
    });
    const pg = (await import('pg')).default;
    const appPool = new pg.Pool({ connectionString: appUrl });
    const worker = createWorker({
      db: appUrl,
      tasks: [task],
      logger: { debug() {}, info() {}, warn() {}, error() {} },
    });
    try {
      await worker.start();
      const { id } = await enqueue(task, {}, { db: appPool });
      await eventually(async () => {
        const { rows } = await db.current.pool.query(
          `SELECT state FROM sluice.job_history WHERE id = $1`,
          [id],
        );
        expect(rows).toEqual([{ state: 'completed' }]);
      });
      expect(ran).toBe(1);
      await expect(appPool.query('DROP TABLE sluice.job_history')).rejects.toThrow(/must be owner/);
    } finally {
      await worker.stop({ graceMs: 1000 });
      await appPool.end();
    }
  });
});
