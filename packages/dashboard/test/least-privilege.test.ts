// The dashboard connected as the least-privilege role of docs/guide.md (DML and EXECUTE, no
// DDL) reads every page and acts, audit rows included.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboard } from '@sluice/dashboard';
import { useTestDatabase } from '../../../test/setup/db.js';
import { seed, type Seeded } from './seed.js';
import { Session } from './session.js';

const db = useTestDatabase();
const role = `sluice_dash_${randomBytes(4).toString('hex')}`;
let appPool: pg.Pool;
let ids: Seeded;

beforeAll(async () => {
  ids = await seed(db.current.pool);
  await db.current.pool.query(`
    CREATE ROLE ${role} LOGIN PASSWORD 'app';
    GRANT USAGE ON SCHEMA sluice TO ${role};
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA sluice TO ${role};
    GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA sluice TO ${role};
    GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA sluice TO ${role};`);
  const url = new URL(db.current.url);
  url.username = role;
  url.password = 'app';
  appPool = new pg.Pool({ connectionString: url.toString() });
});

afterAll(async () => {
  await appPool?.end();
  await db.current.pool
    .query(`DROP OWNED BY ${role}; DROP ROLE IF EXISTS ${role}`)
    .catch(() => undefined);
});

describe('least privilege', () => {
  it('every page and the actions work for a role with only DML and EXECUTE', async () => {
    const s = new Session(createDashboard({ db: appPool }));
    for (const path of [
      '/',
      '/queues/mail',
      `/jobs/${ids.dead[0]}`,
      '/dead-letters',
      '/schedules',
      '/workers',
      '/audit',
    ]) {
      expect((await s.get(path)).status, path).toBe(200);
    }
    expect((await s.post('/queues/mail/pause')).status).toBe(303);
    expect((await s.post(`/jobs/${ids.dead[0]}/replay`)).status).toBe(303);
    expect((await s.post('/dead-letters/purge-matching', { filter_queue: 'mail' })).status).toBe(
      303,
    );
    expect((await s.post('/schedules/nightly-report/run')).status).toBe(303);
    const { rows } = await db.current.pool.query(
      `SELECT action, count FROM sluice.audit ORDER BY id`,
    );
    expect(rows).toEqual([
      { action: 'queue.pause', count: 1 },
      { action: 'dead_letter.replay', count: 1 },
      { action: 'dead_letter.purge_matching', count: 2 },
      { action: 'schedule.run_now', count: 1 },
    ]);
  });
});
