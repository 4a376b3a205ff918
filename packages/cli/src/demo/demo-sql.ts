// Every statement `sluice demo` runs, as fixed text with bound values. They are what the demo
// prints, so they are written the way a user would type them in psql. Statements on Sluice's
// tables name the schema `sluice`; `forSchema` rewrites them for another schema.

/** The demo's queues; their jobs, history and dead letters are cleared at the start. */
export const DEMO_QUEUES = ['demo-mail', 'demo', 'demo-bulk'];

/** The statements, by table then verb. */
export const DEMO_SQL = {
  tablesDrop: 'DROP TABLE IF EXISTS demo_order, demo_flag',
  orderCreateTable: `CREATE TABLE demo_order (
  id serial PRIMARY KEY,
  customer text NOT NULL,
  total_cents integer NOT NULL,
  email_sent_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
)`,
  flagCreateTable: `CREATE TABLE demo_flag (name text PRIMARY KEY, is_fixed boolean NOT NULL)`,
  flagInsert: `INSERT INTO demo_flag (name, is_fixed) VALUES ('invoice-api', false)`,
  jobDeleteDemo: 'DELETE FROM sluice.job WHERE queue = ANY($1)',
  historyDeleteDemo: 'DELETE FROM sluice.job_history WHERE queue = ANY($1)',
  deadLetterDeleteDemo: 'DELETE FROM sluice.dead_letter WHERE queue = ANY($1)',
  orderInsert: 'INSERT INTO demo_order (customer, total_cents) VALUES ($1, $2) RETURNING id',
  orderMarkEmailed: 'UPDATE demo_order SET email_sent_at = now() WHERE id = $1',
  jobShow: 'SELECT id, queue, task, state, attempt, payload FROM sluice.job WHERE id = $1',
  rolledBackCount: `SELECT (SELECT count(*) FROM demo_order WHERE id = $1) AS orders,
       (SELECT count(*) FROM sluice.all_jobs WHERE id = $2) AS jobs`,
  workerList: `SELECT pid, queues, concurrency, started_at::time(0) AS started
FROM sluice.worker WHERE pid = ANY($1) ORDER BY pid`,
  orderEmailShow: `SELECT j.id AS job, j.state, j.result, o.email_sent_at::time(3) AS email_sent_at
FROM sluice.all_jobs j JOIN demo_order o ON o.id = (j.payload->>'orderId')::int
WHERE j.id = $1`,
  attemptsShow: `WITH attempts AS (
  SELECT e.attempt, e.at, 'failed: ' || e.message AS outcome
  FROM sluice.job_history h,
       jsonb_to_recordset(h.errors) AS e(attempt int, at timestamptz, message text)
  WHERE h.id = $1
  UNION ALL
  SELECT h.attempt, h.finished_at, 'completed' FROM sluice.job_history h WHERE h.id = $1
)
SELECT attempt, at::time(3) AS at,
       round(extract(epoch FROM at - lag(at) OVER (ORDER BY attempt)) * 1000) AS ms_after_previous,
       outcome
FROM attempts ORDER BY attempt`,
  deadLetterShow: `SELECT id, task, attempt, max_attempts, reason,
       errors->-1->>'message' AS last_error
FROM sluice.dead_letter WHERE id = $1`,
  flagFix: `UPDATE demo_flag SET is_fixed = true WHERE name = 'invoice-api'`,
  flagGet: 'SELECT is_fixed FROM demo_flag WHERE name = $1',
  deadLetterReplay: 'SELECT sluice.replay_dead_letter($1) AS replayed',
  jobStateShow: 'SELECT id, task, state, attempt, result FROM sluice.all_jobs WHERE id = $1',
  tickFirstDone: `SELECT id, unique_key, state, finished_at::time(3) AS finished_at
FROM sluice.job_history WHERE task = 'demo-tick' ORDER BY id LIMIT 1`,
  bulkLeft: `SELECT count(*)::int AS left FROM sluice.job WHERE queue = 'demo-bulk'`,
  workerCount: 'SELECT count(*)::int AS workers FROM sluice.worker WHERE pid = ANY($1)',
} as const;

/** `text` for the schema Sluice lives in (validated by the caller): `sluice.` → `<schema>.`. */
export function forSchema(text: string, schema: string): string {
  return schema === 'sluice' ? text : text.replace(/\bsluice\./g, `${schema}.`);
}
