// Schedules: cron, zone, next and last run; enable, disable, run now.
import { listSchedules } from 'sluice/admin';
import { actionButton, badge, href, utc, when } from '../format.js';
import { html, type SafeHtml } from '../html.js';
import type { PageContext } from '../page-context.js';

export async function schedulesPage(ctx: PageContext): Promise<{ title: string; body: SafeHtml }> {
  const schedules = await listSchedules({ db: ctx.db, schema: ctx.schema });
  const rows = schedules.map((s) => {
    const path = `/schedules/${encodeURIComponent(s.name)}`;
    return html`<tr>
      <td>${s.name}</td>
      <td class="mono">${s.cron}</td>
      <td>${s.timezone}</td>
      <td>${s.task}</td>
      <td><a href="${href(ctx, `/queues/${encodeURIComponent(s.queue)}`)}">${s.queue}</a></td>
      <td>${badge(s.isEnabled ? 'enabled' : 'disabled')}</td>
      <td title="${utc(s.nextRunAt)}">${when(s.nextRunAt)}</td>
      <td title="${utc(s.lastRunAt)}">${when(s.lastRunAt)}</td>
      <td>
        <span class="actions">
          ${
            s.isEnabled
              ? actionButton(ctx, `${path}/disable`, 'Disable', { kind: 'small' })
              : actionButton(ctx, `${path}/enable`, 'Enable', { kind: 'small' })
          }
          ${actionButton(ctx, `${path}/run`, 'Run now', {
            kind: 'small',
            confirm: `Enqueue a job of ${s.name} now?`,
          })}
        </span>
      </td>
    </tr>`;
  });
  const body = html`<h1>Schedules</h1>
    <div class="panel">
      <table>
        <thead>
          <tr>
            <th>Name</th>
            <th>Cron</th>
            <th>Zone</th>
            <th>Task</th>
            <th>Queue</th>
            <th>State</th>
            <th>Next run</th>
            <th>Last run</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          ${
            rows.length
              ? rows
              : html`<tr>
                  <td colspan="9" class="empty">No schedules.</td>
                </tr>`
          }
        </tbody>
      </table>
    </div>`;
  return { title: 'Schedules', body };
}
