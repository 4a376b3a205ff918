// Overview: every queue's counts, limits, oldest ready age and the last hour per minute.
import { countFinishedPerMinute, listQueueCounts, listQueues, type QueueInfo } from 'sluice/admin';
import { barChart, type Bar } from '../chart.js';
import { badge, count, duration, href } from '../format.js';
import { html, type SafeHtml } from '../html.js';
import type { PageContext } from '../page-context.js';

const MINUTES = 60;

/** The per-minute bars of each queue, oldest first, 60 of them. */
export async function lastHourBars(ctx: PageContext): Promise<Map<string, Bar[]>> {
  const rows = await countFinishedPerMinute({ db: ctx.db, schema: ctx.schema, minutes: MINUTES });
  const thisMinute = Math.floor(Date.now() / 60_000);
  const out = new Map<string, Bar[]>();
  for (const r of rows) {
    let bars = out.get(r.queue);
    if (!bars) {
      bars = Array.from({ length: MINUTES }, () => ({ completed: 0, dead: 0 }));
      out.set(r.queue, bars);
    }
    // The database clock decides the minute; the page's clock only places the bar.
    const index = MINUTES - 1 - (thisMinute - Math.floor(new Date(r.minute).getTime() / 60_000));
    const bar = bars[Math.min(MINUTES - 1, Math.max(0, index))];
    if (bar) {
      bar.completed += r.completed;
      bar.dead += r.dead;
    }
  }
  return out;
}

/** A rate window as `second`, `10 s`, `minute`, `5 min`, or `250 ms`. */
export function windowText(ms: number): string {
  if (ms === 1000) return 'second';
  if (ms === 60_000) return 'minute';
  if (ms === 3_600_000) return 'hour';
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
}

/** A queue's limits in a few words. */
export function limitsText(q: QueueInfo | undefined): string {
  if (!q) return '';
  const parts: string[] = [];
  if (q.concurrencyLimit !== null) parts.push(`${q.concurrencyLimit} at once`);
  if (q.rateLimit !== null) parts.push(`${q.rateLimit} per ${windowText(q.rateWindowMs)}`);
  if (q.groupConcurrencyLimit !== null) parts.push(`${q.groupConcurrencyLimit} at once per group`);
  if (q.groupRateLimit !== null) parts.push(`${q.groupRateLimit} per group per window`);
  return parts.length ? parts.join(', ') : 'no limits';
}

export async function overviewPage(ctx: PageContext): Promise<{ title: string; body: SafeHtml }> {
  const target = { db: ctx.db, schema: ctx.schema };
  // Live counts never read history; the last hour comes from the per-minute counts.
  const stats = await listQueueCounts(target);
  const queues = new Map((await listQueues(target)).map((q) => [q.name, q]));
  const bars = await lastHourBars(ctx);
  const empty = Array.from({ length: MINUTES }, () => ({ completed: 0, dead: 0 }));
  const total = (k: 'ready' | 'scheduled' | 'running' | 'blocked' | 'dead') =>
    stats.reduce((n, s) => n + s[k], 0);
  // The last 60 minutes, this one included.
  const doneOf = (queue: string) => (bars.get(queue) ?? empty).reduce((n, x) => n + x.completed, 0);
  const cards: [string, number][] = [
    ['Ready', total('ready')],
    ['Scheduled', total('scheduled')],
    ['Running', total('running')],
    ['Blocked', total('blocked')],
    ['Dead', total('dead')],
    ['Completed 1h', stats.reduce((n, s) => n + doneOf(s.queue), 0)],
  ];
  const rows = stats.map((s) => {
    const q = queues.get(s.queue);
    const b = bars.get(s.queue) ?? empty;
    const deadHour = b.reduce((n, x) => n + x.dead, 0);
    return html`<tr>
      <td><a href="${href(ctx, `/queues/${encodeURIComponent(s.queue)}`)}">${s.queue}</a></td>
      <td>${badge(s.isPaused ? 'paused' : 'active')}</td>
      <td class="num">${count(s.ready)}</td>
      <td class="num">${count(s.scheduled)}</td>
      <td class="num">${count(s.running)}</td>
      <td class="num">${count(s.blocked)}</td>
      <td class="num">
        ${
          s.dead > 0
            ? html`<a href="${href(ctx, '/dead-letters', { queue: s.queue })}">${count(s.dead)}</a>`
            : '0'
        }
      </td>
      <td class="num">${s.ready > 0 ? duration(s.oldestReadyAgeSeconds) : '-'}</td>
      <td class="limits">${limitsText(q)}</td>
      <td>${barChart(b)}</td>
      <td class="num">${count(doneOf(s.queue))}</td>
      <td class="num">${count(deadHour)}</td>
    </tr>`;
  });
  const body = html`<h1>
      Overview
      <span class="muted legend"
        ><label
          ><span><input type="checkbox" id="auto-refresh" /> auto-refresh</span></label
        ></span
      >
    </h1>
    <div class="cards">
      ${cards.map(
        ([l, n]) =>
          html`<div class="card">
            <div class="n">${count(n)}</div>
            <div class="l">${l}</div>
          </div>`,
      )}
    </div>
    <div class="panel">
      <table>
        <thead>
          <tr>
            <th>Queue</th>
            <th>State</th>
            <th class="num">Ready</th>
            <th class="num">Scheduled</th>
            <th class="num">Running</th>
            <th class="num">Blocked</th>
            <th class="num">Dead</th>
            <th class="num">Oldest ready</th>
            <th>Limits</th>
            <th>
              Last hour
              <span class="legend"
                ><span><i class="c"></i>completed</span><span><i class="d"></i>dead</span></span
              >
            </th>
            <th class="num">Done 1h</th>
            <th class="num">Dead 1h</th>
          </tr>
        </thead>
        <tbody>
          ${
            rows.length
              ? rows
              : html`<tr>
                  <td colspan="12" class="empty">No queues.</td>
                </tr>`
          }
        </tbody>
      </table>
    </div>`;
  return { title: 'Overview', body };
}
