-- Job events carry what a listener needs without a second query: each finished (or, on request,
-- started or progressing) job is a JSON object with its event, id, queue, task, attempt, state
-- and a bounded result, progress or error summary. A NOTIFY payload holds a JSON array of them,
-- under 8000 bytes, so a big batch is announced in several. Sent only while a listener exists.

-- What a listener asked for beyond finished jobs: 'active' (claimed) and 'progress'.
ALTER TABLE sluice.event_listener
  ADD COLUMN wants_active boolean NOT NULL DEFAULT false,
  ADD COLUMN wants_progress boolean NOT NULL DEFAULT false;

-- One job event. `detail` is merged in (result, progress, error, reason); the job's state after
-- the event is derived from the event.
CREATE FUNCTION sluice.job_event(event text, id bigint, queue text, task text, attempt integer,
    detail jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT (jsonb_build_object('event', event, 'id', id::text, 'queue', queue, 'task', task,
    'attempt', attempt, 'state', CASE event WHEN 'retried' THEN 'pending'
      WHEN 'active' THEN 'running' WHEN 'progress' THEN 'running' ELSE event END)
    || coalesce(detail, '{}'))::text
$$;

-- A value (result or progress) small enough to travel in an event, else a flag that it did not:
-- the whole value is one getJob away.
CREATE FUNCTION sluice.job_event_value(key text, value jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN value IS NULL THEN '{}'::jsonb
    WHEN octet_length(value::text) <= 512 THEN jsonb_build_object(key, value)
    ELSE jsonb_build_object(key || 'Truncated', true) END
$$;

-- An attempt's error as its name and the start of its message.
CREATE FUNCTION sluice.job_event_error(error jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN error IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('error',
    jsonb_strip_nulls(jsonb_build_object('name', left(error ->> 'name', 100),
      'message', left(error ->> 'message', 300)))) END
$$;

-- Sends events as JSON arrays, each payload under the 8000-byte limit of NOTIFY (an event is at
-- most ~3 KB: names are 128 characters, values 512 bytes, messages 300 characters).
CREATE FUNCTION sluice.notify_job_events(events text[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  chunk text := '';
  e text;
  sent integer := 0;
BEGIN
  FOREACH e IN ARRAY coalesce(events, '{}') LOOP
    IF chunk <> '' AND octet_length(chunk) + octet_length(e) > 7900 THEN
      PERFORM pg_notify('sluice:done', '[' || chunk || ']');
      sent := sent + 1;
      chunk := '';
    END IF;
    chunk := CASE WHEN chunk = '' THEN e ELSE chunk || ',' || e END;
  END LOOP;
  IF chunk <> '' THEN
    PERFORM pg_notify('sluice:done', '[' || chunk || ']');
    sent := sent + 1;
  END IF;
  RETURN sent;
END $$;

-- The functions below are those of 0017 with the new events: cancel_job sends its event in the
-- new form; release_wave (dependents failed or cancelled by their policy), cancel_flow and
-- expire_jobs now announce the jobs they finish.

CREATE OR REPLACE FUNCTION sluice.release_wave(finished bigint[], how text,
    OUT failed bigint[], OUT cancelled bigint[]) LANGUAGE plpgsql AS $$
BEGIN
  WITH e AS (
    UPDATE sluice.job_dependency d SET outcome = how, finished_at = now()
    WHERE d.depends_on = ANY(finished) AND d.outcome IS NULL
    RETURNING d.job_id, d.job_queue, d.depends_on, d.on_failure
  ), per AS (
    SELECT e.job_id, e.job_queue, count(*)::integer AS n,
      min(e.depends_on) FILTER (WHERE how <> 'completed' AND e.on_failure = 'fail') AS failed_by,
      min(e.depends_on) FILTER (WHERE how <> 'completed' AND e.on_failure = 'cancel') AS cancelled_by
    FROM e GROUP BY e.job_id, e.job_queue
  ), freed AS (
    UPDATE sluice.job b
    SET waiting_for = b.waiting_for - p.n,
      state = CASE WHEN b.waiting_for - p.n > 0 THEN 'blocked' ELSE 'pending' END
    FROM per p
    WHERE b.queue = p.job_queue AND b.id = p.job_id AND b.state = 'blocked'
      AND p.failed_by IS NULL AND p.cancelled_by IS NULL
    RETURNING b.queue, b.state, b.run_at
  ), dead AS (
    DELETE FROM sluice.job b USING per p
    WHERE b.queue = p.job_queue AND b.id = p.job_id AND b.state = 'blocked'
      AND p.failed_by IS NOT NULL
    RETURNING b.*, p.failed_by
  ), buried AS (
    INSERT INTO sluice.dead_letter (id, queue, task, payload, priority, run_at, attempt,
        max_attempts, unique_key, group_key, progress, created_at, flow_id, has_dependents,
        run_options, trace_context, errors, reason, started_at)
    SELECT d.id, d.queue, d.task, d.payload, d.priority, d.run_at, d.attempt, d.max_attempts,
      d.unique_key, d.group_key, d.progress, d.created_at, d.flow_id, d.has_dependents,
      d.run_options, d.trace_context,
      d.errors || jsonb_build_array(jsonb_build_object('attempt', d.attempt,
        'name', 'DependencyFailed', 'message', format('dependency %s was %s', d.failed_by, how),
        'dependency', d.failed_by::text, 'at', now())),
      'dependency_failed', d.started_at
    FROM dead d
    RETURNING id, queue, task, attempt, errors, has_dependents
  ), gone AS (
    DELETE FROM sluice.job b USING per p
    WHERE b.queue = p.job_queue AND b.id = p.job_id AND b.state = 'blocked'
      AND p.failed_by IS NULL AND p.cancelled_by IS NOT NULL
    RETURNING b.*, p.cancelled_by
  ), dropped AS (
    INSERT INTO sluice.job_history (id, queue, task, payload, state, priority, run_at, attempt,
        max_attempts, unique_key, group_key, worker_id, progress, errors, cancel_reason,
        created_at, started_at, flow_id, has_dependents, run_options, trace_context)
    SELECT g.id, g.queue, g.task, g.payload, 'cancelled', g.priority, g.run_at, g.attempt,
      g.max_attempts, g.unique_key, g.group_key, g.worker_id, g.progress, g.errors,
      format('dependency %s was %s', g.cancelled_by, how), g.created_at, g.started_at,
      g.flow_id, g.has_dependents, g.run_options, g.trace_context
    FROM gone g
    RETURNING id, queue, task, attempt, cancel_reason, has_dependents
  ), announced AS (
    SELECT sluice.notify_job_events(array_agg(e.item)) FROM (
      SELECT sluice.job_event('dead', b.id, b.queue, b.task, b.attempt,
        sluice.job_event_error(b.errors -> -1)) AS item FROM buried b
      UNION ALL
      SELECT sluice.job_event('cancelled', d.id, d.queue, d.task, d.attempt,
        jsonb_build_object('reason', d.cancel_reason)) FROM dropped d) e
    WHERE EXISTS (SELECT 1 FROM sluice.event_listener) HAVING count(*) > 0
  ), woken AS (
    SELECT pg_notify('sluice:job', CASE WHEN f.is_due THEN f.queue ELSE f.queue || '|later' END)
    FROM (SELECT queue, bool_or(run_at <= now()) AS is_due FROM freed
      WHERE state = 'pending' GROUP BY queue) f
    WHERE EXISTS (SELECT 1 FROM sluice.worker_waiting w WHERE w.queue = f.queue)
  )
  SELECT (SELECT array_agg(id) FROM buried WHERE has_dependents),
    (SELECT array_agg(id) FROM dropped WHERE has_dependents)
  INTO failed, cancelled
  WHERE (SELECT count(*) FROM woken) + (SELECT count(*) FROM announced) >= 0;
END $$;

CREATE OR REPLACE FUNCTION sluice.cancel_job(id bigint, reason text DEFAULT 'cancelled')
RETURNS boolean LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  moved integer;
  has_deps boolean;
  job_queue text;
  job_task text;
  job_attempt integer;
BEGIN
  WITH gone AS (
    DELETE FROM sluice.job j WHERE j.id = cancel_job.id AND j.state IN ('pending', 'blocked')
    RETURNING j.*
  )
  INSERT INTO sluice.job_history (id, queue, task, payload, state, priority, run_at, attempt,
      max_attempts, unique_key, group_key, worker_id, progress, errors, cancel_reason, created_at,
      started_at, flow_id, has_dependents, run_options, trace_context)
    SELECT g.id, g.queue, g.task, g.payload, 'cancelled', g.priority, g.run_at, g.attempt,
      g.max_attempts, g.unique_key, g.group_key, g.worker_id, g.progress, g.errors,
      cancel_job.reason, g.created_at, g.started_at, g.flow_id, g.has_dependents, g.run_options,
      g.trace_context
    FROM gone g
  RETURNING has_dependents, queue, task, attempt INTO has_deps, job_queue, job_task, job_attempt;
  GET DIAGNOSTICS moved = ROW_COUNT;
  IF moved > 0 THEN
    IF has_deps THEN
      PERFORM sluice.release_dependents(ARRAY[cancel_job.id], 'cancelled');
    END IF;
    IF EXISTS (SELECT 1 FROM sluice.event_listener) THEN
      PERFORM sluice.notify_job_events(ARRAY[sluice.job_event('cancelled', cancel_job.id,
        job_queue, job_task, job_attempt, jsonb_build_object('reason', cancel_job.reason))]);
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

CREATE OR REPLACE FUNCTION sluice.cancel_flow(flow bigint, reason text DEFAULT 'flow cancelled')
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  moved integer;
  flagged integer;
  with_deps bigint[];
  d record;
BEGIN
  WITH gone AS (
    DELETE FROM sluice.job j WHERE j.flow_id = flow AND j.state IN ('pending', 'blocked')
    RETURNING j.*
  ), kept AS (
    INSERT INTO sluice.job_history (id, queue, task, payload, state, priority, run_at, attempt,
        max_attempts, unique_key, group_key, worker_id, progress, errors, cancel_reason,
        created_at, started_at, flow_id, has_dependents, run_options, trace_context)
      SELECT g.id, g.queue, g.task, g.payload, 'cancelled', g.priority, g.run_at, g.attempt,
        g.max_attempts, g.unique_key, g.group_key, g.worker_id, g.progress, g.errors,
        cancel_flow.reason, g.created_at, g.started_at, g.flow_id, g.has_dependents,
        g.run_options, g.trace_context
      FROM gone g
    RETURNING id, queue, task, attempt, has_dependents
  ), announced AS (
    SELECT sluice.notify_job_events(array_agg(sluice.job_event('cancelled', k.id, k.queue, k.task,
      k.attempt, jsonb_build_object('reason', cancel_flow.reason)))) FROM kept k
    WHERE EXISTS (SELECT 1 FROM sluice.event_listener) HAVING count(*) > 0
  )
  SELECT count(*)::integer, array_agg(id) FILTER (WHERE has_dependents) INTO moved, with_deps
  FROM kept WHERE (SELECT count(*) FROM announced) >= 0;
  IF with_deps IS NOT NULL THEN
    PERFORM sluice.release_dependents(with_deps, 'cancelled');
  END IF;
  flagged := 0;
  FOR d IN UPDATE sluice.job j SET cancel_requested_at = now()
      WHERE j.flow_id = flow AND j.state = 'running' AND j.cancel_requested_at IS NULL
      RETURNING j.id
  LOOP
    PERFORM pg_notify('sluice:cancel', d.id::text);
    flagged := flagged + 1;
  END LOOP;
  RETURN moved + flagged;
END $$;

CREATE OR REPLACE FUNCTION sluice.expire_jobs(max_jobs integer DEFAULT 1000, only_queue text DEFAULT NULL)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  n integer;
  with_deps bigint[];
BEGIN
  WITH due AS (
    SELECT j.id, j.queue FROM sluice.job j
    WHERE j.expires_at <= now() AND j.state IN ('pending', 'blocked')
      AND (only_queue IS NULL OR j.queue = only_queue)
    ORDER BY j.expires_at LIMIT max_jobs
    FOR UPDATE SKIP LOCKED
  ), gone AS (
    DELETE FROM sluice.job j USING due WHERE j.queue = due.queue AND j.id = due.id
    RETURNING j.*
  ), kept AS (
    INSERT INTO sluice.job_history (id, queue, task, payload, state, priority, run_at, attempt,
        max_attempts, unique_key, group_key, worker_id, progress, errors, cancel_reason,
        created_at, started_at, flow_id, has_dependents, run_options, trace_context)
      SELECT g.id, g.queue, g.task, g.payload, 'expired', g.priority, g.run_at, g.attempt,
        g.max_attempts, g.unique_key, g.group_key, g.worker_id, g.progress, g.errors,
        'expired before it started', g.created_at, g.started_at, g.flow_id, g.has_dependents,
        g.run_options, g.trace_context
      FROM gone g
    RETURNING id, queue, task, attempt, has_dependents
  ), announced AS (
    SELECT sluice.notify_job_events(array_agg(sluice.job_event('expired', k.id, k.queue, k.task,
      k.attempt, NULL))) FROM kept k
    WHERE EXISTS (SELECT 1 FROM sluice.event_listener) HAVING count(*) > 0
  )
  SELECT count(*)::integer, array_agg(id) FILTER (WHERE has_dependents) INTO n, with_deps
  FROM kept WHERE (SELECT count(*) FROM announced) >= 0;
  IF with_deps IS NOT NULL THEN
    PERFORM sluice.release_dependents(with_deps, 'expired');
  END IF;
  RETURN n;
END $$;
