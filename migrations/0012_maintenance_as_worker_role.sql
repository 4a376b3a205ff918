-- The leader's upkeep works for the least-privilege role the README grants (DML and EXECUTE, no
-- DDL): creating, attaching and dropping history partitions, creating a queue's partition and
-- analyzing the partitioned parents all need the owner. These functions run as their owner (the
-- role that migrated) with a fixed search_path, so a caller can neither do anything else with
-- the owner's rights nor put its own objects in their way; every name inside is schema-qualified
-- or comes from pg_catalog. Without this, history fell into job_history_default after a few days
-- and retention could drop nothing.
ALTER FUNCTION sluice.create_history_partitions(date, integer)
  SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION sluice.drop_history_partitions(timestamptz)
  SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION sluice.create_queue(text, integer, integer, integer, integer, interval, interval)
  SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- ANALYZE needs the owner too (or pg_maintain from PostgreSQL 17). From 18, ONLY limits it to the
-- parents (autovacuum keeps the partitions); before, a parent's ANALYZE re-samples its partitions.
CREATE FUNCTION sluice.analyze_parents() RETURNS void LANGUAGE plpgsql
  SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF current_setting('server_version_num')::int >= 180000 THEN
    EXECUTE format('ANALYZE ONLY %I.job, ONLY %I.job_history', 'sluice', 'sluice');
  ELSE
    EXECUTE format('ANALYZE %I.job, %I.job_history', 'sluice', 'sluice');
  END IF;
END $$;

-- Owner's rights go only to roles granted EXECUTE (the README's GRANT does), not to everyone.
REVOKE EXECUTE ON FUNCTION sluice.create_history_partitions(date, integer),
  sluice.drop_history_partitions(timestamptz),
  sluice.create_queue(text, integer, integer, integer, integer, interval, interval),
  sluice.analyze_parents() FROM PUBLIC;
