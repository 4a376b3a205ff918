-- Cancelled jobs are announced to job-event listeners like completed and dead ones: a waiting
-- job cancelled here, a running one by its worker (queries/job-worker.ts).

-- cancel_job as in 0013, and a 'cancelled' job event for a waiting job it cancels (only while a
-- producer listens), as the worker sends for a running one.
CREATE OR REPLACE FUNCTION sluice.cancel_job(id bigint, reason text DEFAULT 'cancelled')
RETURNS boolean LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  moved integer;
  has_deps boolean;
  job_queue text;
BEGIN
  WITH gone AS (
    DELETE FROM sluice.job j WHERE j.id = cancel_job.id AND j.state IN ('pending', 'blocked')
    RETURNING j.*
  )
  INSERT INTO sluice.job_history (id, queue, task, payload, state, priority, run_at, attempt,
      max_attempts, unique_key, group_key, worker_id, progress, errors, cancel_reason, created_at,
      started_at, flow_id, has_dependents, run_options)
    SELECT g.id, g.queue, g.task, g.payload, 'cancelled', g.priority, g.run_at, g.attempt,
      g.max_attempts, g.unique_key, g.group_key, g.worker_id, g.progress, g.errors,
      cancel_job.reason, g.created_at, g.started_at, g.flow_id, g.has_dependents, g.run_options
    FROM gone g
  RETURNING has_dependents, queue INTO has_deps, job_queue;
  GET DIAGNOSTICS moved = ROW_COUNT;
  IF moved > 0 THEN
    IF has_deps THEN
      PERFORM sluice.release_dependents(ARRAY[cancel_job.id], 'cancelled');
    END IF;
    IF EXISTS (SELECT 1 FROM sluice.event_listener) THEN
      PERFORM pg_notify('sluice:done', 'cancelled|' || job_queue || '|' || cancel_job.id);
    END IF;
    RETURN true;
  END IF;
  UPDATE sluice.job j SET cancel_requested_at = now()
    WHERE j.id = cancel_job.id AND j.state = 'running' AND j.cancel_requested_at IS NULL;
  GET DIAGNOSTICS moved = ROW_COUNT;
  IF moved > 0 THEN
    PERFORM pg_notify('sluice:cancel', cancel_job.id::text);
  END IF;
  RETURN moved > 0;
END $$;
