-- Log lines a handler writes with ctx.log, kept beside the job wherever it lives (job, history,
-- dead letter), across retries; written by the worker in one multi-row insert per attempt.
CREATE TABLE sluice.job_log (
  job_id bigint NOT NULL,
  attempt integer NOT NULL,
  seq integer NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  level text NOT NULL DEFAULT 'info',
  message text NOT NULL,
  fields jsonb
);
-- Reads are per job in order; pruning walks at.
CREATE INDEX job_log_job_idx ON sluice.job_log (job_id, attempt, seq);
CREATE INDEX job_log_at_idx ON sluice.job_log (at);

-- Maintenance: lines outlive their job only as long as any queue keeps finished jobs, and never
-- while the job is unfinished. Returns how many it deleted.
CREATE FUNCTION sluice.prune_job_logs(max_rows integer DEFAULT 10000) RETURNS integer
LANGUAGE sql AS $$
  WITH old AS (
    SELECT l.ctid FROM sluice.job_log l
    WHERE l.at < now() - (SELECT coalesce(max(greatest(q.history_retention,
        q.dead_letter_retention)), interval '30 days') FROM sluice.queue q)
      AND NOT EXISTS (SELECT 1 FROM sluice.job j WHERE j.id = l.job_id)
    ORDER BY l.at LIMIT max_rows
  ), gone AS (
    DELETE FROM sluice.job_log l USING old WHERE l.ctid = old.ctid RETURNING 1
  )
  SELECT count(*)::integer FROM gone
$$;
