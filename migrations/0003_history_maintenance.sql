-- Retention support: a catalog view of the job_history day partitions, a partition creator that
-- never takes an ACCESS EXCLUSIVE lock on job_history and survives rows parked in the default
-- partition, and a partition dropper. Names come from the catalog, never from input.

-- One row per day partition of job_history with its bounds (the default partition excluded).
-- Bounds are read back from the catalog, so partitions made in any session time zone show
-- their true range.
CREATE VIEW sluice.history_partitions AS
SELECT c.relname::text AS name,
  substring(pg_get_expr(c.relpartbound, c.oid) FROM $re$FROM \('([^']+)'\)$re$)::timestamptz AS from_at,
  substring(pg_get_expr(c.relpartbound, c.oid) FROM $re$TO \('([^']+)'\)$re$)::timestamptz AS to_at
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'sluice.job_history'::regclass
  AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT';

-- Replaces 0001's version (same signature). Days are UTC days from now on, clamped against any
-- partition already covering part of the day (0001 made the first ones in the migrating
-- session's time zone). Each partition is built as a plain table, filled with the rows of its
-- day that had landed in job_history_default (otherwise attaching would fail for ever), then
-- attached: ATTACH takes SHARE UPDATE EXCLUSIVE on job_history, where CREATE TABLE … PARTITION
-- OF would take ACCESS EXCLUSIVE and stall every job completion while it waits.
CREATE OR REPLACE FUNCTION sluice.create_history_partitions(from_day date DEFAULT current_date - 1, days integer DEFAULT 4)
RETURNS integer LANGUAGE plpgsql SET lock_timeout = '5s' AS $$
DECLARE
  d date;
  made integer := 0;
  part text;
  lo timestamptz;
  hi timestamptz;
  edge timestamptz;
BEGIN
  -- Every maintenance process may run this at once; they take turns.
  PERFORM pg_advisory_xact_lock(hashtext('sluice.job_history partitions'));
  FOR i IN 0 .. days - 1 LOOP
    d := from_day + i;
    part := 'job_history_' || to_char(d, 'YYYYMMDD');
    CONTINUE WHEN to_regclass(format('%I.%I', 'sluice', part)) IS NOT NULL;
    lo := d::timestamp AT TIME ZONE 'UTC';
    hi := (d + 1)::timestamp AT TIME ZONE 'UTC';
    SELECT max(p.to_at) INTO edge FROM sluice.history_partitions p
      WHERE p.from_at <= lo AND p.to_at > lo;
    lo := greatest(lo, edge);
    SELECT min(p.from_at) INTO edge FROM sluice.history_partitions p
      WHERE p.from_at >= lo AND p.from_at < hi;
    hi := least(hi, edge);
    CONTINUE WHEN lo >= hi;
    EXECUTE format('CREATE TABLE %I.%I (LIKE %I.job_history INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
      'sluice', part, 'sluice');
    EXECUTE format('WITH moved AS (DELETE FROM %I.job_history_default WHERE finished_at >= $1 '
      'AND finished_at < $2 RETURNING *) INSERT INTO %I.%I SELECT * FROM moved',
      'sluice', 'sluice', part) USING lo, hi;
    EXECUTE format('ALTER TABLE %I.job_history ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)',
      'sluice', 'sluice', part, lo, hi);
    made := made + 1;
  END LOOP;
  RETURN made;
END $$;

-- Drops every day partition whose whole range ends at or before `older_than`, and deletes rows
-- that old from the default partition (normally empty). Returns the names dropped. A partition
-- whose lock is not granted within lock_timeout (a long report reading it) is left for the
-- next run instead of queueing every completion behind the DROP.
CREATE FUNCTION sluice.drop_history_partitions(older_than timestamptz)
RETURNS SETOF text LANGUAGE plpgsql SET lock_timeout = '5s' AS $$
DECLARE
  r record;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('sluice.job_history partitions'));
  FOR r IN SELECT p.name FROM sluice.history_partitions p WHERE p.to_at <= older_than ORDER BY p.from_at LOOP
    BEGIN
      EXECUTE format('DROP TABLE %I.%I', 'sluice', r.name);
      RETURN NEXT r.name;
    EXCEPTION WHEN lock_not_available THEN
      RAISE WARNING 'sluice: partition % is busy; it will be dropped on a later run', r.name;
    END;
  END LOOP;
  DELETE FROM sluice.job_history_default WHERE finished_at < older_than;
END $$;
