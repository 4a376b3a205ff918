// The log lines handlers write with ctx.log (sluice.job_log, 0018).
import type { Executor } from '../core/db.js';
import { inSchema } from '../core/schema-sql.js';

/** One stored log line of a job. */
export interface JobLogRow {
  attempt: number;
  at: Date;
  level: string;
  message: string;
  fields: Record<string, unknown> | null;
}

// One statement for a batch of an attempt's lines: a job's log never costs a round trip per
// line. A line's time is the database clock minus its age, like the other job times.
export async function jobLogInsertMany(
  db: Executor,
  schema: string,
  p: {
    id: string;
    attempt: number;
    firstSeq: number;
    levels: string[];
    messages: string[];
    fieldsJson: (string | null)[];
    agesMs: number[];
  },
) {
  await db.query(
    inSchema(
      `INSERT INTO sluice.job_log (job_id, attempt, seq, at, level, message, fields)
       SELECT $1, $2, $3 + l.n - 1, now() - l.age_ms * interval '1 millisecond', l.level,
         l.message, l.fields::jsonb
       FROM unnest($4::text[], $5::text[], $6::text[], $7::float8[]) WITH ORDINALITY
         AS l(level, message, fields, age_ms, n)`,
      schema,
    ),
    [p.id, p.attempt, p.firstSeq, p.levels, p.messages, p.fieldsJson, p.agesMs],
  );
}

export async function jobLogList(db: Executor, schema: string, p: { id: string; limit: number }) {
  const { rows } = await db.query<JobLogRow>(
    inSchema(
      `SELECT attempt, at, level, message, fields FROM sluice.job_log
       WHERE job_id = $1 ORDER BY attempt, seq LIMIT $2`,
      schema,
    ),
    [p.id, p.limit],
  );
  return rows;
}

export async function jobLogPrune(db: Executor, schema: string, maxRows: number) {
  const { rows } = await db.query<{ n: number }>(
    inSchema(`SELECT sluice.prune_job_logs($1) AS n`, schema),
    [maxRows],
  );
  return rows[0]?.n ?? 0;
}
