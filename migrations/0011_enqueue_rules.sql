-- The SQL API's enqueue refuses what would write a useless row (NULL payload, a run_at that never
-- comes, max_attempts outside 1..1000) with SQLSTATE 22023, takes group_key like the TypeScript
-- client, and can keep a unique key taken after its job finished (unique_finished_within).
-- Replays keep the unique key; a dead letter whose key a live job holds stays where it is.

-- Finished jobs by key, for unique keys kept after finishing: only rows that carry one.
CREATE INDEX job_history_unique_key_idx ON sluice.job_history (queue, unique_key)
  WHERE unique_key IS NOT NULL;
CREATE INDEX dead_letter_unique_key_idx ON sluice.dead_letter (queue, unique_key)
  WHERE unique_key IS NOT NULL;

-- One job, with its outcome: the existing job's id and is_duplicate for a unique-key duplicate.
-- unique_finished_within: a job with the same key that finished (completed, cancelled or dead)
-- within this interval also counts as a duplicate ('infinity'-like: interval '1000 years' keeps
-- it while history and dead letters hold the row). Concurrent enqueues of one such key serialise
-- on a transaction advisory lock, taken only for these keys.
CREATE FUNCTION sluice.enqueue_job(
  task text,
  payload jsonb,
  queue text,
  run_at timestamptz,
  priority integer,
  max_attempts integer,
  unique_key text,
  group_key text,
  unique_finished_within interval
) RETURNS TABLE (id bigint, is_duplicate boolean) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  cap integer;
  new_id bigint;
  due timestamptz := coalesce(enqueue_job.run_at, now());
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
        group_key)
      VALUES (enqueue_job.queue, enqueue_job.task, enqueue_job.payload, due,
        coalesce(enqueue_job.priority, 0), coalesce(enqueue_job.max_attempts, 25),
        enqueue_job.unique_key, enqueue_job.group_key)
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

-- The contract function, extended with defaulted parameters (existing calls keep working).
DROP FUNCTION sluice.enqueue(text, jsonb, text, timestamptz, integer, integer, text);
CREATE FUNCTION sluice.enqueue(
  task text,
  payload jsonb,
  queue text DEFAULT 'default',
  run_at timestamptz DEFAULT now(),
  priority integer DEFAULT 0,
  max_attempts integer DEFAULT NULL,
  unique_key text DEFAULT NULL,
  group_key text DEFAULT NULL,
  unique_finished_within interval DEFAULT NULL
) RETURNS bigint LANGUAGE sql AS $$
  SELECT e.id FROM sluice.enqueue_job(task, payload, queue, run_at, priority, max_attempts,
    unique_key, group_key, unique_finished_within) e
$$;

-- Replays keep unique_key and group_key. The job insert skips a dead letter whose key a live job
-- holds (it stays a dead letter, reported by a NULL / a smaller count), and only what was
-- inserted is deleted: FOR UPDATE makes a concurrent second replay wait and then find nothing.
CREATE OR REPLACE FUNCTION sluice.replay_dead_letter(id bigint) RETURNS bigint LANGUAGE sql AS $$
  WITH cand AS (
    SELECT d.* FROM sluice.dead_letter d WHERE d.id = replay_dead_letter.id FOR UPDATE
  ), ins AS (
    INSERT INTO sluice.job (id, queue, task, payload, priority, run_at, attempt, max_attempts,
        unique_key, group_key, errors, created_at)
      SELECT c.id, c.queue, c.task, c.payload, c.priority, now(), 0, c.max_attempts, c.unique_key,
        c.group_key, c.errors, c.created_at
      FROM cand c
    ON CONFLICT (queue, unique_key) WHERE unique_key IS NOT NULL DO NOTHING
    RETURNING id, queue
  ), gone AS (
    DELETE FROM sluice.dead_letter d USING ins WHERE d.id = ins.id RETURNING d.id
  ), woken AS (
    SELECT pg_notify('sluice:job', i.queue) FROM ins i
    WHERE EXISTS (SELECT 1 FROM sluice.worker_waiting w WHERE w.queue = i.queue)
  )
  SELECT id FROM ins WHERE (SELECT count(*) FROM woken) + (SELECT count(*) FROM gone) >= 0
$$;

CREATE OR REPLACE FUNCTION sluice.replay_dead_letters(queue text DEFAULT NULL,
    task text DEFAULT NULL, since timestamptz DEFAULT NULL) RETURNS integer LANGUAGE sql AS $$
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
        unique_key, group_key, errors, created_at)
      SELECT r.id, r.queue, r.task, r.payload, r.priority, now(), 0, r.max_attempts, r.unique_key,
        r.group_key, r.errors, r.created_at
      FROM ranked r WHERE r.unique_key IS NULL OR r.rn = 1
    ON CONFLICT (queue, unique_key) WHERE unique_key IS NOT NULL DO NOTHING
    RETURNING id, queue
  ), gone AS (
    DELETE FROM sluice.dead_letter d USING ins WHERE d.id = ins.id RETURNING d.id
  ), woken AS (
    SELECT pg_notify('sluice:job', d.queue)
    FROM (SELECT DISTINCT queue FROM ins) d
    WHERE EXISTS (SELECT 1 FROM sluice.worker_waiting w WHERE w.queue = d.queue)
  )
  SELECT count(*)::integer FROM ins
  WHERE (SELECT count(*) FROM woken) + (SELECT count(*) FROM gone) >= 0
$$;
