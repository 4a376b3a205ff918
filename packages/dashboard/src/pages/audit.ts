// The audit log: every action taken here, newest first, paged by id.
import { listAuditLog } from 'sluice/admin';
import { href, utc, when } from '../format.js';
import { html, type SafeHtml } from '../html.js';
import type { PageContext } from '../page-context.js';
import { optional, parseId } from '../params.js';

const PAGE_SIZE = 100;

export async function auditPage(ctx: PageContext): Promise<{ title: string; body: SafeHtml }> {
  const before = optional(ctx.url.searchParams, 'before');
  const beforeId = before === undefined ? undefined : parseId(before, 'before');
  const entries = await listAuditLog({
    db: ctx.db,
    schema: ctx.schema,
    ...(beforeId && { beforeId }),
    limit: PAGE_SIZE + 1,
  });
  const shown = entries.slice(0, PAGE_SIZE);
  const last = shown.at(-1);
  const rows = shown.map(
    (e) =>
      html`<tr>
        <td title="${utc(e.at)}">${when(e.at)}</td>
        <td>${e.actor}</td>
        <td class="mono">${e.action}</td>
        <td class="mono">${e.target ?? ''}</td>
        <td class="wrap mono">${e.filter == null ? '' : JSON.stringify(e.filter)}</td>
        <td class="num">${e.count ?? ''}</td>
      </tr>`,
  );
  const body = html`<h1>Audit log</h1>
    <p class="muted">
      Every action taken in the dashboard, also in <span class="mono">${ctx.schema}.audit</span>.
    </p>
    <div class="panel">
      <table>
        <thead>
          <tr>
            <th>At</th>
            <th>Who</th>
            <th>Action</th>
            <th>Target</th>
            <th>Filter / settings</th>
            <th class="num">Count</th>
          </tr>
        </thead>
        <tbody>
          ${
            rows.length
              ? rows
              : html`<tr>
                  <td colspan="6" class="empty">No actions yet.</td>
                </tr>`
          }
        </tbody>
      </table>
      <div class="pager">
        ${beforeId ? html`<a href="${href(ctx, '/audit')}">← newest</a>` : html`<span></span>`}
        ${entries.length > PAGE_SIZE && last ? html`<a href="${href(ctx, '/audit', { before: last.id })}">older →</a>` : ''}
      </div>
    </div>`;
  return { title: 'Audit log', body };
}
