-- OpenTelemetry: a job carries the trace context of the code that enqueued it (the W3C Trace
-- Context carrier, {"traceparent": "00-…", "tracestate": "…"}), so the worker's span for every
-- attempt joins that trace. It is kept by every row move (history, dead letters, replays, flows),
-- and NULL (no bytes, no work) for jobs enqueued without an active trace.

ALTER TABLE sluice.job ADD COLUMN trace_context jsonb;
ALTER TABLE sluice.job_history ADD COLUMN trace_context jsonb;
ALTER TABLE sluice.dead_letter ADD COLUMN trace_context jsonb;

-- A trace context given to the SQL API: NULL, or an object whose traceparent is a string (the
-- worker ignores one it cannot parse; this only keeps junk and big values out of the row).
CREATE FUNCTION sluice.checked_trace_context(carrier jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF carrier IS NULL THEN
    RETURN NULL;
  END IF;
  IF jsonb_typeof(carrier) <> 'object' OR jsonb_typeof(carrier -> 'traceparent') <> 'string'
      OR octet_length(carrier::text) > 1024 THEN
    RAISE EXCEPTION 'trace_context must be a JSON object with a traceparent string, at most 1024 bytes: {"traceparent": "00-<trace id>-<span id>-01"}'
      USING ERRCODE = '22023';
  END IF;
  RETURN carrier;
END $$;

-- enqueue_job and the contract function gain a last, defaulted trace_context (existing calls keep
-- working). A new argument list means DROP and CREATE (as 0011 did): EXECUTE comes back from
-- PUBLIC; a database that revoked it re-runs its GRANT EXECUTE ON ALL FUNCTIONS.
DROP FUNCTION sluice.enqueue(text, jsonb, text, timestamptz, integer, integer, text, text, interval);
DROP FUNCTION sluice.enqueue_job(text, jsonb, text, timestamptz, integer, integer, text, text,
  interval);

-- As in 0011, and the trace context.
CREATE FUNCTION sluice.enqueue_job(
  task text,
  payload jsonb,
  queue text,
  run_at timestamptz,
  priority integer,
  max_attempts integer,
  unique_key text,
  group_key text,
  unique_finished_within interval,
  trace_context jsonb DEFAULT NULL
) RETURNS TABLE (id bigint, is_duplicate boolean) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  cap integer;
  new_id bigint;
  due timestamptz := coalesce(enqueue_job.run_at, now());
  carried jsonb := sluice.checked_trace_context(enqueue_job.trace_context);
BEGIN
  PERFORM sluice.check_name('task', enqueue_job.task);
  PERFORM sluice.check_name('queue', enqueue_job.queue);
  IF enqueue_job.payload IS NULL THEN
    RAISE EXCEPTION 'payload must not be NULL: pass ''{}''::jsonb for an empty one'
      USING ERRCODE = '22023';
  END IF;
  IF NOT isfinite(due) THEN
    RAISE EXCEPTION 'run_at % never comes: give a finite time', due USING ERRCODE = '22023';
  END IF;
  IF enqueue_job.max_attempts IS NOT NULL AND enqueue_job.max_attempts NOT BETWEEN 1 AND 1000 THEN
    RAISE EXCEPTION 'max_attempts % is out of range: use 1 to 1000', enqueue_job.max_attempts
      USING ERRCODE = '22023';
  END IF;
  IF enqueue_job.group_key IS NOT NULL AND octet_length(enqueue_job.group_key) NOT BETWEEN 1 AND 512 THEN
    RAISE EXCEPTION 'group_key must be 1 to 512 bytes' USING ERRCODE = '22023';
  END IF;
  IF enqueue_job.unique_key IS NOT NULL AND octet_length(enqueue_job.unique_key) NOT BETWEEN 1 AND 512 THEN
    RAISE EXCEPTION 'unique_key must be 1 to 512 bytes' USING ERRCODE = '22023';
  END IF;
  SELECT q.max_payload_bytes INTO cap FROM sluice.queue q WHERE q.name = enqueue_job.queue;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown queue %: create it with select sluice.create_queue(%)',
      quote_literal(enqueue_job.queue), quote_literal(enqueue_job.queue) USING ERRCODE = '22023';
  END IF;
  IF octet_length(enqueue_job.payload::text) > cap THEN
    RAISE EXCEPTION 'payload of % bytes exceeds queue % cap of % bytes',
      octet_length(enqueue_job.payload::text), quote_literal(enqueue_job.queue), cap
      USING ERRCODE = '22023';
  END IF;
  IF enqueue_job.unique_key IS NOT NULL AND enqueue_job.unique_finished_within IS NOT NULL THEN
    -- '|' cannot occur in a queue name, so the lock key is unambiguous.
    PERFORM pg_advisory_xact_lock(hashtextextended(enqueue_job.queue || '|' || enqueue_job.unique_key, 0));
    SELECT f.id INTO new_id FROM (
      SELECT h.id, h.finished_at AS at FROM sluice.job_history h
        WHERE h.queue = enqueue_job.queue AND h.unique_key = enqueue_job.unique_key
          AND h.finished_at > now() - enqueue_job.unique_finished_within
      UNION ALL
      SELECT d.id, d.failed_at FROM sluice.dead_letter d
        WHERE d.queue = enqueue_job.queue AND d.unique_key = enqueue_job.unique_key
          AND d.failed_at > now() - enqueue_job.unique_finished_within
    ) f ORDER BY f.at DESC LIMIT 1;
    IF new_id IS NOT NULL THEN
      RETURN QUERY SELECT new_id, true;
      RETURN;
    END IF;
  END IF;
  LOOP
    INSERT INTO sluice.job (queue, task, payload, run_at, priority, max_attempts, unique_key,
        group_key, trace_context)
      VALUES (enqueue_job.queue, enqueue_job.task, enqueue_job.payload, due,
        coalesce(enqueue_job.priority, 0), coalesce(enqueue_job.max_attempts, 25),
        enqueue_job.unique_key, enqueue_job.group_key, carried)
      ON CONFLICT (queue, unique_key) WHERE unique_key IS NOT NULL DO NOTHING
      RETURNING id INTO new_id;
    IF new_id IS NOT NULL THEN
      -- Wake a waiting worker at commit; '|later' for a delayed job (it wakes for the due time).
      IF EXISTS (SELECT 1 FROM sluice.worker_waiting w WHERE w.queue = enqueue_job.queue) THEN
        PERFORM pg_notify('sluice:job',
          CASE WHEN due <= now() THEN enqueue_job.queue ELSE enqueue_job.queue || '|later' END);
      END IF;
      RETURN QUERY SELECT new_id, false;
      RETURN;
    END IF;
    SELECT j.id INTO new_id FROM sluice.job j
      WHERE j.queue = enqueue_job.queue AND j.unique_key = enqueue_job.unique_key;
    IF new_id IS NOT NULL THEN
      RETURN QUERY SELECT new_id, true;
      RETURN;
    END IF;
    -- The conflicting job finished between the two statements: insert again.
  END LOOP;
END $$;

CREATE FUNCTION sluice.enqueue(
  task text,
  payload jsonb,
  queue text DEFAULT 'default',
  run_at timestamptz DEFAULT now(),
  priority integer DEFAULT 0,
  max_attempts integer DEFAULT NULL,
  unique_key text DEFAULT NULL,
  group_key text DEFAULT NULL,
  unique_finished_within interval DEFAULT NULL,
  trace_context jsonb DEFAULT NULL
) RETURNS bigint LANGUAGE sql AS $$
  SELECT e.id FROM sluice.enqueue_job(task, payload, queue, run_at, priority, max_attempts,
    unique_key, group_key, unique_finished_within, trace_context) e
$$;

-- The functions below are those of 0013 (cancel_job: 0016) with trace_context added to the
-- column lists of their row moves; nothing else changes.

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
    RETURNING id, has_dependents
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
    RETURNING id, has_dependents
  ), woken AS (
    SELECT pg_notify('sluice:job', CASE WHEN f.is_due THEN f.queue ELSE f.queue || '|later' END)
    FROM (SELECT queue, bool_or(run_at <= now()) AS is_due FROM freed
      WHERE state = 'pending' GROUP BY queue) f
    WHERE EXISTS (SELECT 1 FROM sluice.worker_waiting w WHERE w.queue = f.queue)
  )
  SELECT (SELECT array_agg(id) FROM buried WHERE has_dependents),
    (SELECT array_agg(id) FROM dropped WHERE has_dependents)
  INTO failed, cancelled
  WHERE (SELECT count(*) FROM woken) >= 0;
END $$;

CREATE OR REPLACE FUNCTION sluice.revive_dependents(replayed bigint[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  ids bigint[] := replayed;
  revived bigint[];
  total integer := 0;
BEGIN
  LOOP
    EXIT WHEN ids IS NULL OR cardinality(ids) = 0;
    WITH reopened AS (
      UPDATE sluice.job_dependency d SET outcome = NULL, finished_at = NULL
      WHERE d.depends_on = ANY(ids) AND d.outcome IS NOT NULL AND d.outcome <> 'completed'
      RETURNING d.job_id, d.job_queue
    ), counted AS (
      UPDATE sluice.job b SET waiting_for = b.waiting_for + r.n
      FROM (SELECT job_id, job_queue, count(*)::integer AS n FROM reopened
        GROUP BY job_id, job_queue) r
      WHERE b.queue = r.job_queue AND b.id = r.job_id AND b.state = 'blocked'
      RETURNING b.id
    ), back AS (
      DELETE FROM sluice.dead_letter dl
      WHERE dl.id IN (SELECT job_id FROM reopened) AND dl.reason = 'dependency_failed'
        AND NOT EXISTS (SELECT 1 FROM sluice.job_dependency o
          WHERE o.job_id = dl.id AND o.outcome IS NOT NULL AND o.outcome <> 'completed'
            AND o.on_failure <> 'ignore' AND NOT (o.depends_on = ANY(ids)))
      RETURNING dl.*
    ), ins AS (
      INSERT INTO sluice.job (id, queue, task, payload, state, priority, run_at, attempt,
          max_attempts, unique_key, group_key, errors, created_at, flow_id, has_dependents,
          run_options, trace_context, waiting_for)
      SELECT b.id, b.queue, b.task, b.payload, 'blocked', b.priority, b.run_at, 0,
        b.max_attempts, b.unique_key, b.group_key, b.errors, b.created_at, b.flow_id,
        b.has_dependents, b.run_options, b.trace_context,
        (SELECT count(*) FROM sluice.job_dependency o
          WHERE o.job_id = b.id AND (o.outcome IS NULL OR o.depends_on = ANY(ids)))
      FROM back b
      RETURNING id, has_dependents
    )
    SELECT array_agg(id) FILTER (WHERE has_dependents), count(*) + (SELECT count(*) FROM counted)
    INTO revived, total FROM ins;
    ids := revived;
  END LOOP;
  RETURN total;
END $$;

CREATE OR REPLACE FUNCTION sluice.replay_dead_letter(id bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  new_id bigint;
  has_deps boolean;
BEGIN
  WITH cand AS (
    SELECT d.* FROM sluice.dead_letter d WHERE d.id = replay_dead_letter.id FOR UPDATE
  ), ins AS (
    INSERT INTO sluice.job (id, queue, task, payload, priority, run_at, attempt, max_attempts,
        unique_key, group_key, errors, created_at, flow_id, has_dependents, run_options,
        trace_context)
      SELECT c.id, c.queue, c.task, c.payload, c.priority, now(), 0, c.max_attempts, c.unique_key,
        c.group_key, c.errors, c.created_at, c.flow_id, c.has_dependents, c.run_options,
        c.trace_context
      FROM cand c
    ON CONFLICT (queue, unique_key) WHERE unique_key IS NOT NULL DO NOTHING
    RETURNING id, queue, has_dependents
  ), gone AS (
    DELETE FROM sluice.dead_letter d USING ins WHERE d.id = ins.id RETURNING d.id
  ), woken AS (
    SELECT pg_notify('sluice:job', i.queue) FROM ins i
    WHERE EXISTS (SELECT 1 FROM sluice.worker_waiting w WHERE w.queue = i.queue)
  )
  SELECT i.id, i.has_dependents INTO new_id, has_deps FROM ins i
  WHERE (SELECT count(*) FROM woken) + (SELECT count(*) FROM gone) >= 0;
  IF has_deps THEN
    PERFORM sluice.revive_dependents(ARRAY[new_id]);
  END IF;
  RETURN new_id;
END $$;

CREATE OR REPLACE FUNCTION sluice.replay_dead_letters(queue text DEFAULT NULL,
    task text DEFAULT NULL, since timestamptz DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  n integer;
  with_deps bigint[];
BEGIN
  WITH cand AS (
    SELECT d.* FROM sluice.dead_letter d
    WHERE (replay_dead_letters.queue IS NULL OR d.queue = replay_dead_letters.queue)
      AND (replay_dead_letters.task IS NULL OR d.task = replay_dead_letters.task)
      AND (replay_dead_letters.since IS NULL OR d.failed_at >= replay_dead_letters.since)
    FOR UPDATE
  ), ranked AS (
    -- Two dead letters with one key: only the newest is replayed (the other would conflict).
    SELECT c.*, row_number() OVER (PARTITION BY c.queue, c.unique_key ORDER BY c.failed_at DESC) AS rn
    FROM cand c
  ), ins AS (
    INSERT INTO sluice.job (id, queue, task, payload, priority, run_at, attempt, max_attempts,
        unique_key, group_key, errors, created_at, flow_id, has_dependents, run_options,
        trace_context)
      SELECT r.id, r.queue, r.task, r.payload, r.priority, now(), 0, r.max_attempts, r.unique_key,
        r.group_key, r.errors, r.created_at, r.flow_id, r.has_dependents, r.run_options,
        r.trace_context
      FROM ranked r WHERE r.unique_key IS NULL OR r.rn = 1
    ON CONFLICT (queue, unique_key) WHERE unique_key IS NOT NULL DO NOTHING
    RETURNING id, queue, has_dependents
  ), gone AS (
    DELETE FROM sluice.dead_letter d USING ins WHERE d.id = ins.id RETURNING d.id
  ), woken AS (
    SELECT pg_notify('sluice:job', d.queue)
    FROM (SELECT DISTINCT i.queue FROM ins i) d
    WHERE EXISTS (SELECT 1 FROM sluice.worker_waiting w WHERE w.queue = d.queue)
  )
  SELECT count(*)::integer, array_agg(i.id) FILTER (WHERE i.has_dependents) INTO n, with_deps
  FROM ins i WHERE (SELECT count(*) FROM woken) + (SELECT count(*) FROM gone) >= 0;
  IF with_deps IS NOT NULL THEN
    PERFORM sluice.revive_dependents(with_deps);
  END IF;
  RETURN n;
END $$;

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
      started_at, flow_id, has_dependents, run_options, trace_context)
    SELECT g.id, g.queue, g.task, g.payload, 'cancelled', g.priority, g.run_at, g.attempt,
      g.max_attempts, g.unique_key, g.group_key, g.worker_id, g.progress, g.errors,
      cancel_job.reason, g.created_at, g.started_at, g.flow_id, g.has_dependents, g.run_options,
      g.trace_context
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
    RETURNING id, has_dependents
  )
  SELECT count(*)::integer, array_agg(id) FILTER (WHERE has_dependents) INTO moved, with_deps
  FROM kept;
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
    RETURNING id, has_dependents
  )
  SELECT count(*)::integer, array_agg(id) FILTER (WHERE has_dependents) INTO n, with_deps
  FROM kept;
  IF with_deps IS NOT NULL THEN
    PERFORM sluice.release_dependents(with_deps, 'expired');
  END IF;
  RETURN n;
END $$;

-- A flow member may carry "trace_context" (the TypeScript client sets the caller's on each).
CREATE OR REPLACE FUNCTION sluice.enqueue_flow(members jsonb) RETURNS TABLE (ref text, id bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  bad record;
  ids jsonb;
  dep_ids bigint[];
  first_id bigint;
  woken bigint;
BEGIN
  IF jsonb_typeof(members) IS DISTINCT FROM 'array' OR jsonb_array_length(members) = 0 THEN
    RAISE EXCEPTION 'a flow is a non-empty JSON array of members' USING ERRCODE = '22023';
  END IF;
  IF jsonb_array_length(members) > 100000 THEN
    RAISE EXCEPTION 'a flow has at most 100000 members, not %', jsonb_array_length(members)
      USING ERRCODE = '22023';
  END IF;
  CREATE TEMP TABLE IF NOT EXISTS pg_temp.sluice_flow_member (
    ord bigint, ref text, id bigint, queue text, task text, v jsonb, has_deps boolean)
    ON COMMIT DROP;
  CREATE TEMP TABLE IF NOT EXISTS pg_temp.sluice_flow_edge (
    ord bigint, pos integer, dep_ref text, dep_id bigint, on_failure text, outcome text)
    ON COMMIT DROP;
  TRUNCATE pg_temp.sluice_flow_member, pg_temp.sluice_flow_edge;
  INSERT INTO pg_temp.sluice_flow_member (ord, ref, queue, task, v)
    SELECT e.ord, coalesce(e.v ->> 'ref', e.ord::text), coalesce(e.v ->> 'queue', 'default'),
      e.v ->> 'task', e.v
    FROM jsonb_array_elements(members) WITH ORDINALITY e(v, ord);
  IF jsonb_array_length(members) > 1000 THEN
    -- Statistics for the joins below (a temporary table has none): without them a large flow
    -- can get nested loops over both tables.
    ANALYZE pg_temp.sluice_flow_member;
  END IF;
  -- Set-based first (one pass), then check_name on the first bad one for its message.
  SELECT m.task, m.queue INTO bad FROM pg_temp.sluice_flow_member m
    WHERE m.task IS NULL OR octet_length(m.task) > 128 OR m.task !~ '^[A-Za-z0-9_.:-]+$'
      OR octet_length(m.queue) > 128 OR m.queue !~ '^[A-Za-z0-9_.:-]+$'
    LIMIT 1;
  IF FOUND THEN
    PERFORM sluice.check_name('task', bad.task);
    PERFORM sluice.check_name('queue', bad.queue);
  END IF;
  SELECT m.ref INTO bad FROM pg_temp.sluice_flow_member m GROUP BY m.ref HAVING count(*) > 1 LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'flow member ref % is used twice', quote_literal(bad.ref) USING ERRCODE = '22023';
  END IF;
  SELECT m.queue INTO bad FROM pg_temp.sluice_flow_member m
    WHERE NOT EXISTS (SELECT 1 FROM sluice.queue q WHERE q.name = m.queue) LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'unknown queue %: create it with select sluice.create_queue(%)',
      quote_literal(bad.queue), quote_literal(bad.queue) USING ERRCODE = '22023';
  END IF;
  SELECT m.ref, octet_length(coalesce(m.v -> 'payload', '{}')::text) AS bytes, q.max_payload_bytes
    INTO bad FROM pg_temp.sluice_flow_member m JOIN sluice.queue q ON q.name = m.queue
    WHERE octet_length(coalesce(m.v -> 'payload', '{}')::text) > q.max_payload_bytes LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'payload of member % is % bytes, over its queue''s cap of % bytes',
      quote_literal(bad.ref), bad.bytes, bad.max_payload_bytes USING ERRCODE = '22023';
  END IF;
  SELECT m.ref INTO bad FROM pg_temp.sluice_flow_member m
    WHERE m.v ? 'unique_key' OR (m.v ? 'depends_on' AND jsonb_typeof(m.v -> 'depends_on') <> 'array')
    LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'member %: depends_on must be an array, and flow members take no unique_key',
      quote_literal(bad.ref) USING ERRCODE = '22023';
  END IF;
  INSERT INTO pg_temp.sluice_flow_edge (ord, pos, dep_ref, dep_id, on_failure)
    SELECT m.ord, d.pos, d.v ->> 'ref', (d.v ->> 'id')::bigint, coalesce(d.v ->> 'on_failure', 'fail')
    FROM pg_temp.sluice_flow_member m,
      jsonb_array_elements(coalesce(m.v -> 'depends_on', '[]')) WITH ORDINALITY d(v, pos);
  IF jsonb_array_length(members) > 1000 THEN
    ANALYZE pg_temp.sluice_flow_edge;
  END IF;
  UPDATE pg_temp.sluice_flow_member m SET has_deps = true
    WHERE m.ref IN (SELECT e.dep_ref FROM pg_temp.sluice_flow_edge e WHERE e.dep_ref IS NOT NULL);
  SELECT m.ref, e.dep_ref, e.on_failure INTO bad
    FROM pg_temp.sluice_flow_edge e JOIN pg_temp.sluice_flow_member m ON m.ord = e.ord
    LEFT JOIN pg_temp.sluice_flow_member p ON p.ref = e.dep_ref
    WHERE (e.dep_ref IS NULL) = (e.dep_id IS NULL)
      OR e.on_failure NOT IN ('fail', 'ignore', 'cancel')
      OR (e.dep_ref IS NOT NULL AND (p.ord IS NULL OR p.ord >= e.ord))
    LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'member % has a bad dependency (%): give {"ref": an earlier member} or {"id": a job id}, and on_failure fail, ignore or cancel',
      quote_literal(bad.ref), coalesce(bad.dep_ref, '?') USING ERRCODE = '22023';
  END IF;
  -- Jobs depended on by id: lock the unfinished ones and mark them (a finish racing with this
  -- waits for our commit and then sees our edges), then read how the others finished.
  SELECT array_agg(DISTINCT e.dep_id) INTO dep_ids FROM pg_temp.sluice_flow_edge e
    WHERE e.dep_id IS NOT NULL;
  IF dep_ids IS NOT NULL THEN
    UPDATE sluice.job j SET has_dependents = true WHERE j.id = ANY(dep_ids);
    UPDATE sluice.dead_letter d SET has_dependents = true WHERE d.id = ANY(dep_ids);
    UPDATE pg_temp.sluice_flow_edge e SET outcome = CASE
        WHEN EXISTS (SELECT 1 FROM sluice.job j WHERE j.id = e.dep_id) THEN NULL
        WHEN EXISTS (SELECT 1 FROM sluice.dead_letter d WHERE d.id = e.dep_id) THEN 'dead'
        ELSE coalesce((SELECT h.state FROM sluice.job_history h WHERE h.id = e.dep_id LIMIT 1),
          'missing') END
      WHERE e.dep_id IS NOT NULL;
    SELECT e.dep_id, e.outcome INTO bad FROM pg_temp.sluice_flow_edge e
      WHERE e.outcome = 'missing'
        OR (e.outcome IN ('dead', 'cancelled', 'expired') AND e.on_failure <> 'ignore')
      LIMIT 1;
    IF FOUND THEN
      RAISE EXCEPTION 'dependency % %', bad.dep_id, CASE WHEN bad.outcome = 'missing'
        THEN 'does not exist (never enqueued, or purged)'
        ELSE format('is %s: replay it first, or depend on it with on_failure ''ignore''', bad.outcome) END
        USING ERRCODE = '22023';
    END IF;
  END IF;
  -- Ids in input order (nextval after the sort), then edges and jobs.
  UPDATE pg_temp.sluice_flow_member m SET id = s.id
    FROM (SELECT x.ord, nextval('sluice.job_id_seq') AS id
      FROM (SELECT ord FROM pg_temp.sluice_flow_member ORDER BY ord) x) s
    WHERE m.ord = s.ord;
  SELECT jsonb_object_agg(m.ref, m.id), min(m.id) INTO ids, first_id FROM pg_temp.sluice_flow_member m;
  INSERT INTO sluice.job_dependency (job_id, job_queue, depends_on, position, on_failure, outcome,
      finished_at)
    SELECT m.id, m.queue, coalesce((ids ->> e.dep_ref)::bigint, e.dep_id), e.pos, e.on_failure,
      e.outcome, CASE WHEN e.outcome IS NOT NULL THEN now() END
    FROM pg_temp.sluice_flow_edge e JOIN pg_temp.sluice_flow_member m ON m.ord = e.ord
  ON CONFLICT DO NOTHING;
  WITH counts AS (
    SELECT e.ord, count(*) FILTER (WHERE e.outcome IS NULL)::integer AS waiting
    FROM pg_temp.sluice_flow_edge e GROUP BY e.ord
  ), ins AS (
    INSERT INTO sluice.job (id, queue, task, payload, state, priority, run_at, max_attempts,
        group_key, flow_id, waiting_for, has_dependents, expires_at, run_options, trace_context)
    SELECT m.id, m.queue, m.task, coalesce(m.v -> 'payload', '{}'),
      CASE WHEN coalesce(c.waiting, 0) > 0 THEN 'blocked' ELSE 'pending' END,
      coalesce((m.v ->> 'priority')::integer, 0),
      coalesce((m.v ->> 'run_at')::timestamptz,
        now() + coalesce((m.v ->> 'delay_ms')::float8, 0) * interval '1 millisecond'),
      coalesce((m.v ->> 'max_attempts')::integer, 25), m.v ->> 'group_key', first_id,
      c.waiting,
      coalesce(m.has_deps, false),
      (m.v ->> 'expires_at')::timestamptz, m.v -> 'run_options',
      sluice.checked_trace_context(m.v -> 'trace_context')
    FROM pg_temp.sluice_flow_member m LEFT JOIN counts c ON c.ord = m.ord
    ORDER BY m.ord
    RETURNING queue, state, run_at
  ), notified AS (
    SELECT pg_notify('sluice:job', CASE WHEN d.is_due THEN d.queue ELSE d.queue || '|later' END)
    FROM (SELECT i.queue, bool_or(i.run_at <= now()) AS is_due FROM ins i
      WHERE i.state = 'pending' GROUP BY i.queue) d
    WHERE EXISTS (SELECT 1 FROM sluice.worker_waiting w WHERE w.queue = d.queue)
  )
  SELECT count(*) INTO woken FROM notified;
  RETURN QUERY SELECT m.ref, m.id FROM pg_temp.sluice_flow_member m ORDER BY m.ord;
END $$;
