// One queue: its counts and controls (pause, limits), and its jobs newest first by state with
// filters and keyset pagination ("older" carries the last id shown, never an offset).
import { getQueue, listJobs, listQueueCounts, type ListJobsFilter } from 'sluice/admin';
import type { JobState } from 'sluice';
import {
  actionButton,
  badge,
  bulkPanel,
  count,
  duration,
  formFields,
  href,
  when,
} from '../format.js';
import { html, type SafeHtml } from '../html.js';
import { HttpError, type PageContext } from '../page-context.js';
import { optional, parseId, parseKey, parseName, parseTime, toInputTime } from '../params.js';
import { limitsText } from './overview.js';

export const PAGE_SIZE = 50;
/** Jobs one "all matching" action changes at most (one transaction, its statement timeout). */
export const MAX_MATCHING = 1000;
const STATES: JobState[] = ['pending', 'running', 'blocked', 'completed', 'cancelled', 'dead'];

/** The job filters of a queue page's query string. */
export function jobFilter(params: URLSearchParams): ListJobsFilter {
  const state = optional(params, 'state');
  if (state !== undefined && !STATES.includes(state as JobState)) {
    throw new HttpError(400, `state must be one of ${STATES.join(', ')}`);
  }
  const get = (k: string) => optional(params, k);
  const task = get('task');
  const id = get('id');
  const uniqueKey = get('unique_key');
  const groupKey = get('group_key');
  const from = get('from');
  const to = get('to');
  const before = get('before');
  return {
    ...(state && { state: state as JobState }),
    ...(task && { task: parseName(task, 'task') }),
    ...(id && { id: parseId(id) }),
    ...(uniqueKey && { uniqueKey: parseKey(uniqueKey, 'unique key') }),
    ...(groupKey && { groupKey: parseKey(groupKey, 'group key') }),
    ...(from && { createdAfter: parseTime(from, 'from') }),
    ...(to && { createdBefore: parseTime(to, 'to') }),
    ...(before && { beforeId: parseId(before, 'before') }),
  };
}

function filterQuery(f: ListJobsFilter): Record<string, string | undefined> {
  return {
    state: f.state,
    task: f.task,
    id: f.id,
    unique_key: f.uniqueKey,
    group_key: f.groupKey,
    from: f.createdAfter && toInputTime(f.createdAfter),
    to: f.createdBefore && toInputTime(f.createdBefore),
  };
}

// Bulk by filter walks live rows only: it is offered on the tabs whose jobs it can change.
function matchingButtons(ctx: PageContext, filter: ListJobsFilter): SafeHtml {
  const cancel = html`<button
    name="action"
    value="cancel"
    class="danger"
    formaction="${ctx.base}/jobs/matching"
    data-confirm="Cancel every job matching this filter (at most ${MAX_MATCHING})?"
  >
    Cancel all matching
  </button>`;
  const retry = html`<button
    name="action"
    value="retry"
    formaction="${ctx.base}/jobs/matching"
    data-confirm="Run every pending job matching this filter now (at most ${MAX_MATCHING})?"
  >
    Run all matching now
  </button>`;
  if (filter.state === 'pending') return html`<span class="actions">${retry} ${cancel}</span>`;
  if (filter.state === 'running' || filter.state === 'blocked') return cancel;
  return html``;
}

function limitsForm(
  ctx: PageContext,
  name: string,
  q: NonNullable<Awaited<ReturnType<typeof getQueue>>>,
) {
  if (!ctx.canAct) return html``;
  const field = (key: string, label: string, value: number | null) =>
    html`<label
      >${label}<input type="number" min="1" name="${key}" value="${value ?? ''}" placeholder="none"
    /></label>`;
  return html`<form
    class="filters"
    method="post"
    action="${ctx.base}/queues/${encodeURIComponent(name)}/limits"
  >
    ${formFields(ctx)} ${field('concurrency_limit', 'Concurrency', q.concurrencyLimit)}
    ${field('rate_limit', 'Rate limit', q.rateLimit)}
    ${field('rate_window_ms', 'Rate window (ms)', q.rateWindowMs)}
    ${field('group_concurrency_limit', 'Per-group concurrency', q.groupConcurrencyLimit)}
    ${field('group_rate_limit', 'Per-group rate', q.groupRateLimit)}
    <button class="primary">Save limits</button>
  </form>`;
}

export async function queuePage(
  ctx: PageContext,
  rawName: string,
): Promise<{ title: string; body: SafeHtml }> {
  const name = parseName(rawName, 'queue');
  const filter = jobFilter(ctx.url.searchParams);
  const target = { db: ctx.db, schema: ctx.schema };
  const q = await getQueue({ ...target, name });
  if (!q) throw new HttpError(404, `no queue named ${name}`);
  const [stats] = await listQueueCounts({ ...target, queue: name });
  const jobs = await listJobs({ ...target, ...filter, queue: name, limit: PAGE_SIZE + 1 });
  const hasMore = jobs.length > PAGE_SIZE;
  const shown = jobs.slice(0, PAGE_SIZE);
  const base = `/queues/${encodeURIComponent(name)}`;
  const query = filterQuery(filter);
  const tabs = [undefined, ...STATES].map(
    (s) =>
      html`<a
        class="${filter.state === s ? 'active' : ''}"
        href="${href(ctx, base, { ...query, state: s })}"
        >${s ?? 'all'}</a
      >`,
  );
  const cards: [string, string][] = stats
    ? [
        ['Ready', count(stats.ready)],
        ['Scheduled', count(stats.scheduled)],
        ['Running', count(stats.running)],
        ['Blocked', count(stats.blocked)],
        ['Dead', count(stats.dead)],
        ['Oldest ready', stats.ready > 0 ? duration(stats.oldestReadyAgeSeconds) : '-'],
      ]
    : [];
  const rows = shown.map(
    (j) =>
      html`<tr>
        ${ctx.canAct ? html`<td><input type="checkbox" name="id" value="${j.id}" /></td>` : ''}
        <td class="mono"><a href="${href(ctx, `/jobs/${j.id}`)}">${j.id}</a></td>
        <td>${j.task}</td>
        <td>${badge(j.state)}</td>
        <td class="num">${j.attempt}/${j.maxAttempts}</td>
        <td class="num">${j.priority}</td>
        <td>${when(j.createdAt)}</td>
        <td>${when(j.runAt)}</td>
        <td>${when(j.finishedAt)}</td>
      </tr>`,
  );
  const last = shown.at(-1);
  const body = html`<h1>
      ${name} ${badge(q.isPaused ? 'paused' : 'active')}
      <span class="actions">
        ${
          q.isPaused
            ? actionButton(ctx, `${base}/resume`, 'Resume', { kind: 'primary' })
            : actionButton(ctx, `${base}/pause`, 'Pause', { confirm: `Pause queue ${name}?` })
        }
      </span>
    </h1>
    <div class="cards">
      ${cards.map(
        ([l, n]) =>
          html`<div class="card">
            <div class="n">${n}</div>
            <div class="l">${l}</div>
          </div>`,
      )}
    </div>
    <div class="panel">
      <div class="toolbar"><span class="limits">Limits: ${limitsText(q)}</span></div>
      ${limitsForm(ctx, name, q)}
    </div>
    <div class="tabs">${tabs}</div>
    <div class="panel">
      <form class="filters" method="get" action="${ctx.base}${base}">
        ${filter.state ? html`<input type="hidden" name="state" value="${filter.state}" />` : ''}
        <label>Task<input name="task" value="${filter.task ?? ''}" /></label>
        <label>Job id<input name="id" value="${filter.id ?? ''}" inputmode="numeric" /></label>
        <label>Unique key<input name="unique_key" value="${filter.uniqueKey ?? ''}" /></label>
        <label>Group key<input name="group_key" value="${filter.groupKey ?? ''}" /></label>
        <label
          >Created from (UTC)<input type="datetime-local" name="from" value="${query.from ?? ''}"
        /></label>
        <label
          >Created before (UTC)<input type="datetime-local" name="to" value="${query.to ?? ''}"
        /></label>
        <button>Filter</button>
        <a href="${href(ctx, base)}">clear</a>
      </form>
    </div>
    ${bulkPanel(
      ctx,
      '/jobs/bulk',
      html`
        ${
          ctx.canAct
            ? html`<div class="toolbar">
                  <span class="muted">Selected jobs:</span>
                  <span class="actions">
                    <button name="action" value="retry">Run now</button>
                    <button
                      name="action"
                      value="cancel"
                      class="danger"
                      data-confirm="Cancel the selected jobs?"
                    >
                      Cancel
                    </button>
                  </span>
                  ${matchingButtons(ctx, filter)}
                </div>
                <input type="hidden" name="filter_queue" value="${name}" />
                ${Object.entries(query)
                  .filter(([, v]) => v)
                  .map(([k, v]) => html`<input type="hidden" name="filter_${k}" value="${v}" />`)}`
            : ''
        }
        <table>
          <thead>
            <tr>
              ${ctx.canAct ? html`<th><input type="checkbox" data-select-all aria-label="select all" /></th>` : ''}
              <th>Id</th>
              <th>Task</th>
              <th>State</th>
              <th class="num">Attempt</th>
              <th class="num">Priority</th>
              <th>Created</th>
              <th>Run at</th>
              <th>Finished</th>
            </tr>
          </thead>
          <tbody>
            ${
              rows.length
                ? rows
                : html`<tr>
                    <td colspan="9" class="empty">No jobs match.</td>
                  </tr>`
            }
          </tbody>
        </table>
        <div class="pager">
          ${filter.beforeId ? html`<a href="${href(ctx, base, query)}">← newest</a>` : html`<span></span>`}
          ${
            hasMore && last
              ? html`<a href="${href(ctx, base, { ...query, before: last.id })}">older →</a>`
              : ''
          }
        </div>
      `,
    )}`;
  return { title: name, body };
}
