-- Rate limits hold in every sliding window, not per fixed window: two fixed windows let twice the
-- limit start within a moment across their boundary. sluice.queue_rate becomes a log of claims
-- (window_start is the moment of each claim, started how many it started), and a claim counts the
-- starts within the last rate_window_ms. Limited claims also leave started_at NULL until the
-- handler starts, as the plain claim does since 0009.
CREATE OR REPLACE FUNCTION sluice.claim_limited(claim_queue text, max_jobs integer, claim_worker_id text,
  lease_ms float8)
RETURNS TABLE (id bigint, queue text, task text, payload jsonb, attempt integer,
  max_attempts integer, group_key text, created_at timestamptz)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  q record;
  room integer := max_jobs;
  used integer;
  t timestamptz;
  since timestamptz;
  claimed bigint[];
BEGIN
  SELECT * INTO q FROM sluice.queue WHERE name = claim_limited.claim_queue FOR NO KEY UPDATE;
  IF NOT FOUND OR q.is_paused THEN
    RETURN;
  END IF;
  -- The clock after the queue lock: claims record their starts in lock order, so each one
  -- counts every start recorded before it within the last window.
  t := clock_timestamp();
  since := t - q.rate_window_ms * interval '1 millisecond';
  IF q.concurrency_limit IS NOT NULL THEN
    SELECT count(*) INTO used FROM sluice.job j
      WHERE j.queue = claim_limited.claim_queue AND j.state = 'running';
    room := least(room, q.concurrency_limit - used);
  END IF;
  IF q.rate_limit IS NOT NULL THEN
    SELECT coalesce(sum(r.started), 0) INTO used FROM sluice.queue_rate r
      WHERE r.queue = claim_limited.claim_queue AND r.group_key = '' AND r.window_start > since;
    room := least(room, q.rate_limit - used);
  END IF;
  IF room <= 0 THEN
    RETURN;
  END IF;

  IF q.group_concurrency_limit IS NULL AND q.group_rate_limit IS NULL THEN
    SELECT array_agg(c.id) INTO claimed FROM (
      SELECT j.id FROM sluice.job j
      WHERE j.queue = claim_limited.claim_queue AND j.state = 'pending' AND j.run_at <= now()
      ORDER BY j.priority DESC, j.run_at, j.id
      LIMIT room
      FOR UPDATE SKIP LOCKED
    ) c;
  ELSE
    -- Per-group room: a busy group fills only its own share, so other groups still get slots.
    -- This reads every due row of the queue (window function), the price of per-key limits.
    SELECT array_agg(c.id) INTO claimed FROM (
      SELECT j.id FROM sluice.job j
      WHERE j.queue = claim_limited.claim_queue AND j.id IN (
        SELECT e.id FROM (
          SELECT p.id, p.group_key, p.priority, p.run_at,
            row_number() OVER (PARTITION BY p.group_key ORDER BY p.priority DESC, p.run_at, p.id) AS rn
          FROM sluice.job p
          WHERE p.queue = claim_limited.claim_queue AND p.state = 'pending' AND p.run_at <= now()
        ) e
        LEFT JOIN (
          SELECT r.group_key, count(*) AS n FROM sluice.job r
          WHERE r.queue = claim_limited.claim_queue AND r.state = 'running' AND r.group_key IS NOT NULL
          GROUP BY r.group_key
        ) g ON g.group_key = e.group_key
        LEFT JOIN (
          SELECT s.group_key, sum(s.started) AS started FROM sluice.queue_rate s
          WHERE s.queue = claim_limited.claim_queue AND s.group_key <> '' AND s.window_start > since
          GROUP BY s.group_key
        ) w ON w.group_key = e.group_key
        WHERE e.group_key IS NULL
          OR ((q.group_concurrency_limit IS NULL OR e.rn <= q.group_concurrency_limit - coalesce(g.n, 0))
            AND (q.group_rate_limit IS NULL OR e.rn <= q.group_rate_limit - coalesce(w.started, 0)))
        ORDER BY e.priority DESC, e.run_at, e.id
        LIMIT room
      )
      FOR UPDATE SKIP LOCKED
    ) c;
  END IF;
  IF claimed IS NULL THEN
    RETURN;
  END IF;

  RETURN QUERY
  UPDATE sluice.job j
  SET state = 'running', attempt = j.attempt + 1, worker_id = claim_limited.claim_worker_id,
    started_at = NULL, lease_expires_at = now() + lease_ms * interval '1 millisecond'
  WHERE j.queue = claim_limited.claim_queue AND j.id = ANY (claimed)
  RETURNING j.id, j.queue, j.task, j.payload, j.attempt, j.max_attempts, j.group_key, j.created_at;

  IF q.rate_limit IS NOT NULL OR q.group_rate_limit IS NOT NULL THEN
    INSERT INTO sluice.queue_rate AS r (queue, group_key, window_start, started)
      VALUES (claim_limited.claim_queue, '', t, cardinality(claimed))
      ON CONFLICT (queue, group_key, window_start) DO UPDATE SET started = r.started + excluded.started;
    INSERT INTO sluice.queue_rate AS r (queue, group_key, window_start, started)
      SELECT claim_limited.claim_queue, j.group_key, t, count(*)
      FROM sluice.job j
      WHERE j.queue = claim_limited.claim_queue AND j.id = ANY (claimed) AND j.group_key IS NOT NULL
      GROUP BY j.group_key
      ON CONFLICT (queue, group_key, window_start) DO UPDATE SET started = r.started + excluded.started;
    -- Entries older than the window count no more.
    DELETE FROM sluice.queue_rate r
      WHERE r.queue = claim_limited.claim_queue AND r.window_start <= since;
  END IF;
END $$;
