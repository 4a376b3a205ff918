-- Sluice's schema: queues, the hot job table (one partition per queue), history partitioned by
-- day, dead letters, schedules and workers, plus the SQL API other languages use.
-- The migrator replaces the word `sluice` with the configured schema name.

CREATE SCHEMA IF NOT EXISTS sluice;

-- One id sequence for the whole life of a job, so a job keeps its id across job, job_history
-- and dead_letter.
CREATE SEQUENCE sluice.job_id_seq AS bigint;

CREATE TABLE sluice.queue (
  name text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9_.:-]{1,128}$'),
  partition_name text NOT NULL UNIQUE,
  is_paused boolean NOT NULL DEFAULT false,
  -- Flow control across all workers; NULL means unlimited.
  concurrency_limit integer CHECK (concurrency_limit > 0),
  rate_limit integer CHECK (rate_limit > 0),
  rate_window_ms integer NOT NULL DEFAULT 1000 CHECK (rate_window_ms > 0),
  group_concurrency_limit integer CHECK (group_concurrency_limit > 0),
  group_rate_limit integer CHECK (group_rate_limit > 0),
  max_payload_bytes integer NOT NULL DEFAULT 262144 CHECK (max_payload_bytes > 0),
  -- Completed and cancelled jobs older than this are dropped with their day partition.
  history_retention interval NOT NULL DEFAULT '7 days',
  dead_letter_retention interval NOT NULL DEFAULT '30 days',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Unfinished jobs only. LIST-partitioned by queue: a row never changes partition (queue is
-- immutable), so SKIP LOCKED never meets "tuple already moved to another partition".
CREATE TABLE sluice.job (
  id bigint NOT NULL DEFAULT nextval('sluice.job_id_seq'),
  queue text NOT NULL,
  task text NOT NULL CHECK (task ~ '^[A-Za-z0-9_.:-]{1,128}$'),
  payload jsonb NOT NULL DEFAULT '{}',
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'blocked')),
  priority integer NOT NULL DEFAULT 0,
  run_at timestamptz NOT NULL DEFAULT now(),
  attempt integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL DEFAULT 25 CHECK (max_attempts > 0),
  unique_key text,
  group_key text,
  worker_id text,
  lease_expires_at timestamptz,
  progress jsonb,
  errors jsonb NOT NULL DEFAULT '[]',
  cancel_requested_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  PRIMARY KEY (id, queue)
) PARTITION BY LIST (queue);

ALTER SEQUENCE sluice.job_id_seq OWNED BY sluice.job.id;

-- The claim index: exactly the claim order (priority DESC, run_at, id), only claimable rows, so
-- it stays as small as the ready backlog and a claim reads it in order and stops at LIMIT.
CREATE INDEX job_claim_idx ON sluice.job (queue, priority DESC, run_at, id) WHERE state = 'pending';
-- Enqueue dedup: one unfinished job per (queue, unique_key).
CREATE UNIQUE INDEX job_unique_key_idx ON sluice.job (queue, unique_key) WHERE unique_key IS NOT NULL;
-- Rescue and heartbeat look up running jobs by lease.
CREATE INDEX job_running_idx ON sluice.job (queue, lease_expires_at) WHERE state = 'running';

CREATE TABLE sluice.job_default PARTITION OF sluice.job DEFAULT;

-- Finished jobs. RANGE-partitioned by finished_at, one partition a day: retention drops whole
-- partitions instead of a bulk DELETE.
CREATE TABLE sluice.job_history (
  id bigint NOT NULL,
  queue text NOT NULL,
  task text NOT NULL,
  payload jsonb NOT NULL,
  state text NOT NULL CHECK (state IN ('completed', 'cancelled')),
  priority integer NOT NULL,
  run_at timestamptz NOT NULL,
  attempt integer NOT NULL,
  max_attempts integer NOT NULL,
  unique_key text,
  group_key text,
  worker_id text,
  progress jsonb,
  errors jsonb NOT NULL DEFAULT '[]',
  result jsonb,
  cancel_reason text,
  created_at timestamptz NOT NULL,
  started_at timestamptz,
  finished_at timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (finished_at);

CREATE INDEX job_history_id_idx ON sluice.job_history (id);
CREATE INDEX job_history_finished_idx ON sluice.job_history (finished_at, queue);
-- Catches rows whose day partition was not created in time; maintenance keeps it empty.
CREATE TABLE sluice.job_history_default PARTITION OF sluice.job_history DEFAULT;

CREATE TABLE sluice.dead_letter (
  id bigint PRIMARY KEY,
  queue text NOT NULL,
  task text NOT NULL,
  payload jsonb NOT NULL,
  priority integer NOT NULL,
  run_at timestamptz NOT NULL,
  attempt integer NOT NULL,
  max_attempts integer NOT NULL,
  unique_key text,
  group_key text,
  progress jsonb,
  errors jsonb NOT NULL DEFAULT '[]',
  reason text NOT NULL,
  created_at timestamptz NOT NULL,
  started_at timestamptz,
  failed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dead_letter_queue_idx ON sluice.dead_letter (queue, failed_at);
CREATE INDEX dead_letter_failed_idx ON sluice.dead_letter (failed_at);

CREATE TABLE sluice.schedule (
  name text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9_.:-]{1,128}$'),
  cron text NOT NULL,
  timezone text NOT NULL DEFAULT 'UTC',
  task text NOT NULL CHECK (task ~ '^[A-Za-z0-9_.:-]{1,128}$'),
  queue text NOT NULL REFERENCES sluice.queue (name),
  payload jsonb NOT NULL DEFAULT '{}',
  priority integer NOT NULL DEFAULT 0,
  max_attempts integer,
  is_enabled boolean NOT NULL DEFAULT true,
  missed_policy text NOT NULL DEFAULT 'run_once' CHECK (missed_policy IN ('run_once', 'run_all', 'skip')),
  max_catch_up integer NOT NULL DEFAULT 10 CHECK (max_catch_up > 0),
  next_run_at timestamptz,
  last_run_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sluice.worker (
  id text PRIMARY KEY,
  host text NOT NULL,
  pid integer NOT NULL,
  queues text[] NOT NULL,
  concurrency integer NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- Workers with free slots record themselves here per queue. Enqueue sends a NOTIFY only when a
-- row exists for the queue: NOTIFY serialises committing transactions on a cluster-wide lock,
-- so a busy system (no idle worker) must not pay for it. UNLOGGED: it is rebuilt by live workers.
CREATE UNLOGGED TABLE sluice.worker_waiting (
  queue text NOT NULL,
  worker_id text NOT NULL,
  since timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (queue, worker_id)
);

-- Producers waiting for job outcomes (waitForJob, job events) record themselves here; workers
-- announce finished jobs only while a row exists, so a system nobody watches pays no NOTIFY.
CREATE UNLOGGED TABLE sluice.event_listener (
  id text PRIMARY KEY,
  heartbeat_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION sluice.check_name(kind text, name text) RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF name IS NULL OR name !~ '^[A-Za-z0-9_.:-]{1,128}$' THEN
    RAISE EXCEPTION 'invalid % name %: use 1-128 letters, digits or _ . - :', kind, quote_literal(coalesce(name, 'NULL'))
      USING ERRCODE = '22023';
  END IF;
END $$;

-- Creates a queue and its job partition. The partition name is derived from the queue name
-- (lower-cased, other characters replaced) plus a hash, and always passed through %I.
CREATE FUNCTION sluice.create_queue(
  name text,
  max_payload_bytes integer DEFAULT 262144,
  concurrency_limit integer DEFAULT NULL,
  rate_limit integer DEFAULT NULL,
  rate_window_ms integer DEFAULT 1000,
  history_retention interval DEFAULT '7 days',
  dead_letter_retention interval DEFAULT '30 days'
) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  part text;
BEGIN
  PERFORM sluice.check_name('queue', create_queue.name);
  IF EXISTS (SELECT 1 FROM sluice.queue q WHERE q.name = create_queue.name) THEN
    RETURN false;
  END IF;
  part := 'job_q_' || left(regexp_replace(lower(create_queue.name), '[^a-z0-9_]', '_', 'g'), 40)
    || '_' || left(md5(create_queue.name), 8);
  INSERT INTO sluice.queue (name, partition_name, max_payload_bytes, concurrency_limit, rate_limit,
      rate_window_ms, history_retention, dead_letter_retention)
    VALUES (create_queue.name, part, create_queue.max_payload_bytes, create_queue.concurrency_limit,
      create_queue.rate_limit, create_queue.rate_window_ms, create_queue.history_retention,
      create_queue.dead_letter_retention);
  EXECUTE format('CREATE TABLE %I.%I PARTITION OF %I.job FOR VALUES IN (%L)',
    'sluice', part, 'sluice', create_queue.name);
  -- Hot partitions churn constantly: vacuum them early so the claim index stays small.
  EXECUTE format('ALTER TABLE %I.%I SET (autovacuum_vacuum_scale_factor = 0.01, '
    'autovacuum_vacuum_insert_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.02)',
    'sluice', part);
  RETURN true;
END $$;

-- Both return false (not NULL) for an unknown queue, so `IF NOT sluice.pause_queue(…)` works.
CREATE FUNCTION sluice.pause_queue(name text) RETURNS boolean LANGUAGE sql AS $$
  WITH u AS (
    UPDATE sluice.queue SET is_paused = true, updated_at = now() WHERE queue.name = pause_queue.name
    RETURNING 1
  )
  SELECT count(*) > 0 FROM u
$$;

CREATE FUNCTION sluice.resume_queue(name text) RETURNS boolean LANGUAGE sql AS $$
  WITH u AS (
    UPDATE sluice.queue SET is_paused = false, updated_at = now() WHERE queue.name = resume_queue.name
    RETURNING 1
  )
  SELECT count(*) > 0 FROM u
$$;

-- Usable from any language inside any transaction; writes the same row as the TypeScript client.
-- A unique_key conflict with an unfinished job returns the existing job's id.
CREATE FUNCTION sluice.enqueue(
  task text,
  payload jsonb,
  queue text DEFAULT 'default',
  run_at timestamptz DEFAULT now(),
  priority integer DEFAULT 0,
  max_attempts integer DEFAULT NULL,
  unique_key text DEFAULT NULL
) RETURNS bigint LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  cap integer;
  new_id bigint;
BEGIN
  PERFORM sluice.check_name('task', enqueue.task);
  PERFORM sluice.check_name('queue', enqueue.queue);
  SELECT q.max_payload_bytes INTO cap FROM sluice.queue q WHERE q.name = enqueue.queue;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown queue %: create it with select sluice.create_queue(%)',
      quote_literal(enqueue.queue), quote_literal(enqueue.queue) USING ERRCODE = '22023';
  END IF;
  IF octet_length(coalesce(enqueue.payload, '{}'::jsonb)::text) > cap THEN
    RAISE EXCEPTION 'payload of % bytes exceeds queue % cap of % bytes',
      octet_length(enqueue.payload::text), quote_literal(enqueue.queue), cap USING ERRCODE = '22023';
  END IF;
  LOOP
    INSERT INTO sluice.job (queue, task, payload, run_at, priority, max_attempts, unique_key)
      VALUES (enqueue.queue, enqueue.task, coalesce(enqueue.payload, '{}'::jsonb),
        coalesce(enqueue.run_at, now()), coalesce(enqueue.priority, 0),
        coalesce(enqueue.max_attempts, 25), enqueue.unique_key)
      ON CONFLICT (queue, unique_key) WHERE unique_key IS NOT NULL DO NOTHING
      RETURNING id INTO new_id;
    IF new_id IS NOT NULL THEN
      -- Wake a waiting worker at commit; never for a job that is not due yet.
      IF coalesce(enqueue.run_at, now()) <= now()
          AND EXISTS (SELECT 1 FROM sluice.worker_waiting w WHERE w.queue = enqueue.queue) THEN
        PERFORM pg_notify('sluice:job', enqueue.queue);
      END IF;
      RETURN new_id;
    END IF;
    SELECT j.id INTO new_id FROM sluice.job j
      WHERE j.queue = enqueue.queue AND j.unique_key = enqueue.unique_key;
    IF new_id IS NOT NULL THEN
      RETURN new_id;
    END IF;
    -- The conflicting job finished between the two statements: insert again.
  END LOOP;
END $$;

-- Cancels a job that has not finished. A pending or blocked job moves to history as cancelled at
-- once; a running job is flagged and its worker aborts it (the worker records the cancellation).
CREATE FUNCTION sluice.cancel_job(id bigint, reason text DEFAULT 'cancelled') RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  moved integer;
BEGIN
  WITH gone AS (
    DELETE FROM sluice.job j WHERE j.id = cancel_job.id AND j.state IN ('pending', 'blocked')
    RETURNING j.*
  )
  INSERT INTO sluice.job_history (id, queue, task, payload, state, priority, run_at, attempt,
      max_attempts, unique_key, group_key, worker_id, progress, errors, cancel_reason, created_at,
      started_at)
    SELECT g.id, g.queue, g.task, g.payload, 'cancelled', g.priority, g.run_at, g.attempt,
      g.max_attempts, g.unique_key, g.group_key, g.worker_id, g.progress, g.errors,
      cancel_job.reason, g.created_at, g.started_at
    FROM gone g;
  GET DIAGNOSTICS moved = ROW_COUNT;
  IF moved > 0 THEN
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

-- Creates the day partitions of job_history from `from_day` for `days` days; idempotent.
CREATE FUNCTION sluice.create_history_partitions(from_day date DEFAULT current_date - 1, days integer DEFAULT 4)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  d date;
  made integer := 0;
  part text;
BEGIN
  FOR i IN 0 .. days - 1 LOOP
    d := from_day + i;
    part := 'job_history_' || to_char(d, 'YYYYMMDD');
    IF to_regclass(format('%I.%I', 'sluice', part)) IS NULL THEN
      EXECUTE format('CREATE TABLE %I.%I PARTITION OF %I.job_history FOR VALUES FROM (%L) TO (%L)',
        'sluice', part, 'sluice', d::timestamptz, (d + 1)::timestamptz);
      made := made + 1;
    END IF;
  END LOOP;
  RETURN made;
END $$;

SELECT sluice.create_history_partitions();
SELECT sluice.create_queue('default');

-- Per-queue counts for dashboards and `sluice stats`. Counts read the small hot partitions;
-- history is read only through its finished_at index for the last hour.
CREATE VIEW sluice.queue_stats AS
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
    count(*) FILTER (WHERE state = 'pending' AND run_at <= now()) AS ready,
    count(*) FILTER (WHERE state = 'pending' AND run_at > now()) AS scheduled,
    count(*) FILTER (WHERE state = 'running') AS running,
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

-- One row per job id wherever it lives; a filter on id reaches each table through its index.
CREATE VIEW sluice.all_jobs AS
SELECT id, queue, task, state, payload, priority, run_at, attempt, max_attempts, unique_key,
  group_key, worker_id, progress, errors, NULL::jsonb AS result, created_at, started_at,
  NULL::timestamptz AS finished_at
FROM sluice.job
UNION ALL
SELECT id, queue, task, state, payload, priority, run_at, attempt, max_attempts, unique_key,
  group_key, worker_id, progress, errors, result, created_at, started_at, finished_at
FROM sluice.job_history
UNION ALL
SELECT id, queue, task, 'dead', payload, priority, run_at, attempt, max_attempts, unique_key,
  group_key, NULL, progress, errors, NULL, created_at, started_at, failed_at
FROM sluice.dead_letter;
