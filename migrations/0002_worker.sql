-- The worker side: leader lease, dead-letter replay and "run now" for operators.

-- One row per elected role. A worker holds the row while it renews `expires_at`; a lease row (not
-- a session advisory lock) survives PgBouncer transaction pooling and needs no held connection.
CREATE TABLE sluice.leader (
  name text PRIMARY KEY,
  worker_id text NOT NULL,
  elected_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);

-- Moves one dead letter back to pending with fresh attempts, keeping its id and error history.
-- Deleting the dead letter in the same statement makes a second replay a no-op: it returns NULL.
CREATE FUNCTION sluice.replay_dead_letter(id bigint) RETURNS bigint LANGUAGE sql AS $$
  WITH gone AS (
    DELETE FROM sluice.dead_letter d WHERE d.id = replay_dead_letter.id RETURNING d.*
  ), ins AS (
    INSERT INTO sluice.job (id, queue, task, payload, priority, run_at, attempt, max_attempts,
        group_key, errors, created_at)
      SELECT g.id, g.queue, g.task, g.payload, g.priority, now(), 0, g.max_attempts, g.group_key,
        g.errors, g.created_at
      FROM gone g
    RETURNING id, queue
  ), woken AS (
    SELECT pg_notify('sluice:job', i.queue) FROM ins i
    WHERE EXISTS (SELECT 1 FROM sluice.worker_waiting w WHERE w.queue = i.queue)
  )
  SELECT id FROM ins WHERE (SELECT count(*) FROM woken) >= 0
$$;

-- Replays every dead letter matching the filters (NULL matches all); returns how many.
CREATE FUNCTION sluice.replay_dead_letters(queue text DEFAULT NULL, task text DEFAULT NULL,
    since timestamptz DEFAULT NULL) RETURNS integer LANGUAGE sql AS $$
  WITH gone AS (
    DELETE FROM sluice.dead_letter d
    WHERE (replay_dead_letters.queue IS NULL OR d.queue = replay_dead_letters.queue)
      AND (replay_dead_letters.task IS NULL OR d.task = replay_dead_letters.task)
      AND (replay_dead_letters.since IS NULL OR d.failed_at >= replay_dead_letters.since)
    RETURNING d.*
  ), ins AS (
    INSERT INTO sluice.job (id, queue, task, payload, priority, run_at, attempt, max_attempts,
        group_key, errors, created_at)
      SELECT g.id, g.queue, g.task, g.payload, g.priority, now(), 0, g.max_attempts, g.group_key,
        g.errors, g.created_at
      FROM gone g
    RETURNING queue
  ), woken AS (
    SELECT pg_notify('sluice:job', d.queue)
    FROM (SELECT DISTINCT queue FROM ins) d
    WHERE EXISTS (SELECT 1 FROM sluice.worker_waiting w WHERE w.queue = d.queue)
  )
  SELECT count(*)::integer FROM ins WHERE (SELECT count(*) FROM woken) >= 0
$$;

-- Makes a pending job due now (a scheduled or backing-off job runs at once).
CREATE FUNCTION sluice.retry_job(id bigint) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  q text;
BEGIN
  UPDATE sluice.job j SET run_at = now()
    WHERE j.id = retry_job.id AND j.state = 'pending'
    RETURNING j.queue INTO q;
  IF q IS NULL THEN
    RETURN false;
  END IF;
  IF EXISTS (SELECT 1 FROM sluice.worker_waiting w WHERE w.queue = q) THEN
    PERFORM pg_notify('sluice:job', q);
  END IF;
  RETURN true;
END $$;
