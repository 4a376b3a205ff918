// The flow a job belongs to, drawn on its page as the tree of what waits for what: each job
// nobody in the flow waits for, then what it waits for, nested. A job reached twice (a DAG) is
// drawn once and named after.
import { getFlow, type FlowInfo } from 'sluice/admin';
import { badge, href } from '../format.js';
import { html, type SafeHtml } from '../html.js';
import type { PageContext } from '../page-context.js';

/** Members read for one page; a bigger flow is cut there, and the page says so. */
const MEMBER_LIMIT = 500;

function tree(ctx: PageContext, flow: FlowInfo, currentId: string): SafeHtml {
  const byId = new Map(flow.members.map((m) => [m.id, m]));
  const waitedOn = new Set(flow.members.flatMap((m) => m.dependsOn));
  const drawn = new Set<string>();
  const node = (id: string): SafeHtml => {
    const m = byId.get(id);
    const link = html`<a class="mono" href="${href(ctx, `/jobs/${id}`)}">#${id}</a>`;
    if (!m) return html`<li>${link} <span class="muted">outside this flow</span></li>`;
    if (drawn.has(id)) return html`<li>${link} ${m.task} <span class="muted">(above)</span></li>`;
    drawn.add(id);
    const here = id === currentId ? html` <strong>← this job</strong>` : '';
    return html`<li>
      ${link} ${m.task} <span class="muted">[${m.queue}]</span> ${badge(m.state)}
      <span class="muted">attempt ${m.attempt}/${m.maxAttempts}</span>${here}
      ${
        m.dependsOn.length
          ? html`<ul>
              ${m.dependsOn.map(node)}
            </ul>`
          : ''
      }
    </li>`;
  };
  const roots = flow.members.filter((m) => !waitedOn.has(m.id));
  return html`<ul class="flow-tree">
    ${roots.map((r) => node(r.id))}
  </ul>`;
}

/** The job's flow section, or nothing for a job outside any flow. */
export async function flowSection(
  ctx: PageContext,
  jobId: string,
  flowId: string | null,
): Promise<SafeHtml | ''> {
  if (flowId === null) return '';
  const flow = await getFlow({ db: ctx.db, schema: ctx.schema, id: jobId, limit: MEMBER_LIMIT });
  if (!flow) return '';
  const cut =
    flow.members.length >= MEMBER_LIMIT
      ? html`<p class="muted">
          First ${MEMBER_LIMIT} members shown;
          <span class="mono">sluice flow show ${jobId} --json</span> lists all.
        </p>`
      : '';
  return html`<h2>Flow <span class="mono">${flow.flowId}</span> (${flow.members.length} jobs)</h2>
    <div class="panel pad">${tree(ctx, flow, jobId)}${cut}</div>`;
}
