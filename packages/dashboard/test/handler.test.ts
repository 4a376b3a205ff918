// The Fetch handler against a real database: every page, every action with its audit row, and
// the answers to bad input (400/404), the CSP headers and hidden payloads. security.test.ts has
// the rest of the rules.
import { beforeAll, describe, expect, it } from 'vitest';
import { createDashboard } from '@sluice/dashboard';
import { useTestDatabase } from '../../../test/setup/db.js';
import { seed, type Seeded } from './seed.js';
import { Session } from './session.js';

const db = useTestDatabase();
let ids: Seeded;
let admin: Session;

beforeAll(async () => {
  ids = await seed(db.current.pool);
  admin = new Session(createDashboard({ db: db.current.pool }));
});

async function auditRows(action: string) {
  const { rows } = await db.current.pool.query(
    `SELECT actor, action, target, filter, count FROM sluice.audit WHERE action = $1 ORDER BY id`,
    [action],
  );
  return rows as { actor: string; target: string | null; filter: unknown; count: number }[];
}

async function stateOf(id: string) {
  const { rows } = await db.current.pool.query(`SELECT state FROM sluice.all_jobs WHERE id = $1`, [
    id,
  ]);
  return (rows[0] as { state: string } | undefined)?.state;
}

describe('pages', () => {
  it('overview lists every queue with counts, limits and a chart of the last hour', async () => {
    const p = await admin.get('/');
    expect(p.status).toBe(200);
    expect(p.headers.get('content-type')).toMatch(/text\/html/);
    for (const q of ['default', 'mail', 'reports']) expect(p.text).toContain(`/queues/${q}`);
    expect(p.text).toContain('5 at once');
    expect(p.text).toMatch(/<svg[^>]*class="spark"/);
    expect(p.text).toMatch(/3 completed, 3 dead|: 3 completed/);
  });

  it('a queue page lists its jobs newest first, by state, with filters and keyset pages', async () => {
    const all = await admin.get('/queues/mail');
    expect(all.status).toBe(200);
    const order = [...all.text.matchAll(/href="\/jobs\/(\d+)"/g)].map((m) => Number(m[1]));
    expect(order.length).toBeGreaterThanOrEqual(10);
    expect([...order].sort((a, b) => b - a)).toEqual(order);
    const dead = await admin.get('/queues/mail?state=dead');
    expect([...dead.text.matchAll(/href="\/jobs\/(\d+)"/g)].map((m) => m[1]).sort()).toEqual(
      [...ids.dead].sort(),
    );
    const byKey = await admin.get('/queues/mail?unique_key=order-42');
    expect([...byKey.text.matchAll(/href="\/jobs\/(\d+)"/g)].map((m) => m[1])).toEqual([ids.keyed]);
    const byGroup = await admin.get('/queues/mail?group_key=customer-7');
    expect(byGroup.text).toContain(`/jobs/${ids.keyed}"`);
    const byTask = await admin.get('/queues/mail?task=charge-card');
    expect([...byTask.text.matchAll(/href="\/jobs\/(\d+)"/g)]).toHaveLength(3);
    const byId = await admin.get(`/queues/mail?id=${ids.pending}`);
    expect([...byId.text.matchAll(/href="\/jobs\/(\d+)"/g)].map((m) => m[1])).toEqual([
      ids.pending,
    ]);
    const future = await admin.get('/queues/mail?from=2999-01-01T00:00');
    expect(future.text).toContain('No jobs match.');
    const older = await admin.get(`/queues/mail?before=${ids.dead[1]}`);
    expect([...older.text.matchAll(/href="\/jobs\/(\d+)"/g)].map((m) => m[1])).toEqual([
      ids.dead[0],
      ...[...ids.completed].reverse(),
    ]);
  });

  it('a job page shows timings, errors per attempt with stack, and hides the payload', async () => {
    const p = await admin.get(`/jobs/${ids.dead[0]}`);
    expect(p.status).toBe(200);
    expect(p.text).toContain('card declined');
    expect(p.text).toMatch(/<pre>Error: card declined\n\s+at /);
    expect(p.text).toContain('attempts_exhausted');
    expect(p.text).not.toContain('secret-card');
    expect(p.text).toContain('Payload hidden');
    const done = await admin.get(`/jobs/${ids.completed[0]}`);
    expect(done.text).not.toContain('msg-for-');
    expect(done.text).toContain('Result hidden');
    expect(done.text).toContain('No log lines.');
  });

  it('a job page shows its ctx.log lines, escaped, from every attempt', async () => {
    const id = ids.dead[0]!;
    await db.current.pool.query(
      `INSERT INTO sluice.job_log (job_id, attempt, seq, message, fields)
       VALUES ($1, 1, 101, 'first <b>try</b>', NULL), ($1, 2, 101, 'second', '{"n": 2}')`,
      [id],
    );
    const { rows } = await db.current.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM sluice.job_log WHERE job_id = $1',
      [id],
    );
    const p = await admin.get(`/jobs/${id}`);
    // The seed's handler logged a line per attempt too.
    expect(p.text).toContain(`Log (${rows[0]!.n})`);
    expect(p.text).toContain('calling the card gateway');
    expect(p.text).toContain('first &lt;b&gt;try&lt;/b&gt;');
    expect(p.text).toMatch(/#2 .* info second \{&quot;n&quot;:2\}/);
  });

  it('shows payloads and results only with showPayloads', async () => {
    const s = new Session(createDashboard({ db: db.current.pool, showPayloads: true }));
    const done = await s.get(`/jobs/${ids.completed[0]}`);
    expect(done.text).toContain('msg-for-user0@example.com');
    expect(done.text).toContain('user0@example.com');
  });

  it('dead letters, schedules, workers and the audit log render', async () => {
    const dl = await admin.get('/dead-letters?queue=mail');
    expect(dl.status).toBe(200);
    for (const id of ids.dead) expect(dl.text).toContain(`/jobs/${id}"`);
    expect(dl.text).toContain('Error: card declined');
    const sched = await admin.get('/schedules');
    expect(sched.text).toContain('nightly-report');
    expect(sched.text).toContain('Europe/Paris');
    expect(sched.text).toContain('0 2 * * *');
    const workers = await admin.get('/workers');
    expect(workers.text).toContain('w-test-1');
    expect(workers.text).toContain('host-a');
    expect(workers.text).toMatch(/1 \/ 10/);
    expect(workers.text).toContain('b-leader');
    expect((await admin.get('/audit')).status).toBe(200);
  });

  it('answers bad ids and filters with 400 and unknown ones with 404', async () => {
    expect((await admin.get('/jobs/abc')).status).toBe(400);
    expect((await admin.get('/jobs/99999999')).status).toBe(404);
    expect((await admin.get('/queues/nope')).status).toBe(404);
    expect((await admin.get('/queues/bad%20name')).status).toBe(400);
    const badState = await admin.get('/queues/mail?state=exploded');
    expect(badState.status).toBe(400);
    expect(badState.text).toContain('state must be one of');
    expect((await admin.get('/queues/mail?from=yesterday')).status).toBe(400);
    expect((await admin.get('/queues/mail?before=x')).status).toBe(400);
    expect((await admin.get('/dead-letters?since=soon')).status).toBe(400);
    expect((await admin.get('/dead-letters?before=1')).status).toBe(400);
    expect((await admin.get('/audit?before=-1')).status).toBe(400);
    expect((await admin.get('/no-such-page')).status).toBe(404);
  });

  it('serves CSS and JS as files under a strict CSP, with no inline script or style', async () => {
    const p = await admin.get('/');
    const csp = p.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(p.headers.get('x-frame-options')).toBe('DENY');
    expect(p.text).not.toMatch(/<script>|<script [^>]*>[^<]|<style|style="| on[a-z]+="/);
    const css = await admin.get('/assets/app.css');
    expect(css.headers.get('content-type')).toMatch(/text\/css/);
    const js = await admin.get('/assets/app.js');
    expect(js.headers.get('content-type')).toMatch(/javascript/);
  });
});

describe('actions', () => {
  it('retry, cancel and replay one job, each recorded in sluice.audit', async () => {
    await admin.get('/');
    const r = await admin.post(`/jobs/${ids.scheduled}/retry`, { back: `/jobs/${ids.scheduled}` });
    expect(r.status).toBe(303);
    expect(r.headers.get('location')).toBe(`/jobs/${ids.scheduled}`);
    const after = await admin.get(`/jobs/${ids.scheduled}`);
    expect(after.text).toContain('will run now');
    const { rows } = await db.current.pool.query(
      `SELECT run_at <= now() AS due FROM sluice.job WHERE id = $1`,
      [ids.scheduled],
    );
    expect(rows[0]).toEqual({ due: true });
    expect(await auditRows('job.retry')).toEqual([
      { actor: 'local', action: 'job.retry', target: ids.scheduled, filter: null, count: 1 },
    ]);

    expect((await admin.post(`/jobs/${ids.pending}/cancel`)).status).toBe(303);
    expect(await stateOf(ids.pending)).toBe('cancelled');
    expect((await auditRows('job.cancel'))[0]).toMatchObject({ target: ids.pending, count: 1 });

    expect((await admin.post(`/jobs/${ids.dead[2]}/replay`)).status).toBe(303);
    expect(await stateOf(ids.dead[2]!)).toBe('pending');
    expect((await auditRows('dead_letter.replay'))[0]).toMatchObject({
      target: ids.dead[2],
      count: 1,
    });
  });

  it('an action that finds nothing to do says so and is recorded with count 0', async () => {
    await admin.post(`/jobs/${ids.completed[0]}/cancel`, { back: '/' });
    const p = await admin.get('/');
    expect(p.text).toContain('already finished');
    expect((await auditRows('job.cancel')).at(-1)).toMatchObject({
      target: ids.completed[0],
      count: 0,
    });
  });

  it('pauses, resumes and changes the limits of a queue', async () => {
    await admin.post('/queues/reports/pause');
    const { rows } = await db.current.pool.query(
      `SELECT is_paused FROM sluice.queue WHERE name = 'reports'`,
    );
    expect(rows[0]).toEqual({ is_paused: true });
    await admin.post('/queues/reports/resume');
    await admin.post('/queues/reports/limits', {
      concurrency_limit: '3',
      rate_limit: '100',
      rate_window_ms: '60000',
      group_concurrency_limit: '',
      group_rate_limit: '',
    });
    const q = await db.current.pool.query(
      `SELECT is_paused, concurrency_limit, rate_limit, rate_window_ms FROM sluice.queue WHERE name = 'reports'`,
    );
    expect(q.rows[0]).toEqual({
      is_paused: false,
      concurrency_limit: 3,
      rate_limit: 100,
      rate_window_ms: 60000,
    });
    expect((await auditRows('queue.update_limits'))[0]).toMatchObject({
      target: 'reports',
      filter: { concurrencyLimit: 3, rateLimit: 100, rateWindowMs: 60000 },
    });
    expect(await auditRows('queue.pause')).toHaveLength(1);
    expect(await auditRows('queue.resume')).toHaveLength(1);
    const bad = await admin.post('/queues/reports/limits', { concurrency_limit: 'lots' });
    expect(bad.status).toBe(400);
    expect((await admin.post('/queues/nope/pause')).status).toBe(404);
  });

  it('bulk: run selected jobs now and cancel selected jobs', async () => {
    await admin.post('/jobs/bulk', { action: 'cancel', id: [ids.keyed, ids.running] });
    expect(await stateOf(ids.keyed)).toBe('cancelled');
    expect((await auditRows('job.cancel_selected'))[0]).toMatchObject({
      filter: { ids: [ids.keyed, ids.running] },
    });
    expect((await admin.post('/jobs/bulk', { action: 'explode', id: ids.keyed })).status).toBe(400);
    expect((await admin.post('/jobs/bulk', { action: 'retry' })).status).toBe(400);
  });

  it('bulk by filter: run or cancel every job matching a queue tab and filter', async () => {
    await db.current.pool.query(
      `SELECT sluice.enqueue(t, '{}', 'reports', now() + interval '1 day')
       FROM unnest(ARRAY['bulk-a','bulk-a','bulk-a','bulk-b']) t`,
    );
    const page = await admin.get('/queues/reports?state=pending&task=bulk-a');
    expect(page.text).toContain('Cancel all matching');
    expect(page.text).toContain('name="filter_task" value="bulk-a"');
    const filter = { filter_queue: 'reports', filter_state: 'pending', filter_task: 'bulk-a' };
    expect((await admin.post('/jobs/matching', { action: 'retry', ...filter })).status).toBe(303);
    const due = await db.current.pool.query(
      `SELECT task, bool_and(run_at <= now()) AS due FROM sluice.job WHERE task LIKE 'bulk-%'
       GROUP BY task ORDER BY task`,
    );
    expect(due.rows).toEqual([
      { task: 'bulk-a', due: true },
      { task: 'bulk-b', due: false },
    ]);
    await admin.post('/jobs/matching', { action: 'cancel', ...filter });
    const left = await db.current.pool.query(
      `SELECT task FROM sluice.job WHERE task LIKE 'bulk-%'`,
    );
    expect(left.rows).toEqual([{ task: 'bulk-b' }]);
    expect((await auditRows('job.cancel_matching'))[0]).toMatchObject({
      filter: { queue: 'reports', state: 'pending', task: 'bulk-a' },
      count: 3,
    });
    expect((await auditRows('job.retry_matching'))[0]).toMatchObject({ count: 3 });
    const allTab = await admin.post('/jobs/matching', {
      action: 'cancel',
      filter_queue: 'reports',
    });
    expect(allTab.status).toBe(400);
    expect(allTab.text).toContain('needs the pending or running or blocked tab');
    const retryRunning = await admin.post('/jobs/matching', {
      action: 'retry',
      filter_queue: 'reports',
      filter_state: 'running',
    });
    expect(retryRunning.status).toBe(400);
    expect((await admin.get('/queues/reports')).text).not.toContain('Cancel all matching');
  });

  it('dead letters: replay selected, replay all matching, purge all matching', async () => {
    const more = await db.current.pool.query<{ id: string }>(
      `INSERT INTO sluice.dead_letter (id, queue, task, payload, priority, run_at, attempt,
         max_attempts, reason, created_at)
       SELECT nextval('sluice.job_id_seq'), 'default', t, '{}', 0, now(), 1, 1, 'permanent', now()
       FROM unnest(ARRAY['a','a','b','b','c']) t RETURNING id`,
    );
    const [a1] = more.rows.map((r) => r.id);
    await admin.post('/dead-letters/replay', { id: [a1!] });
    expect(await stateOf(a1!)).toBe('pending');
    await admin.post('/dead-letters/replay-matching', {
      filter_queue: 'default',
      filter_task: 'a',
    });
    expect((await auditRows('dead_letter.replay_matching'))[0]).toMatchObject({
      filter: { queue: 'default', task: 'a', since: null },
      count: 1,
    });
    await admin.post('/dead-letters/purge-matching', { filter_queue: 'default', filter_task: 'b' });
    expect((await auditRows('dead_letter.purge_matching'))[0]).toMatchObject({ count: 2 });
    const left = await db.current.pool.query(
      `SELECT task FROM sluice.dead_letter WHERE queue = 'default' ORDER BY task`,
    );
    expect(left.rows).toEqual([{ task: 'c' }]);
  });

  it('schedules: disable, enable, run now', async () => {
    await admin.post('/schedules/nightly-report/disable');
    const off = await db.current.pool.query(`SELECT is_enabled FROM sluice.schedule`);
    expect(off.rows[0]).toEqual({ is_enabled: false });
    await admin.post('/schedules/nightly-report/enable');
    await admin.post('/schedules/nightly-report/run');
    const jobs = await db.current.pool.query(
      `SELECT count(*)::int AS n FROM sluice.job WHERE task = 'send-report'`,
    );
    expect(jobs.rows[0]).toEqual({ n: 1 });
    expect(await auditRows('schedule.run_now')).toHaveLength(1);
    expect((await admin.post('/schedules/nope/run')).status).toBe(404);
    const audit = await admin.get('/audit');
    for (const a of ['schedule.run_now', 'schedule.enable', 'schedule.disable', 'job.retry']) {
      expect(audit.text).toContain(a);
    }
  });
});

describe('flows on the job page', () => {
  it('a flow member shows the tree of what waits for what, with links and states', async () => {
    await db.current.pool.query(`SELECT sluice.create_queue('flowdash')`);
    const { rows } = await db.current.pool.query<{ ref: string; id: string }>(
      `SELECT ref, id::text FROM sluice.enqueue_flow($1::jsonb)`,
      [
        JSON.stringify([
          { ref: 'charge', task: 'charge', queue: 'flowdash' },
          { ref: 'reserve', task: 'reserve', queue: 'flowdash' },
          {
            ref: 'ship',
            task: 'ship',
            queue: 'flowdash',
            depends_on: [{ ref: 'charge' }, { ref: 'reserve' }],
          },
        ]),
      ],
    );
    const id = Object.fromEntries(rows.map((r) => [r.ref, r.id]));
    const p = await admin.get(`/jobs/${id.charge}`);
    expect(p.status).toBe(200);
    expect(p.text).toContain(`Flow <span class="mono">${id.charge}</span> (3 jobs)`);
    const tree = p.text.slice(p.text.indexOf('class="flow-tree"'));
    // ship (nobody waits for it) first, then what it waits for, each linked.
    const order = [...tree.matchAll(/href="\/jobs\/(\d+)"/g)].map((m) => m[1]);
    expect(order.slice(0, 3)).toEqual([id.ship, id.charge, id.reserve]);
    expect(tree).toMatch(
      /ship <span class="muted">\[flowdash\]<\/span> <span class="badge b-blocked">blocked/,
    );
    expect(tree).toContain('← this job');
    const plain = await admin.get(`/jobs/${ids.keyed}`);
    expect(plain.text).not.toContain('flow-tree');
  });
});
