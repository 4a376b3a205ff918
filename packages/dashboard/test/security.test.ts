// The security rules against a real database: CSRF token and Origin, loopback-only without
// authorize, basic auth and bearer tokens with read-only users, read-only mode, no job data in
// URLs, and the statement timeout.
import { beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, bearerToken, createDashboard, serveDashboard } from '@sluice/dashboard';
import { useTestDatabase } from '../../../test/setup/db.js';
import { seed, type Seeded } from './seed.js';
import { Session } from './session.js';

const db = useTestDatabase();
let ids: Seeded;
let admin: Session;

beforeAll(async () => {
  ids = await seed(db.current.pool);
  admin = new Session(createDashboard({ db: db.current.pool }));
  await admin.get('/');
});

async function auditRows(action: string) {
  const { rows } = await db.current.pool.query(
    `SELECT actor, action, target, filter, count FROM sluice.audit WHERE action = $1 ORDER BY id`,
    [action],
  );
  return rows as { actor: string; target: string | null; filter: unknown; count: number }[];
}

describe('security', () => {
  it('refuses posts without the CSRF token, with a token of another cookie, or cross-site', async () => {
    const s = new Session(createDashboard({ db: db.current.pool }));
    await s.get('/');
    expect((await s.post('/queues/mail/pause', { _csrf: '' })).status).toBe(403);
    expect((await s.post('/queues/mail/pause', { _csrf: admin.token })).status).toBe(403);
    const cross = await s.post('/queues/mail/pause', {}, { origin: 'https://evil.example' });
    expect(cross.status).toBe(403);
    expect(cross.text).toContain('cross-site');
    const fetchSite = await s.post(
      '/queues/mail/pause',
      {},
      { origin: '', 'sec-fetch-site': 'cross-site' },
    );
    expect(fetchSite.status).toBe(403);
    const json = await s.post('/queues/mail/pause', {}, { 'content-type': 'application/json' });
    expect(json.status).toBe(400);
    const { rows } = await db.current.pool.query(
      `SELECT is_paused FROM sluice.queue WHERE name = 'mail'`,
    );
    expect(rows[0]).toEqual({ is_paused: false });
    expect((await s.get('/queues/mail/pause')).status).toBe(404);
  });

  it('without authorize answers only requests addressed to loopback', async () => {
    const d = createDashboard({ db: db.current.pool });
    expect(d.hasAuth).toBe(false);
    const remote = await d(new Request('http://dashboard.example.com/'));
    expect(remote.status).toBe(403);
    for (const host of ['http://localhost:4100/', 'http://[::1]:4100/', 'http://127.0.0.2/']) {
      expect((await d(new Request(host))).status).toBe(200);
    }
    await expect(serveDashboard(d, { host: '0.0.0.0' })).rejects.toThrow(/refusing to listen/);
  });

  it('basic auth: 401 with a challenge, admin and read-only users, actor in the audit log', async () => {
    const d = createDashboard({
      db: db.current.pool,
      authorize: basicAuth([
        { username: 'ops', password: 'pw-ops' },
        { username: 'viewer', password: 'pw-view', role: 'read-only' },
      ]),
    });
    expect(d.hasAuth).toBe(true);
    const anon = await d(new Request('http://dash.example.com/'));
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toMatch(/^Basic/);
    const wrong = new Session(d, 'http://dash.example.com', {
      authorization: `Basic ${Buffer.from('ops:nope').toString('base64')}`,
    });
    expect((await wrong.get('/')).status).toBe(401);
    const ops = new Session(d, 'http://dash.example.com', {
      authorization: `Basic ${Buffer.from('ops:pw-ops').toString('base64')}`,
    });
    expect((await ops.get('/queues/default')).status).toBe(200);
    expect((await ops.post('/queues/default/pause')).status).toBe(303);
    expect((await auditRows('queue.pause')).at(-1)).toMatchObject({
      actor: 'ops',
      target: 'default',
    });
    await ops.post('/queues/default/resume');
    const viewer = new Session(d, 'http://dash.example.com', {
      authorization: `Basic ${Buffer.from('viewer:pw-view').toString('base64')}`,
    });
    const page = await viewer.get('/queues/default');
    expect(page.status).toBe(200);
    expect(page.text).toContain('read-only');
    expect(page.text).not.toContain('method="post"');
    expect((await viewer.post('/queues/default/pause', { _csrf: ops.token })).status).toBe(403);
  });

  it('bearer tokens and read-only mode', async () => {
    const token = 'a-long-enough-token-123';
    const d = createDashboard({
      db: db.current.pool,
      authorize: bearerToken({ token }),
      readOnly: true,
    });
    expect((await d(new Request('http://x.example/'))).status).toBe(401);
    const s = new Session(d, 'http://x.example', { authorization: `Bearer ${token}` });
    const p = await s.get('/dead-letters');
    expect(p.status).toBe(200);
    expect(p.text).not.toContain('Replay all matching');
    const refused = await s.post('/dead-letters/purge-matching', {});
    expect(refused.status).toBe(403);
    expect(refused.text).toContain('read-only');
    expect(() => bearerToken({ token: 'short' })).toThrow(/16/);
  });

  it('serves Prometheus queue gauges on /metrics to a read-only identity, not to anyone', async () => {
    const token = 'a-long-enough-token-456';
    const d = createDashboard({
      db: db.current.pool,
      authorize: bearerToken({ token }),
      readOnly: true,
    });
    expect((await d(new Request('http://x.example/metrics'))).status).toBe(401);
    const s = new Session(d, 'http://x.example', { authorization: `Bearer ${token}` });
    const m = await s.get('/metrics');
    expect(m.status).toBe(200);
    expect(m.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(m.text).toMatch(/^sluice_queue_jobs\{queue="mail",state="ready"\} \d+$/m);
    expect(m.text).toMatch(/^sluice_queue_stats_up 1$/m);
    const off = createDashboard({ db: db.current.pool, metrics: false });
    expect((await new Session(off).get('/metrics')).status).toBe(404);
  });

  it('keeps job data out of URLs: links carry ids and names only', async () => {
    const s = new Session(createDashboard({ db: db.current.pool, showPayloads: true }));
    for (const path of ['/', '/queues/mail', '/dead-letters', `/jobs/${ids.completed[1]}`]) {
      const p = await s.get(path);
      const urls = [...p.text.matchAll(/(?:href|action|formaction)="([^"]*)"/g)].map((m) => m[1]);
      for (const u of urls) expect(u).not.toMatch(/example\.com|secret|msg-for/);
    }
  });

  it('a statement timeout answers 503 instead of holding the connection', async () => {
    const d = createDashboard({ db: db.current.pool, statementTimeoutMs: 1 });
    const lock = await db.current.pool.connect();
    try {
      await lock.query('BEGIN');
      await lock.query('LOCK TABLE sluice.queue IN ACCESS EXCLUSIVE MODE');
      const res = await d(new Request('http://127.0.0.1/'));
      expect(res.status).toBe(503);
      expect(await res.text()).toContain('statement timeout');
    } finally {
      await lock.query('ROLLBACK');
      lock.release();
    }
  });
});
