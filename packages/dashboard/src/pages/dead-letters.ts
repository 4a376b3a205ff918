// Dead letters: filter by queue, task and failure time; replay one, the selected ones or every
// one matching the filter; purge those matching the filter. Paged by (failed_at, id).
import { listDeadLetters, listQueues } from 'sluice/admin';
import { bulkPanel, count, href, when } from '../format.js';
import { html, type SafeHtml } from '../html.js';
import { HttpError, type PageContext } from '../page-context.js';
import { deadLetterFilter, deadLetterQuery, optional, parseId, toInputTime } from '../params.js';

const PAGE_SIZE = 50;

function parseCursor(value: string | undefined): { failedAt: Date; id: string } | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d{1,15})_(\d{1,19})$/.exec(value);
  if (!m?.[1] || !m[2]) throw new HttpError(400, 'before must be a page cursor from this page');
  return { failedAt: new Date(Number(m[1])), id: parseId(m[2]) };
}

function lastMessage(errors: unknown): string {
  const list = Array.isArray(errors) ? (errors as { name?: string; message?: string }[]) : [];
  const e = list.at(-1);
  if (!e) return '';
  const text = `${e.name ?? 'Error'}: ${e.message ?? ''}`;
  return text.length > 140 ? `${text.slice(0, 140)}…` : text;
}

export async function deadLettersPage(
  ctx: PageContext,
): Promise<{ title: string; body: SafeHtml }> {
  const filter = deadLetterFilter(ctx.url.searchParams);
  const before = parseCursor(optional(ctx.url.searchParams, 'before'));
  const target = { db: ctx.db, schema: ctx.schema };
  const queues = await listQueues(target);
  const letters = await listDeadLetters({
    ...target,
    ...filter,
    ...(before && { before }),
    limit: PAGE_SIZE + 1,
  });
  const shown = letters.slice(0, PAGE_SIZE);
  const last = shown.at(-1);
  const query = deadLetterQuery(filter);
  // failed_at has microseconds, a Date only milliseconds: the cursor is the next millisecond, so
  // rows that share the last row's millisecond may show again on the next page, but none is lost.
  const cursor = last && `${new Date(last.failedAt).getTime() + 1}_${last.id}`;
  const rows = shown.map(
    (d) =>
      html`<tr>
        ${ctx.canAct ? html`<td><input type="checkbox" name="id" value="${d.id}" /></td>` : ''}
        <td class="mono"><a href="${href(ctx, `/jobs/${d.id}`)}">${d.id}</a></td>
        <td>${d.queue}</td>
        <td>${d.task}</td>
        <td>${d.reason}</td>
        <td class="num">${d.attempt}/${d.maxAttempts}</td>
        <td>${when(d.failedAt)}</td>
        <td class="wrap mono">${lastMessage(d.errors)}</td>
        ${
          ctx.canAct
            ? html`<td>
                <button
                  class="small"
                  name="id"
                  value="${d.id}"
                  formaction="${ctx.base}/dead-letters/replay"
                >
                  Replay
                </button>
              </td>`
            : ''
        }
      </tr>`,
  );
  const hidden = Object.entries(query)
    .filter(([, v]) => v)
    .map(([k, v]) => html`<input type="hidden" name="filter_${k}" value="${v}" />`);
  const body = html`<h1>Dead letters</h1>
    <div class="panel">
      <form class="filters" method="get" action="${ctx.base}/dead-letters">
        <label
          >Queue<select name="queue">
            <option value="">every queue</option>
            ${queues.map(
              (q) =>
                html`<option value="${q.name}" ${q.name === filter.queue ? 'selected' : ''}>
                  ${q.name}
                </option>`,
            )}
          </select></label
        >
        <label>Task<input name="task" value="${filter.task ?? ''}" /></label>
        <label
          >Failed since (UTC)<input
            type="datetime-local"
            name="since"
            value="${filter.since ? toInputTime(filter.since) : ''}"
        /></label>
        <button>Filter</button>
        <a href="${href(ctx, '/dead-letters')}">clear</a>
      </form>
    </div>
    ${bulkPanel(
      ctx,
      '/dead-letters/replay',
      html`${hidden}
        ${
          ctx.canAct
            ? html`<div class="toolbar">
                <span class="actions">
                  <button class="primary">Replay selected</button>
                  <button
                    formaction="${ctx.base}/dead-letters/replay-matching"
                    data-confirm="Replay every dead letter matching this filter?"
                  >
                    Replay all matching
                  </button>
                </span>
                <button
                  class="danger"
                  formaction="${ctx.base}/dead-letters/purge-matching"
                  data-confirm="Delete every dead letter matching this filter for good?"
                >
                  Purge all matching
                </button>
              </div>`
            : ''
        }
        <table>
          <thead>
            <tr>
              ${ctx.canAct ? html`<th><input type="checkbox" data-select-all aria-label="select all" /></th>` : ''}
              <th>Id</th>
              <th>Queue</th>
              <th>Task</th>
              <th>Reason</th>
              <th class="num">Attempts</th>
              <th>Failed</th>
              <th>Last error</th>
              ${ctx.canAct ? html`<th></th>` : ''}
            </tr>
          </thead>
          <tbody>
            ${
              rows.length
                ? rows
                : html`<tr>
                    <td colspan="9" class="empty">No dead letters.</td>
                  </tr>`
            }
          </tbody>
        </table>
        <div class="pager">
          ${before ? html`<a href="${href(ctx, '/dead-letters', query)}">← newest</a>` : html`<span></span>`}
          ${
            letters.length > PAGE_SIZE && cursor
              ? html`<a href="${href(ctx, '/dead-letters', { ...query, before: cursor })}"
                  >older →</a
                >`
              : ''
          }
        </div>`,
    )}
    <p class="muted">
      Showing ${count(shown.length)} ${letters.length > PAGE_SIZE ? 'of more' : ''}.
    </p>`;
  return { title: 'Dead letters', body };
}
