import { CronExpressionParser } from 'cron-parser';
import { describe, expect, it } from 'vitest';
import { InvalidTimezoneError } from '../../src/scheduler/schedule-errors.js';
import { canonicalTimezone, nextTick } from '../../src/scheduler/next-tick.js';

const NY = 'America/New_York';

/** The ticks after `from`, chaining nextTick. */
function ticks(cron: string, timezone: string, from: string, n: number): string[] {
  const out: string[] = [];
  let at = new Date(from);
  for (let i = 0; i < n; i++) {
    at = nextTick(cron, timezone, at);
    out.push(at.toISOString());
  }
  return out;
}

describe('nextTick across DST (America/New_York, 2025)', () => {
  // Spring forward: 2025-03-09 02:00 EST becomes 03:00 EDT; 02:00-02:59 does not exist.
  it('0 2 * * * on spring-forward day fires once, at 03:00 EDT (first instant after the gap)', () => {
    expect(ticks('0 2 * * *', NY, '2025-03-08T00:00:00Z', 3)).toEqual([
      '2025-03-08T07:00:00.000Z', // 02:00 EST
      '2025-03-09T07:00:00.000Z', // 03:00 EDT
      '2025-03-10T06:00:00.000Z', // 02:00 EDT
    ]);
  });

  it('30 1 * * * on spring-forward day is unaffected (01:30 EST exists)', () => {
    expect(ticks('30 1 * * *', NY, '2025-03-08T00:00:00Z', 3)).toEqual([
      '2025-03-08T06:30:00.000Z',
      '2025-03-09T06:30:00.000Z', // 01:30 EST
      '2025-03-10T05:30:00.000Z', // 01:30 EDT
    ]);
  });

  // Fall back: 2025-11-02 02:00 EDT becomes 01:00 EST; 01:00-01:59 happens twice.
  it('30 1 * * * on fall-back day fires once, at the first 01:30 (EDT)', () => {
    expect(ticks('30 1 * * *', NY, '2025-11-01T00:00:00Z', 3)).toEqual([
      '2025-11-01T05:30:00.000Z',
      '2025-11-02T05:30:00.000Z', // 01:30 EDT; the 01:30 EST an hour later does not fire
      '2025-11-03T06:30:00.000Z',
    ]);
  });

  it('0 2 * * * on fall-back day fires once, at 02:00 EST', () => {
    expect(ticks('0 2 * * *', NY, '2025-11-01T00:00:00Z', 3)).toEqual([
      '2025-11-01T06:00:00.000Z',
      '2025-11-02T07:00:00.000Z',
      '2025-11-03T07:00:00.000Z',
    ]);
  });

  it('a wildcard-hour schedule fires at every real instant, so twice at wall-clock 01:00', () => {
    expect(ticks('0 * * * *', NY, '2025-11-02T04:30:00Z', 3)).toEqual([
      '2025-11-02T05:00:00.000Z', // 01:00 EDT
      '2025-11-02T06:00:00.000Z', // 01:00 EST
      '2025-11-02T07:00:00.000Z', // 02:00 EST
    ]);
  });

  it('starting inside the repeated hour does not fire a fixed-hour schedule a second time', () => {
    // cron-parser's next() alone answers 2025-11-02T06:30Z (the second 01:30) from here.
    for (const from of ['2025-11-02T06:00:00Z', '2025-11-02T06:10:00Z', '2025-11-02T06:29:59Z']) {
      expect(nextTick('30 1 * * *', NY, new Date(from)).toISOString()).toBe(
        '2025-11-03T06:30:00.000Z',
      );
    }
  });

  it('from any instant, agrees with cron-parser iteration started a day earlier', () => {
    const cases: [string, string, string][] = [
      ['30 1 * * *', NY, '2025-11-02T00:00:00Z'],
      ['0 1 * * *', NY, '2025-11-02T00:00:00Z'],
      ['15,45 1-2 * * *', NY, '2025-11-02T00:00:00Z'],
      ['0 2 * * *', NY, '2025-03-09T00:00:00Z'],
      ['*/20 * * * *', NY, '2025-11-02T00:00:00Z'],
      ['30 1 * * *', 'Europe/London', '2025-10-26T00:00:00Z'],
      ['45 1 * * *', 'Australia/Lord_Howe', '2025-04-05T10:00:00Z'], // 30-minute shift
    ];
    for (const [cron, tz, dayStart] of cases) {
      const start = new Date(dayStart).getTime();
      const it = CronExpressionParser.parse(cron, {
        tz,
        currentDate: new Date(start - 86_400_000),
      });
      const reference: number[] = [];
      while (reference.length === 0 || reference.at(-1)! < start + 2 * 86_400_000) {
        reference.push(it.next().getTime());
      }
      for (let x = start; x < start + 86_400_000; x += 7 * 60_000 + 13_000) {
        const expected = reference.find((t) => t > x)!;
        expect(
          nextTick(cron, tz, new Date(x)).getTime(),
          `${cron} ${tz} from ${new Date(x).toISOString()}`,
        ).toBe(expected);
      }
    }
  });
});

describe('canonicalTimezone', () => {
  it('accepts IANA names in any case and returns the canonical spelling', () => {
    expect(canonicalTimezone('UTC')).toBe('UTC');
    expect(canonicalTimezone('europe/paris')).toBe('Europe/Paris');
  });

  it('rejects anything else with InvalidTimezoneError', () => {
    for (const bad of ['Mars/Olympus', '', '+01:00', 42]) {
      expect(() => canonicalTimezone(bad)).toThrow(InvalidTimezoneError);
    }
  });
});
