import { describe, expect, it } from 'vitest';
import { planTicks, type TickPlanInput } from '../../src/scheduler/plan-ticks.js';

const iso = (ds: Date[]) => ds.map((d) => d.toISOString());

function plan(over: Partial<TickPlanInput> & { nextRunAt: Date | null; now: Date }) {
  return planTicks({
    cron: '* * * * *',
    timezone: 'UTC',
    missedPolicy: 'run_once',
    maxCatchUp: 10,
    misfireGraceMs: 60_000,
    ...over,
  });
}

describe('planTicks', () => {
  it('a tick just due gets one job and next_run_at moves to the following tick', () => {
    const p = plan({
      cron: '* * * * * *',
      nextRunAt: new Date('2025-01-01T12:00:00Z'),
      now: new Date('2025-01-01T12:00:00.400Z'),
    });
    expect(iso(p.ticks)).toEqual(['2025-01-01T12:00:00.000Z']);
    expect(p.nextRunAt.toISOString()).toBe('2025-01-01T12:00:01.000Z');
    expect(p.hasMissed).toBe(false);
  });

  it('ticks late by less than the grace all run, whatever the policy (no gaps on a slow pass)', () => {
    for (const missedPolicy of ['run_once', 'run_all', 'skip'] as const) {
      const p = plan({
        cron: '* * * * * *',
        missedPolicy,
        nextRunAt: new Date('2025-01-01T12:00:00Z'),
        now: new Date('2025-01-01T12:00:02.500Z'),
      });
      expect(iso(p.ticks)).toEqual([
        '2025-01-01T12:00:00.000Z',
        '2025-01-01T12:00:01.000Z',
        '2025-01-01T12:00:02.000Z',
      ]);
      expect(p.nextRunAt.toISOString()).toBe('2025-01-01T12:00:03.000Z');
    }
  });

  it('not yet due: nothing to do', () => {
    const nextRunAt = new Date('2025-01-01T12:01:00Z');
    const p = plan({ nextRunAt, now: new Date('2025-01-01T12:00:30Z') });
    expect(p.ticks).toEqual([]);
    expect(p.nextRunAt).toBe(nextRunAt);
  });

  it('no next_run_at yet (row written by SQL): first tick after now, no job', () => {
    const p = plan({ nextRunAt: null, now: new Date('2025-01-01T12:00:30Z') });
    expect(p.ticks).toEqual([]);
    expect(p.nextRunAt.toISOString()).toBe('2025-01-01T12:01:00.000Z');
  });

  describe('next_run_at 5 minutes in the past on a minutely schedule', () => {
    const now = new Date('2025-01-01T12:05:30Z');
    const nextRunAt = new Date('2025-01-01T12:00:30Z'); // not on the cron: set by hand
    const all = [
      '2025-01-01T12:00:30.000Z',
      '2025-01-01T12:01:00.000Z',
      '2025-01-01T12:02:00.000Z',
      '2025-01-01T12:03:00.000Z',
      '2025-01-01T12:04:00.000Z',
      '2025-01-01T12:05:00.000Z',
    ];

    it('run_once (default): one job, for the newest tick', () => {
      for (const misfireGraceMs of [0, 60_000]) {
        const p = plan({ nextRunAt, now, misfireGraceMs });
        expect(iso(p.ticks)).toEqual(['2025-01-01T12:05:00.000Z']);
        expect(p.nextRunAt.toISOString()).toBe('2025-01-01T12:06:00.000Z');
        expect(p.hasMissed).toBe(true);
      }
    });

    it('run_all: one job per tick, the newest maxCatchUp missed ones', () => {
      expect(iso(plan({ nextRunAt, now, missedPolicy: 'run_all' }).ticks)).toEqual(all);
      expect(
        iso(plan({ nextRunAt, now, missedPolicy: 'run_all', misfireGraceMs: 0 }).ticks),
      ).toEqual(all);
      // 12:05 is on time (30 s late < 60 s grace) and is not counted in maxCatchUp.
      expect(iso(plan({ nextRunAt, now, missedPolicy: 'run_all', maxCatchUp: 2 }).ticks)).toEqual(
        all.slice(3),
      );
      expect(
        iso(
          plan({ nextRunAt, now, missedPolicy: 'run_all', maxCatchUp: 2, misfireGraceMs: 0 }).ticks,
        ),
      ).toEqual(all.slice(4));
    });

    it('skip: no job for missed ticks; a tick within the grace still runs', () => {
      const strict = plan({ nextRunAt, now, missedPolicy: 'skip', misfireGraceMs: 0 });
      expect(strict.ticks).toEqual([]);
      expect(strict.nextRunAt.toISOString()).toBe('2025-01-01T12:06:00.000Z');
      expect(iso(plan({ nextRunAt, now, missedPolicy: 'skip' }).ticks)).toEqual([all[5]]);
    });
  });

  it('a week-long outage of a per-second schedule is planned without walking every tick', () => {
    const now = new Date('2025-01-08T00:00:00.500Z');
    const started = performance.now();
    const p = plan({
      cron: '* * * * * *',
      missedPolicy: 'run_all',
      maxCatchUp: 5,
      misfireGraceMs: 0,
      nextRunAt: new Date('2025-01-01T00:00:00Z'),
      now,
    });
    expect(iso(p.ticks)).toEqual([
      '2025-01-07T23:59:56.000Z',
      '2025-01-07T23:59:57.000Z',
      '2025-01-07T23:59:58.000Z',
      '2025-01-07T23:59:59.000Z',
      '2025-01-08T00:00:00.000Z',
    ]);
    expect(p.nextRunAt.toISOString()).toBe('2025-01-08T00:00:01.000Z');
    // Loose bound: 600k ticks at cron-parser's speed would take most of a minute.
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('catch-up across fall-back keeps the once-a-night rule (America/New_York)', () => {
    const p = plan({
      cron: '30 1 * * *',
      timezone: 'America/New_York',
      missedPolicy: 'run_all',
      nextRunAt: new Date('2025-11-01T05:30:00Z'),
      now: new Date('2025-11-03T12:00:00Z'),
    });
    expect(iso(p.ticks)).toEqual([
      '2025-11-01T05:30:00.000Z',
      '2025-11-02T05:30:00.000Z',
      '2025-11-03T06:30:00.000Z',
    ]);
    expect(p.nextRunAt.toISOString()).toBe('2025-11-04T06:30:00.000Z');
  });
});
