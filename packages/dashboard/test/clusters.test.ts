// One dashboard over queues on two clusters (two databases here, each reached by its own pool):
// each cluster's pages read only its database, the header switches between them, actions land
// on the cluster whose page posted them, and /metrics carries every cluster's gauges.
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTask, enqueue } from 'sluice';
import { createQueue } from 'sluice/admin';
import { createDashboard } from '@sluice/dashboard';
import { useTestDatabase } from '../../../test/setup/db.js';
import { Session } from './session.js';

const main = useTestDatabase();
const bulk = useTestDatabase();
let session: Session;

const mail = defineTask({ name: 'send-mail', queue: 'mail', schema: z.object({}) });
const report = defineTask({ name: 'build-report', queue: 'reports', schema: z.object({}) });

beforeAll(async () => {
  await createQueue({ db: main.current.pool, name: 'mail' });
  await createQueue({ db: bulk.current.pool, name: 'reports' });
  await enqueue(mail, {}, { db: main.current.pool });
  await enqueue(report, {}, { db: bulk.current.pool });
  await enqueue(report, {}, { db: bulk.current.pool });
  session = new Session(
    createDashboard({
      clusters: { main: main.current.pool, bulk: bulk.current.pool },
      basePath: '/ops',
    }),
  );
});

describe('a dashboard over two clusters', () => {
  it('opens on the first cluster, with a switcher; each cluster shows only its queues', async () => {
    const root = await session.get('/ops/');
    expect(root.status).toBe(200);
    expect(root.text).toContain('href="/ops/clusters/main/queues/mail"');
    expect(root.text).not.toContain('reports');
    expect(root.text).toMatch(
      /<nav class="clusters"[^>]*>cluster <a href="\/ops\/clusters\/main\/"/,
    );
    expect(root.text).toContain('href="/ops/clusters/bulk/"');
    const other = await session.get('/ops/clusters/bulk/');
    expect(other.status).toBe(200);
    expect(other.text).toContain('href="/ops/clusters/bulk/queues/reports"');
    expect(other.text).not.toContain('/queues/mail');
    expect((await session.get('/ops/clusters/bulk/queues/reports')).status).toBe(200);
    // A queue of the other cluster is unknown here.
    expect((await session.get('/ops/clusters/bulk/queues/mail')).status).toBe(404);
    expect((await session.get('/ops/clusters/nowhere/')).status).toBe(404);
  });

  it("an action posted from a cluster's page changes that cluster only", async () => {
    await session.get('/ops/clusters/bulk/queues/reports');
    const res = await session.post('/ops/clusters/bulk/queues/reports/pause', {
      back: '/ops/clusters/bulk/queues/reports',
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/ops/clusters/bulk/queues/reports');
    const { rows } = await bulk.current.pool.query(
      `SELECT is_paused FROM sluice.queue WHERE name = 'reports'`,
    );
    expect(rows).toEqual([{ is_paused: true }]);
    const audit = await bulk.current.pool.query(`SELECT action FROM sluice.audit`);
    expect(audit.rows).toEqual([{ action: 'queue.pause' }]);
    expect((await main.current.pool.query(`SELECT 1 FROM sluice.audit`)).rows).toEqual([]);
  });

  it('/metrics reads every cluster, labelled with it', async () => {
    const res = await session.get('/ops/metrics');
    expect(res.status).toBe(200);
    expect(res.text).toContain('sluice_queue_jobs{cluster="main",queue="mail",state="ready"} 1');
    expect(res.text).toContain('sluice_queue_jobs{cluster="bulk",queue="reports",state="ready"} 2');
    expect(res.text).toContain('sluice_queue_stats_up{cluster="main"} 1');
    expect(res.text).toContain('sluice_queue_stats_up{cluster="bulk"} 1');
  });

  it('refuses db together with clusters, and cluster names that are not URL-safe', () => {
    expect(() =>
      createDashboard({ db: main.current.pool, clusters: { main: main.current.pool } }),
    ).toThrow(/db or clusters/);
    expect(() => createDashboard({ clusters: { 'a b': main.current.pool } })).toThrow(/URL-safe/);
    expect(() => createDashboard({ clusters: {} })).toThrow(/no cluster/);
  });
});
