// Statements without RETURNING report what they changed through a Kysely instance or transaction
// too (Kysely reports numAffectedRows, not rows): the defects issue, item 11.
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schedule, unschedule, type SluiceDatabase } from 'sluice';
import { createQueue, purgeDeadLetters, setScheduleEnabled, updateQueue } from 'sluice/admin';
import { useTestDatabase } from '../../../test/setup/db.js';

const db = useTestDatabase();
let kysely: Kysely<SluiceDatabase>;

beforeAll(() => {
  kysely = new Kysely<SluiceDatabase>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: db.current.url }) }),
  });
});
afterAll(() => kysely.destroy());

async function deadRows(n: number) {
  await db.current.pool.query(
    `INSERT INTO sluice.dead_letter (id, queue, task, payload, priority, run_at, attempt, max_attempts, errors, reason, created_at)
     SELECT nextval('sluice.job_id_seq'), 'default', 't', '{}', 0, now(), 1, 1, '[]', 'permanent', now()
     FROM generate_series(1, $1)`,
    [n],
  );
}

class Rollback extends Error {}

describe('row counts through Kysely', () => {
  for (const where of ['instance', 'transaction'] as const) {
    it(`updateQueue, unschedule, setScheduleEnabled and purgeDeadLetters report changes (${where})`, async () => {
      await createQueue({ db: db.current.pool, name: `counted-${where}` });
      await schedule({ db: db.current.pool, name: `s-${where}`, cron: '* * * * *', task: 'x' });
      await deadRows(3);
      const check = async (k: Kysely<SluiceDatabase>) => {
        expect(await updateQueue({ db: k, name: `counted-${where}`, concurrencyLimit: 5 })).toBe(
          true,
        );
        expect(await updateQueue({ db: k, name: 'no-such-queue', concurrencyLimit: 5 })).toBe(
          false,
        );
        expect(await setScheduleEnabled({ db: k, name: `s-${where}`, isEnabled: false })).toBe(
          true,
        );
        expect(await unschedule({ db: k, name: `s-${where}` })).toBe(true);
        expect(await unschedule({ db: k, name: `s-${where}` })).toBe(false);
        expect(await purgeDeadLetters({ db: k })).toBe(3);
      };
      if (where === 'instance') {
        await check(kysely);
      } else {
        // Inside a transaction that is then rolled back: the counts are right and nothing stays.
        await expect(
          kysely.transaction().execute(async (tx) => {
            await check(tx);
            throw new Rollback();
          }),
        ).rejects.toBeInstanceOf(Rollback);
        const { rows } = await db.current.pool.query(
          `SELECT (SELECT count(*) FROM sluice.dead_letter) AS dead,
             (SELECT count(*) FROM sluice.schedule WHERE name = $1) AS schedules`,
          [`s-${where}`],
        );
        expect(rows[0]).toEqual({ dead: '3', schedules: '1' });
        await db.current.pool.query('TRUNCATE sluice.dead_letter');
      }
    });
  }
});
