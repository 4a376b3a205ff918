import { describe, expect, it } from 'vitest';
import { inSchema } from '../src/core/schema-sql.js';

describe('inSchema', () => {
  it('rewrites the marked schema name and leaves prose alone', () => {
    const text = `CREATE SCHEMA IF NOT EXISTS sluice;
SELECT pg_notify('sluice:job', q) FROM sluice.queue WHERE 'sluice.job'::regclass IS NOT NULL;
EXECUTE format('%I.%I', 'sluice', part);
RAISE EXCEPTION 'unknown queue %: run sluice migrate, or select sluice.create_queue(%)';`;
    expect(inSchema(text, 'jobs')).toBe(`CREATE SCHEMA IF NOT EXISTS jobs;
SELECT pg_notify('jobs:job', q) FROM jobs.queue WHERE 'jobs.job'::regclass IS NOT NULL;
EXECUTE format('%I.%I', 'jobs', part);
RAISE EXCEPTION 'unknown queue %: run sluice migrate, or select jobs.create_queue(%)';`);
    expect(inSchema(text, 'sluice')).toBe(text);
  });
});
