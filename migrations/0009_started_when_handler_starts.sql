-- A claimed job may wait in a worker's local buffer before its handler starts: the claim now
-- leaves started_at NULL and the worker fills it when the handler has started. Readers show such
-- a job as not yet started: pending, with the attempt it is about to make not yet counted.
CREATE OR REPLACE VIEW sluice.all_jobs AS
SELECT id, queue, task,
  CASE WHEN state = 'running' AND started_at IS NULL THEN 'pending' ELSE state END AS state,
  payload, priority, run_at,
  attempt - CASE WHEN state = 'running' AND started_at IS NULL THEN 1 ELSE 0 END AS attempt,
  max_attempts, unique_key, group_key, worker_id, progress, errors, NULL::jsonb AS result,
  created_at, started_at, NULL::timestamptz AS finished_at
FROM sluice.job
UNION ALL
SELECT id, queue, task, state, payload, priority, run_at, attempt, max_attempts, unique_key,
  group_key, worker_id, progress, errors, result, created_at, started_at, finished_at
FROM sluice.job_history
UNION ALL
SELECT id, queue, task, 'dead', payload, priority, run_at, attempt, max_attempts, unique_key,
  group_key, NULL, progress, errors, NULL, created_at, started_at, failed_at
FROM sluice.dead_letter;

-- Claimed but not started counts as ready (it waits for a slot), not as running.
CREATE OR REPLACE VIEW sluice.queue_stats AS
SELECT
  q.name AS queue,
  q.is_paused,
  coalesce(j.ready, 0) AS ready,
  coalesce(j.scheduled, 0) AS scheduled,
  coalesce(j.running, 0) AS running,
  coalesce(j.blocked, 0) AS blocked,
  coalesce(d.dead, 0) AS dead,
  coalesce(h.completed_last_hour, 0) AS completed_last_hour,
  coalesce(extract(epoch FROM now() - j.oldest_ready_run_at), 0)::double precision AS oldest_ready_age_seconds
FROM sluice.queue q
LEFT JOIN LATERAL (
  SELECT
    count(*) FILTER (WHERE (state = 'pending' AND run_at <= now())
      OR (state = 'running' AND started_at IS NULL)) AS ready,
    count(*) FILTER (WHERE state = 'pending' AND run_at > now()) AS scheduled,
    count(*) FILTER (WHERE state = 'running' AND started_at IS NOT NULL) AS running,
    count(*) FILTER (WHERE state = 'blocked') AS blocked,
    min(run_at) FILTER (WHERE state = 'pending' AND run_at <= now()) AS oldest_ready_run_at
  FROM sluice.job WHERE job.queue = q.name
) j ON true
LEFT JOIN LATERAL (
  SELECT count(*) AS dead FROM sluice.dead_letter dl WHERE dl.queue = q.name
) d ON true
LEFT JOIN LATERAL (
  SELECT count(*) AS completed_last_hour FROM sluice.job_history h
  WHERE h.finished_at > now() - interval '1 hour' AND h.queue = q.name AND h.state = 'completed'
) h ON true;
