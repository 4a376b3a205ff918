-- What operators did: every action taken from the dashboard (retry, cancel, replay, purge, pause,
-- limits, schedules, bulk actions by filter) is one row, written in the same transaction as the
-- action, so a rolled-back action leaves no row and a committed one always has its row. Readable
-- by SQL; the dashboard shows it newest first by id (an index-only walk of the primary key).
CREATE TABLE sluice.audit (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  -- Who: the dashboard's actor (a basic-auth user name, a token's label, or `local`).
  actor text NOT NULL,
  -- What: `job.retry`, `dead_letter.replay_matching`, `queue.pause`, ...
  action text NOT NULL,
  -- Which object: a job id, a queue or schedule name; NULL for bulk actions by filter.
  target text,
  -- The filter of a bulk action, or the new settings of a queue.
  filter jsonb,
  -- How many rows the action touched.
  count integer
);
