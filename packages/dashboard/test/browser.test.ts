// Every page and every action in a real browser: playwright-core driving Debian's chromium
// against the dashboard served on loopback with a real database. Also checks that the strict
// CSP holds (no violation reported) and that the script runs (times, select all, confirms).
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createDashboard, serveDashboard, type DashboardServer } from '@sluice/dashboard';
import { useTestDatabase } from '../../../test/setup/db.js';
import { seed, type Seeded } from './seed.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(`dashboard browser tests skipped: no ${CHROMIUM} (apt-get install -y chromium)`);
}

const db = useTestDatabase();

describe.skipIf(!hasChromium)('dashboard in chromium', () => {
  let browser: Browser;
  let server: DashboardServer;
  let page: Page;
  let ids: Seeded;
  const problems: string[] = [];

  beforeAll(async () => {
    ids = await seed(db.current.pool);
    server = await serveDashboard(createDashboard({ db: db.current.pool, basePath: '/ops' }));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    page = await browser.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('dialog', (d) => void d.accept());
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  const open = async (path: string) => {
    const res = await page.goto(server.url.replace(/\/$/, '') + path);
    expect(res?.status()).toBe(200);
  };
  const flash = () => page.locator('.flash').innerText();
  const state = async (id: string) =>
    (
      await db.current.pool.query<{ state: string }>(
        `SELECT state FROM sluice.all_jobs WHERE id = $1`,
        [id],
      )
    ).rows[0]?.state;

  it('overview: queues, counts, chart; the script runs under the CSP', async () => {
    await open('/');
    await expect(page.title()).resolves.toBe('Overview · Sluice');
    const rows = page.locator('tbody tr');
    expect(await rows.count()).toBe(3);
    expect(await page.locator('svg.spark').count()).toBe(3);
    expect(await page.locator('svg.spark rect.c').count()).toBeGreaterThan(0);
    // app.js turned the times into "… ago" elsewhere; here the auto-refresh box exists.
    await expect(page.locator('#auto-refresh').isVisible()).resolves.toBe(true);
    await page.getByRole('link', { name: 'mail', exact: true }).click();
    await page.waitForURL(/\/ops\/queues\/mail$/);
    expect(await page.locator('time[data-ago]').first().innerText()).toMatch(/ago|from now/);
    expect(problems).toEqual([]);
  });

  it('queue: tabs, filters, pause/resume and limits', async () => {
    await open('/queues/mail');
    await page.locator('.tabs a', { hasText: 'dead' }).click();
    expect(await page.locator('tbody tr').count()).toBe(3);
    await open('/queues/mail');
    await page.fill('input[name=unique_key]', 'order-42');
    await page.click('button:has-text("Filter")');
    expect(page.url()).toContain('unique_key=order-42');
    expect(await page.locator('tbody tr').count()).toBe(1);
    await page.getByRole('button', { name: 'Pause' }).click();
    expect(await flash()).toContain('Queue mail paused.');
    await page.getByRole('button', { name: 'Resume' }).click();
    expect(await flash()).toContain('Queue mail resumed.');
    await page.fill('input[name=concurrency_limit]', '7');
    await page.fill('input[name=rate_limit]', '50');
    await page.click('button:has-text("Save limits")');
    expect(await flash()).toContain('Limits of queue mail saved.');
    expect(await page.locator('.limits').first().innerText()).toContain('7 at once');
  });

  it('queue: run selected now and cancel selected', async () => {
    await open('/queues/mail?state=pending');
    await page.check(`input[name=id][value="${ids.scheduled}"]`);
    await page.click('button[value=retry]');
    expect(await flash()).toContain('1 job of 1 selected will run now.');
    await open('/queues/mail?state=pending');
    await page.check('input[data-select-all]');
    const ticked = await page.locator('input[name=id]:checked').count();
    expect(ticked).toBeGreaterThanOrEqual(2);
    await page.click('button[value=cancel]');
    expect(await flash()).toMatch(/\d+ jobs? of \d+ selected cancelled\./);
    expect(await state(ids.pending)).toBe('cancelled');
  });

  it('queue: run all matching now and cancel all matching by filter', async () => {
    await db.current.pool.query(
      `SELECT sluice.enqueue('bulk-task', '{}', 'reports', now() + interval '1 day')
       FROM generate_series(1, 3)`,
    );
    await open('/queues/reports?state=pending');
    await page.fill('input[name=task]', 'bulk-task');
    await page.click('button:has-text("Filter")');
    await page.click('button:has-text("Run all matching now")');
    expect(await flash()).toContain('3 jobs matching the filter will run now.');
    await page.click('button:has-text("Cancel all matching")');
    expect(await flash()).toContain('3 jobs matching the filter cancelled.');
  });

  it('job: details, errors with stack, log lines, hidden payload; replay a dead job', async () => {
    await open(`/jobs/${ids.dead[0]}`);
    expect(await page.locator('h1').innerText()).toContain(ids.dead[0]);
    expect(await page.locator('pre.job-log').innerText()).toContain('calling the card gateway');
    expect(await page.locator('details.err summary').first().innerText()).toContain(
      'card declined',
    );
    expect(await page.locator('details.err pre').first().innerText()).toMatch(/at /);
    expect(await page.content()).not.toContain('secret-card');
    await page.getByRole('button', { name: 'Replay' }).click();
    expect(await flash()).toContain('replayed');
    expect(await state(ids.dead[0]!)).toBe('pending');
  });

  it('job: run now and cancel from its page', async () => {
    const { rows } = await db.current.pool.query<{ id: string }>(
      `SELECT sluice.enqueue('send-email', '{}', 'mail', now() + interval '1 day') AS id`,
    );
    const id = rows[0]!.id;
    await open(`/jobs/${id}`);
    await page.getByRole('button', { name: 'Run now' }).click();
    expect(await flash()).toContain(`Job ${id} will run now.`);
    await page.getByRole('button', { name: 'Cancel' }).click();
    expect(await flash()).toContain(`Job ${id} cancelled.`);
    expect(await state(id)).toBe('cancelled');
  });

  it('dead letters: filter, replay one, replay selected, replay all matching, purge', async () => {
    await db.current.pool.query(
      `INSERT INTO sluice.dead_letter (id, queue, task, payload, priority, run_at, attempt,
         max_attempts, reason, created_at)
       SELECT nextval('sluice.job_id_seq'), 'reports', t, '{}', 0, now(), 1, 1, 'permanent', now()
       FROM unnest(ARRAY['r1','r1','r2','r2','r3','r4']) t`,
    );
    await open('/dead-letters');
    await page.selectOption('select[name=queue]', 'reports');
    await page.click('button:has-text("Filter")');
    expect(await page.locator('tbody tr').count()).toBe(6);
    await page
      .locator('tbody tr', { hasText: 'r4' })
      .getByRole('button', { name: 'Replay' })
      .click();
    expect(await flash()).toContain('Replayed 1 dead letter of 1 selected.');
    await page.locator('tbody tr', { hasText: 'r3' }).locator('input[name=id]').check();
    await page.click('button:has-text("Replay selected")');
    expect(await flash()).toContain('Replayed 1 dead letter of 1 selected.');
    await page.fill('input[name=task]', 'r1');
    await page.click('button:has-text("Filter")');
    await page.click('button:has-text("Replay all matching")');
    expect(await flash()).toContain('Replayed 2 dead letters matching the filter.');
    await page.fill('input[name=task]', 'r2');
    await page.click('button:has-text("Filter")');
    await page.click('button:has-text("Purge all matching")');
    expect(await flash()).toContain('Purged 2 dead letters matching the filter.');
    const left = await db.current.pool.query(
      `SELECT count(*)::int AS n FROM sluice.dead_letter WHERE queue = 'reports'`,
    );
    expect(left.rows[0]).toEqual({ n: 0 });
  });

  it('schedules: disable, enable, run now', async () => {
    await open('/schedules');
    expect(await page.locator('tbody').innerText()).toContain('nightly-report');
    await page.getByRole('button', { name: 'Disable' }).click();
    expect(await flash()).toContain('disabled');
    await page.getByRole('button', { name: 'Enable' }).click();
    expect(await flash()).toContain('enabled');
    await page.getByRole('button', { name: 'Run now' }).click();
    expect(await flash()).toMatch(/enqueued job \d+/);
  });

  it('workers and the audit log of everything done above', async () => {
    await open('/workers');
    expect(await page.locator('tbody').innerText()).toContain('w-test-1');
    expect(await page.locator('p.muted').first().innerText()).toContain('Leader');
    await open('/audit');
    const text = await page.locator('tbody').innerText();
    for (const action of [
      'queue.pause',
      'queue.resume',
      'queue.update_limits',
      'job.retry_selected',
      'job.cancel_selected',
      'job.retry_matching',
      'job.cancel_matching',
      'dead_letter.replay',
      'job.retry',
      'job.cancel',
      'dead_letter.replay_selected',
      'dead_letter.replay_matching',
      'dead_letter.purge_matching',
      'schedule.disable',
      'schedule.enable',
      'schedule.run_now',
    ]) {
      expect(text).toContain(action);
    }
    expect(problems).toEqual([]);
  });
});
