// The handler mounted under a base path in Express and in plain node:http, reached over real
// HTTP: pages, assets, and an action's redirect stay under the base path.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboard, nodeListener, serveDashboard } from '@sluice/dashboard';
import { useTestDatabase } from '../../../test/setup/db.js';
import { seed } from './seed.js';
import { Session } from './session.js';

const db = useTestDatabase();
const servers: Server[] = [];

beforeAll(async () => {
  await seed(db.current.pool);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

async function listen(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function exercise(origin: string, base: string) {
  const s = new Session((r) => fetch(r), origin);
  const home = await s.get(`${base}/`);
  expect(home.status).toBe(200);
  expect(home.text).toContain(`href="${base}/queues/mail"`);
  expect(home.text).toContain(`href="${base}/assets/app.css"`);
  expect((await s.get(`${base}/assets/app.css`)).status).toBe(200);
  expect((await s.get(`${base}/queues/mail?state=dead`)).status).toBe(200);
  const paused = await s.post(`${base}/queues/reports/pause`, { back: `${base}/queues/reports` });
  expect(paused.status).toBe(303);
  expect(paused.headers.get('location')).toBe(`${base}/queues/reports`);
  const page = await s.get(`${base}/queues/reports`);
  expect(page.text).toContain('Queue reports paused.');
  await s.post(`${base}/queues/reports/resume`);
  // A `back` outside the base path is ignored: no open redirect.
  for (const back of ['//evil.example/', `${base}/\t/evil.example`, 'https://evil.example/']) {
    const away = await s.post(`${base}/queues/reports/resume`, { back });
    expect(away.headers.get('location')).toBe(`${base}/`);
  }
}

describe('mounting', () => {
  it('in Express at /admin/sluice, beside the app’s own routes and body parser', async () => {
    const app = express();
    app.get('/health', (_req, res) => {
      res.send('ok');
    });
    app.use(
      '/admin/sluice',
      nodeListener(createDashboard({ db: db.current.pool, basePath: '/admin/sluice' })),
    );
    app.use(express.urlencoded({ extended: false }));
    const origin = await listen(createServer(app));
    expect(await (await fetch(`${origin}/health`)).text()).toBe('ok');
    await exercise(origin, '/admin/sluice');
  });

  it('in plain node:http at /sluice, next to other routes', async () => {
    const listener = nodeListener(createDashboard({ db: db.current.pool, basePath: '/sluice' }));
    const origin = await listen(
      createServer((req, res) => {
        if (req.url?.startsWith('/sluice/') || req.url === '/sluice') return listener(req, res);
        res.writeHead(404).end('app 404');
      }),
    );
    expect((await fetch(`${origin}/other`)).status).toBe(404);
    await exercise(origin, '/sluice');
  });

  it('serveDashboard at the root on a free port', async () => {
    const server = await serveDashboard(createDashboard({ db: db.current.pool }));
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      await exercise(server.url.replace(/\/$/, ''), '');
    } finally {
      await server.close();
    }
  });
});
