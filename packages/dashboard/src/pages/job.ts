// One job: state, timings, progress, errors per attempt with their stacks, and the payload and
// result only when the dashboard was told to show them.
import { getDeadLetter, getJob, getJobLogs, type JobLogLine } from 'sluice/admin';
import { actionButton, badge, between, href, prettyJson, utc, when } from '../format.js';
import { html, type SafeHtml } from '../html.js';
import { HttpError, type PageContext } from '../page-context.js';
import { parseId } from '../params.js';
import { flowSection } from './flow-tree.js';

interface AttemptError {
  attempt?: number;
  name?: string;
  message?: string;
  stack?: string;
  at?: string;
}

function asError(e: unknown): AttemptError {
  return e !== null && typeof e === 'object' ? e : { message: String(e) };
}

function hidden(what: string): SafeHtml {
  return html`<div class="empty">
    ${what} hidden: start the dashboard with <span class="mono">showPayloads: true</span> (or
    <span class="mono">--show-payloads</span>) to see it.
  </div>`;
}

export async function jobPage(
  ctx: PageContext,
  rawId: string,
): Promise<{ title: string; body: SafeHtml }> {
  const id = parseId(rawId);
  const job = await getJob({ db: ctx.db, schema: ctx.schema, id });
  if (!job) throw new HttpError(404, `no job ${id}`);
  const dead =
    job.state === 'dead' ? await getDeadLetter({ db: ctx.db, schema: ctx.schema, id }) : undefined;
  const errors = job.errors.map(asError);
  const flow = await flowSection(ctx, id, job.flowId);
  const log = await getJobLogs({ db: ctx.db, schema: ctx.schema, id });
  const isLive = job.state === 'pending' || job.state === 'running' || job.state === 'blocked';
  const actions = html`<span class="actions">
    ${job.state === 'pending' ? actionButton(ctx, `/jobs/${id}/retry`, 'Run now', { kind: 'primary' }) : ''}
    ${
      isLive
        ? actionButton(ctx, `/jobs/${id}/cancel`, 'Cancel', {
            kind: 'danger',
            confirm: `Cancel job ${id}?`,
          })
        : ''
    }
    ${job.state === 'dead' ? actionButton(ctx, `/jobs/${id}/replay`, 'Replay', { kind: 'primary' }) : ''}
  </span>`;
  const timings: [string, SafeHtml | string][] = [
    ['Created', html`${utc(job.createdAt)} <span class="muted">(${when(job.createdAt)})</span>`],
    ['Run at', utc(job.runAt)],
    ['Started', utc(job.startedAt)],
    ['Finished', utc(job.finishedAt ?? dead?.failedAt)],
    ['Waited', between(job.runAt, job.startedAt)],
    ['Ran', between(job.startedAt, job.finishedAt ?? dead?.failedAt)],
  ];
  const facts: [string, SafeHtml | string][] = [
    [
      'Queue',
      html`<a href="${href(ctx, `/queues/${encodeURIComponent(job.queue)}`)}">${job.queue}</a>`,
    ],
    ['Task', job.task],
    ['State', badge(job.state)],
    ['Attempt', `${job.attempt} of ${job.maxAttempts}`],
    ['Priority', String(job.priority)],
    ['Unique key', job.uniqueKey ?? '-'],
    ['Group key', job.groupKey ?? '-'],
    ['Worker', job.workerId ?? '-'],
    ...(dead ? ([['Dead because', dead.reason]] as [string, string][]) : []),
  ];
  const kv = (list: [string, SafeHtml | string][]) =>
    html`<dl class="kv">
      ${list.map(
        ([k, v]) =>
          html`<dt>${k}</dt>
            <dd>${v}</dd>`,
      )}
    </dl>`;
  const errorList = errors.length
    ? [...errors].reverse().map(
        // The latest attempt's stack is open, earlier ones a click away.
        (e, i) =>
          html`<details class="err" ${i === 0 ? 'open' : ''}>
            <summary>
              <strong>attempt ${e.attempt ?? '?'}</strong> ·
              <span class="mono">${e.name ?? 'Error'}</span>: ${e.message ?? ''}
              <span class="muted">${e.at ? utc(e.at) : ''}</span>
            </summary>
            ${e.stack ? html`<pre>${e.stack}</pre>` : html`<p class="muted">no stack</p>`}
          </details>`,
      )
    : html`<div class="empty">No failed attempts.</div>`;
  const body = html`<h1>Job <span class="mono">${job.id}</span> ${badge(job.state)} ${actions}</h1>
    <div class="grid2">
      <div class="panel pad">
        <h2>Job</h2>
        ${kv(facts)}
      </div>
      <div class="panel pad">
        <h2>Timings</h2>
        ${kv(timings)}
      </div>
    </div>
    ${flow}
    <h2>Progress</h2>
    <div class="panel">
      ${
        job.progress == null
          ? html`<div class="empty">No progress reported.</div>`
          : html`<pre>${prettyJson(job.progress)}</pre>`
      }
    </div>
    <h2>Log (${log.length})</h2>
    <div class="panel">${logList(log)}</div>
    <h2>Errors (${errors.length})</h2>
    <div class="panel">${errorList}</div>
    <div class="grid2">
      <div>
        <h2>Payload</h2>
        <div class="panel">
          ${ctx.showPayloads ? html`<pre>${prettyJson(job.payload)}</pre>` : hidden('Payload')}
        </div>
      </div>
      <div>
        <h2>Result</h2>
        <div class="panel">
          ${
            ctx.showPayloads
              ? job.result == null
                ? html`<div class="empty">No result.</div>`
                : html`<pre>${prettyJson(job.result)}</pre>`
              : hidden('Result')
          }
        </div>
      </div>
    </div>`;
  return { title: `Job ${job.id}`, body };
}

/** The job's ctx.log lines, one per row: attempt, time, level, message, fields. */
function logList(log: JobLogLine[]): SafeHtml {
  if (log.length === 0) return html`<div class="empty">No log lines.</div>`;
  const line = (l: JobLogLine) => {
    const fields = l.fields ? ` ${JSON.stringify(l.fields)}` : '';
    return `#${l.attempt} ${utc(l.at)} ${l.level} ${l.message}${fields}`;
  };
  return html`<pre class="job-log">${log.map(line).join('\n')}</pre>`;
}
