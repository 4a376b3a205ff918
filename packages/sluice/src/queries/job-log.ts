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

// One statement for all of an attempt's lines: a job's log never costs a round-trip per line.
export async function jobLogInsertMany(
  db: Executor,
  schema: string,
  p: {
    id: string;
    attempt: number;
    levels: string[];
    messages: string[];
    fieldsJson: (string | null)[];
  },
) {
  await db.query(
    inSchema(
      `INSERT INTO sluice.job_log (job_id, attempt, seq, level, message, fields)
       SELECT $1, $2, l.seq, l.level, l.message, l.fields::jsonb
       FROM unnest($3::text[], $4::text[], $5::text[]) WITH ORDINALITY
         AS l(level, message, fields, seq)`,
      schema,
    ),
    [p.id, p.attempt, p.levels, p.messages, p.fieldsJson],
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
