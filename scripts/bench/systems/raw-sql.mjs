// The two baselines: the raw-SQL drain ceiling (a bare table emptied by SKIP LOCKED deletes) and
// scenario B's app transaction without any enqueue.
import pg from 'pg';
import { nowMs, withClient } from '../lib.mjs';

/** System name used in results. */
export const name = 'raw-sql';

/** The bare queue table, loaded with `n` rows whose payload carries seq 0..n-1. */
export async function installDrainTable(url, n) {
  await withClient(url, async (c) => {
    await c.query('CREATE TABLE t (id bigserial PRIMARY KEY, payload jsonb)');
    await c.query(
      `INSERT INTO t (payload) SELECT jsonb_build_object('seq', g) FROM generate_series(0, $1 - 1) g`,
      [n],
    );
  });
}

const DRAIN = `DELETE FROM t WHERE id IN (SELECT id FROM t ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 500)`;

/**
 * Drains `t` with `connections` connections each looping the delete until it finds nothing.
 * @returns {Promise<{ elapsedMs: number, deleted: number, left: number }>}
 */
export async function drain(url, connections) {
  const clients = [];
  for (let i = 0; i < connections; i++) {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    clients.push(c);
  }
  try {
    const t0 = nowMs();
    const counts = await Promise.all(
      clients.map(async (c) => {
        let deleted = 0;
        for (;;) {
          const { rowCount } = await c.query(DRAIN);
          if (!rowCount) return deleted;
          deleted += rowCount;
        }
      }),
    );
    const elapsedMs = nowMs() - t0;
    const { rows } = await clients[0].query('SELECT count(*)::int AS n FROM t');
    return { elapsedMs, deleted: counts.reduce((a, b) => a + b, 0), left: rows[0].n };
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
}
