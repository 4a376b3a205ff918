// Workers: live processes, which one leads, last heartbeat, running counts.
import { listWorkers } from 'sluice/admin';
import { badge, duration, utc, when } from '../format.js';
import { html, type SafeHtml } from '../html.js';
import type { PageContext } from '../page-context.js';

// A worker heartbeats every few seconds; one silent this long is probably gone (the rescuer
// decides with its own setting, this is only the badge).
const STALE_AFTER_SECONDS = 60;

export async function workersPage(ctx: PageContext): Promise<{ title: string; body: SafeHtml }> {
  const workers = await listWorkers({ db: ctx.db, schema: ctx.schema });
  const leaders = workers.filter((w) => w.leads.length > 0);
  const rows = workers.map(
    (w) =>
      html`<tr>
        <td class="mono">${w.id}</td>
        <td>${w.host}</td>
        <td class="num">${w.pid}</td>
        <td class="wrap">${w.queues.join(', ')}</td>
        <td class="num">${w.running} / ${w.concurrency}</td>
        <td>
          ${w.heartbeatAgeSeconds > STALE_AFTER_SECONDS ? badge('stale') : badge('live')}
          ${w.leads.length ? badge('leader') : ''}
        </td>
        <td title="${utc(w.heartbeatAt)}">${duration(w.heartbeatAgeSeconds)} ago</td>
        <td>${when(w.startedAt)}</td>
        <td class="muted">${w.leads.join(', ')}</td>
      </tr>`,
  );
  const body = html`<h1>Workers</h1>
    <p class="muted">
      ${
        leaders.length
          ? html`Leader: <span class="mono">${leaders.map((w) => w.id).join(', ')}</span>`
          : 'No current leader: maintenance and cron run on the leader, one is elected when a worker runs.'
      }
    </p>
    <div class="panel">
      <table>
        <thead>
          <tr>
            <th>Worker</th>
            <th>Host</th>
            <th class="num">Pid</th>
            <th>Queues</th>
            <th class="num">Running</th>
            <th>State</th>
            <th>Heartbeat</th>
            <th>Started</th>
            <th>Leases</th>
          </tr>
        </thead>
        <tbody>
          ${
            rows.length
              ? rows
              : html`<tr>
                  <td colspan="9" class="empty">No workers are running.</td>
                </tr>`
          }
        </tbody>
      </table>
    </div>`;
  return { title: 'Workers', body };
}
