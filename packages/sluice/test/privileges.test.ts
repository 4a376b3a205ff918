import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createWorker, defineTask, enqueue, flow, type Logger } from 'sluice';
import { createQueue, Maintenance } from 'sluice/admin';
import { eventually } from '@sluice/testkit';
import { useTestDatabase } from '../../../test/setup/db.js';

const db = useTestDatabase();
const role = `sluice_app_${randomBytes(4).toString('hex')}`;

// The GRANTs docs/guide.md gives for producers and workers: DML and EXECUTE, no DDL.
const grants = (r: string) => `
  CREATE ROLE ${r} LOGIN PASSWORD 'app';
  GRANT USAGE ON SCHEMA sluice TO ${r};
  GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA sluice TO ${r};
  GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA sluice TO ${r};
  GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA sluice TO ${r};`;

let appUrl = '';
beforeAll(async () => {
  await db.current.pool.query(grants(role));
  const url = new URL(db.current.url);
  url.username = role;
  url.password = 'app';
  appUrl = url.toString();
});

afterAll(async () => {
  await db.current.pool
    .query(`DROP OWNED BY ${role}; DROP ROLE IF EXISTS ${role}`)
    .catch(() => undefined);
});

describe('least privilege', () => {
  it('a role with only DML and EXECUTE can enqueue and run a worker, but not change the schema', async () => {
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
      // A flow too: its enqueue, its release and its dependents' reads need nothing more.
      const f = flow();
      f.add(task, {}, { dependsOn: [f.add(task, {})] });
      const { ids } = await f.enqueue({ db: appPool });
      await eventually(async () => {
        const { rows } = await db.current.pool.query(
          `SELECT state FROM sluice.job_history WHERE id = ANY($1) ORDER BY id`,
          [[id, ...ids]],
        );
        expect(rows).toEqual([
          { state: 'completed' },
          { state: 'completed' },
          { state: 'completed' },
        ]);
      });
      expect(ran).toBe(3);
      await expect(appPool.query('DROP TABLE sluice.job_history')).rejects.toThrow(/must be owner/);
    } finally {
      await worker.stop({ graceMs: 1000 });
      await appPool.end();
    }
  });

  it('the leader keeps history partitions and statistics as that role, day after day', async () => {
    const pg = (await import('pg')).default;
    const app = new pg.Pool({ connectionString: appUrl });
    const complaints: unknown[] = [];
    const logger: Logger = {
      debug() {},
      info() {},
      warn: (...a: unknown[]) => complaints.push(a),
      error: (...a: unknown[]) => complaints.push(a),
    };
    const q = (text: string, values: unknown[] = []) =>
      app.query<Record<string, unknown>>(text, values).then((r) => r.rows);
    try {
      // What the leader does every run: before 0012 this failed with 42501 / "must be owner".
      const m = new Maintenance(
        { pool: app, schema: 'sluice', logger },
        { analyzeIntervalMs: 1, startDelayMs: 0 },
      );
      const run = await m.runOnce();
      expect(run.isAnalyzed).toBe(true);
      expect(complaints).toEqual([]);
      expect(await createQueue({ db: app, name: 'made_by_app' })).toBe(true);

      // Ten simulated days, each as the leader would run it on that day: partitions for the
      // next two days, a completed job finishing that day, and retention of three days (a partition
      // goes once its whole day is older than that).
      for (let day = 1; day <= 10; day++) {
        await q(
          `SELECT sluice.create_history_partitions((now() AT TIME ZONE 'UTC')::date + $1::int, 2)`,
          [day],
        );
        await q(
          `INSERT INTO sluice.job_history (id, queue, task, payload, state, priority, run_at,
             attempt, max_attempts, created_at, finished_at)
           VALUES ($1, 'default', 't', '{}', 'completed', 0, now(), 1, 1, now(),
             now() + $2::int * interval '1 day')`,
          [1000 + day, day],
        );
        await q(`SELECT sluice.drop_history_partitions(now() + ($1::int - 3) * interval '1 day')`, [
          day,
        ]);
      }
      expect(await q(`SELECT id FROM sluice.job_history_default`)).toEqual([]);
      const kept = await q(`SELECT id FROM sluice.job_history WHERE id > 1000 ORDER BY id`);
      expect(kept.map((r) => Number(r.id))).toEqual([1007, 1008, 1009, 1010]);
      // The partitions belong to the owner, not to the role that asked for them.
      const owners = await db.current.pool.query<{ owner: string }>(
        `SELECT DISTINCT pg_get_userbyid(c.relowner) AS owner FROM sluice.history_partitions p
         JOIN pg_class c ON c.relname = p.name`,
      );
      expect(owners.rows.map((r) => r.owner)).not.toContain(role);
      // Owner's rights through these functions only: the role still cannot do DDL itself.
      await expect(q(`CREATE TABLE sluice.mine (x int)`)).rejects.toThrow(/permission denied/);
    } finally {
      await app.end();
    }
  });
});
