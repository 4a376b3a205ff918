// Small formatting pieces shared by the pages.
import { html, type SafeHtml } from './html.js';
import { CSRF_FIELD } from './csrf.js';
import type { PageContext } from './page-context.js';

/** A state (or status word) as a coloured badge. */
export function badge(word: string): SafeHtml {
  return html`<span class="badge b-${word.replace(/[^a-z-]/g, '')}">${word}</span>`;
}

/** A time as a `<time>` the script turns into "3 min ago"; `-` when absent. */
export function when(value: Date | string | null | undefined): SafeHtml {
  if (value === null || value === undefined) return html`<span class="muted">-</span>`;
  const d = value instanceof Date ? value : new Date(value);
  const iso = d.toISOString();
  return html`<time datetime="${iso}" data-ago
    >${iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</time
  >`;
}

/** An absolute UTC time, `2026-01-31 12:00:00Z`. */
export function utc(value: Date | string | null | undefined): string {
  if (value === null || value === undefined) return '-';
  const d = value instanceof Date ? value : new Date(value);
  return d
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

/** Seconds as `45s`, `12m 5s`, `3h 2m`, `2d 4h`. */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** Milliseconds between two times, as a duration, or `-`. */
export function between(from: Date | null | undefined, to: Date | null | undefined): string {
  if (!from || !to) return '-';
  const ms = new Date(to).getTime() - new Date(from).getTime();
  return ms < 1000 ? `${ms} ms` : duration(ms / 1000);
}

/** A number with thin thousands separators. */
export function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** A link inside the dashboard; `query` values that are empty are left out. */
export function href(
  ctx: Pick<PageContext, 'base'>,
  path: string,
  query: Record<string, string | undefined> = {},
): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') q.set(k, v);
  const qs = q.toString();
  return `${ctx.base}${path}${qs ? `?${qs}` : ''}`;
}

/** The hidden fields of every POST form: the CSRF token and where to go back to. */
export function formFields(ctx: PageContext): SafeHtml {
  return html`<input type="hidden" name="${CSRF_FIELD}" value="${ctx.csrf}" /><input
      type="hidden"
      name="back"
      value="${ctx.url.pathname + ctx.url.search}"
    />`;
}

/** A one-button POST form (an action), or nothing for read-only users. */
export function actionButton(
  ctx: PageContext,
  path: string,
  label: string,
  options: { confirm?: string; kind?: 'primary' | 'danger' | 'small'; fields?: SafeHtml } = {},
): SafeHtml {
  if (!ctx.canAct) return html``;
  return html`<form method="post" action="${ctx.base}${path}">
    ${formFields(ctx)}${options.fields}
    <button class="${options.kind ?? ''}" data-confirm="${options.confirm ?? ''}">${label}</button>
  </form>`;
}

/** JSON for a `<pre>`, cut at `maxChars`. */
export function prettyJson(value: unknown, maxChars = 20_000): string {
  const text = JSON.stringify(value, null, 2) ?? 'null';
  return text.length > maxChars
    ? `${text.slice(0, maxChars)}\n… (${text.length} characters)`
    : text;
}

/** A panel that is a POST form for admins (bulk actions) and a plain panel for read-only users. */
export function bulkPanel(ctx: PageContext, path: string, inner: SafeHtml): SafeHtml {
  if (!ctx.canAct) return html`<div class="panel">${inner}</div>`;
  return html`<form class="panel" method="post" action="${ctx.base}${path}">
    ${formFields(ctx)}${inner}
  </form>`;
}
