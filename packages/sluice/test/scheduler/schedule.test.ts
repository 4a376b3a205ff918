import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  defineTask,
  InvalidCronError,
  InvalidNameError,
  InvalidPayloadError,
  InvalidTimezoneError,
  PayloadTooLargeError,
  schedule,
  unschedule,
  UnknownQueueError,
} from 'sluice';
import {
  createQueue,
  getSchedule,
  listSchedules,
  runScheduleNow,
  setScheduleEnabled,
} from 'sluice/admin';
import { useTestDatabase } from '../../../../test/setup/db.js';

const db = useTestDatabase();
const report = defineTask({
  name: 'report',
  queue: 'default',
  schema: z.object({ kind: z.enum(['daily', 'weekly']) }),
  maxAttempts: 3,
  priority: 5,
});

async function scheduleCount(name: string) {
  const { rows } = await db.current.pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM sluice.schedule WHERE name = $1',
    [name],
  );
  return rows[0]!.n;
}

describe('schedule()', () => {
  it('creates a row with next_run_at = the first tick after the database clock', async () => {
    const row = await schedule({
      db: db.current.pool,
      name: 'nightly',
      cron: '0 2 * * *',
      timezone: 'europe/paris',
      task: report,
      payload: { kind: 'daily' },
    });
    expect(row.isCreated).toBe(true);
    expect(row).toMatchObject({
      timezone: 'Europe/Paris',
      task: 'report',
      queue: 'default',
      payload: { kind: 'daily' },
      priority: 5,
      maxAttempts: 3,
      missedPolicy: 'run_once',
      maxCatchUp: 10,
      isEnabled: true,
    });
    const { rows } = await db.current.pool.query<{ ok: boolean }>(
      `SELECT next_run_at > now() AND next_run_at <= now() + interval '1 day'
         AND extract(hour FROM next_run_at AT TIME ZONE 'Europe/Paris') = 2
         AND extract(minute FROM next_run_at AT TIME ZONE 'Europe/Paris') = 0 AS ok
       FROM sluice.schedule WHERE name = 'nightly'`,
    );
    expect(rows[0]!.ok).toBe(true);
  });

  it('upserts by name: next_run_at stays unless cron or time zone change', async () => {
    const first = await schedule({
      db: db.current.pool,
      name: 'up',
      cron: '0 3 * * *',
      task: 'anything',
    });
    await db.current.pool.query(
      `UPDATE sluice.schedule SET next_run_at = now() - interval '1 minute' WHERE name = 'up'`,
    );
    const again = await schedule({
      db: db.current.pool,
      name: 'up',
      cron: '0 3 * * *',
      task: 'anything',
      payload: { v: 2 },
    });
    expect(first.isCreated).toBe(true);
    expect(again.isCreated).toBe(false);
    expect(again.payload).toEqual({ v: 2 });
    // The tick missed during the "deploy" is still due.
    expect(again.nextRunAt!.getTime()).toBeLessThan(Date.now());
    const changed = await schedule({
      db: db.current.pool,
      name: 'up',
      cron: '0 4 * * *',
      task: 'anything',
    });
    expect(changed.nextRunAt!.getTime()).toBeGreaterThan(Date.now() - 5_000);
    expect(changed.nextRunAt!.getUTCHours()).toBe(4);
  });

  it('invalid cron, time zone, payload, queue or name: typed error and no row', async () => {
    const base = {
      db: db.current.pool,
      cron: '* * * * *',
      task: report,
      payload: { kind: 'daily' as const },
    };
    await expect(schedule({ ...base, name: 'bad-cron', cron: '61 * * * *' })).rejects.toThrow(
      InvalidCronError,
    );
    await expect(schedule({ ...base, name: 'bad-cron', cron: '' })).rejects.toThrow(
      InvalidCronError,
    );
    await expect(schedule({ ...base, name: 'bad-cron', cron: '0 0 31 2 *' })).rejects.toThrow(
      InvalidCronError,
    );
    await expect(schedule({ ...base, name: 'bad-tz', timezone: 'Mars/Olympus' })).rejects.toThrow(
      InvalidTimezoneError,
    );
    await expect(
      // @ts-expect-error the payload type is checked at compile time too
      schedule({ ...base, name: 'bad-payload', payload: { kind: 'hourly' } }),
    ).rejects.toThrow(InvalidPayloadError);
    await expect(
      schedule({ ...base, name: 'bad-json', task: 'free', payload: { n: Number.NaN } }),
    ).rejects.toThrow(InvalidPayloadError);
    await expect(schedule({ ...base, name: 'bad-queue', queue: 'nope' })).rejects.toThrow(
      UnknownQueueError,
    );
    await expect(schedule({ ...base, name: 'bad name!' })).rejects.toThrow(InvalidNameError);
    for (const name of ['bad-cron', 'bad-tz', 'bad-payload', 'bad-json', 'bad-queue']) {
      expect(await scheduleCount(name)).toBe(0);
    }
    await createQueue({ db: db.current.pool, name: 'tiny', maxPayloadBytes: 10 });
    await expect(
      schedule({ ...base, name: 'too-big', queue: 'tiny', payload: { kind: 'weekly' } }),
    ).rejects.toThrow(PayloadTooLargeError);
    expect(await scheduleCount('too-big')).toBe(0);
  });

  it('runScheduleNow enqueues one job now and leaves next_run_at alone', async () => {
    const row = await schedule({
      db: db.current.pool,
      name: 'manual',
      cron: '0 0 1 1 *',
      task: report,
      payload: { kind: 'weekly' },
    });
    const job = await runScheduleNow({ db: db.current.pool, name: 'manual' });
    expect(job).not.toBeNull();
    const { rows } = await db.current.pool.query(
      'SELECT task, queue, payload, priority, max_attempts, run_at <= now() AS is_ready FROM sluice.job WHERE id = $1',
      [job!.id],
    );
    expect(rows[0]).toEqual({
      task: 'report',
      queue: 'default',
      payload: { kind: 'weekly' },
      priority: 5,
      max_attempts: 3,
      is_ready: true,
    });
    const after = await getSchedule({ db: db.current.pool, name: 'manual' });
    expect(after!.nextRunAt).toEqual(row.nextRunAt);
    expect(await runScheduleNow({ db: db.current.pool, name: 'missing' })).toBeNull();
  });

  it('disable, re-enable (from the next tick, no catch-up), list, unschedule', async () => {
    await schedule({ db: db.current.pool, name: 'toggle', cron: '* * * * *', task: 'anything' });
    expect(
      await setScheduleEnabled({ db: db.current.pool, name: 'toggle', isEnabled: false }),
    ).toBe(true);
    await db.current.pool.query(
      `UPDATE sluice.schedule SET next_run_at = now() - interval '1 hour' WHERE name = 'toggle'`,
    );
    expect(await setScheduleEnabled({ db: db.current.pool, name: 'toggle', isEnabled: true })).toBe(
      true,
    );
    const row = await getSchedule({ db: db.current.pool, name: 'toggle' });
    expect(row!.isEnabled).toBe(true);
    expect(row!.nextRunAt!.getTime()).toBeGreaterThan(Date.now() - 5_000);
    expect(await setScheduleEnabled({ db: db.current.pool, name: 'nope', isEnabled: true })).toBe(
      false,
    );

    const names = (await listSchedules({ db: db.current.pool })).map((s) => s.name);
    expect(names).toContain('toggle');
    expect(await unschedule({ db: db.current.pool, name: 'toggle' })).toBe(true);
    expect(await unschedule({ db: db.current.pool, name: 'toggle' })).toBe(false);
    expect(await getSchedule({ db: db.current.pool, name: 'toggle' })).toBeUndefined();
  });
});
