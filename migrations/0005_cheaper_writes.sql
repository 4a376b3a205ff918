-- Cheaper writes on the hot paths: a per-row name check that cost more than the insert it
-- guarded, and a history index that every completed job paid for.

-- Name checks: Postgres compiles the bounded repetition in
-- '^[A-Za-z0-9_.:-]{1,128}$' into a large automaton: as a CHECK on sluice.job.task it took
-- ~4.7 µs per inserted row, about 40% of a bulk insert's server time. Task names are already
-- validated where jobs enter (the TypeScript client and sluice.enqueue), and they are only ever
-- bound as values, so the per-row CHECK goes; the SQL-side check keeps its meaning with an
-- unbounded class plus a length test, which Postgres runs several times faster.

ALTER TABLE sluice.job DROP CONSTRAINT job_task_check;

CREATE OR REPLACE FUNCTION sluice.check_name(kind text, name text) RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF name IS NULL OR octet_length(name) > 128 OR name !~ '^[A-Za-z0-9_.:-]+$' THEN
    RAISE EXCEPTION 'invalid % name %: use 1-128 letters, digits or _ . - :', kind, quote_literal(coalesce(name, 'NULL'))
      USING ERRCODE = '22023';
  END IF;
END $$;

-- History is append-only in finished_at order, so a BRIN index answers the time-range reads
-- (queue_stats' last hour, stats --watch) as well as the B-tree did, for a fraction of the cost
-- of the B-tree insert every completed job paid (~10% of a drain's database time). The build is
-- one pass with no sort, but completions wait for it: on a large history, migrate off-peak.
DROP INDEX sluice.job_history_finished_idx;
CREATE INDEX job_history_finished_idx ON sluice.job_history USING brin (finished_at);
