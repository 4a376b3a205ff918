// A per-minute bar chart drawn as inline SVG on the server: completed bars up, dead below them
// in red, one bar per minute, scaled to the busiest minute. Presentation attributes only (no
// style attributes), so the strict CSP holds.
import { html, raw, type SafeHtml } from './html.js';

/** One bar: the counts of one minute. */
export interface Bar {
  completed: number;
  dead: number;
}

/** A `width`×`height` SVG of `bars` (oldest first) with a title per bar. */
export function barChart(bars: Bar[], width = 180, height = 28): SafeHtml {
  const max = Math.max(1, ...bars.map((b) => b.completed + b.dead));
  const step = width / Math.max(1, bars.length);
  const barWidth = Math.max(1, step - 1);
  const rects = bars.map((b, i) => {
    const x = (i * step).toFixed(1);
    const hc = (b.completed / max) * (height - 1);
    // A dead job stays visible beside a busy minute of completions: at least 2 px.
    const hd = b.dead > 0 ? Math.max(2, (b.dead / max) * (height - 1)) : 0;
    const minutesAgo = bars.length - 1 - i;
    const title = `${minutesAgo === 0 ? 'this minute' : `${minutesAgo} min ago`}: ${b.completed} completed, ${b.dead} dead`;
    return raw(
      `<g><title>${title}</title>` +
        (hc > 0
          ? `<rect class="c" x="${x}" y="${(height - 1 - hc).toFixed(1)}" width="${barWidth.toFixed(1)}" height="${hc.toFixed(1)}"/>`
          : '') +
        (hd > 0
          ? `<rect class="d" x="${x}" y="${(height - 1 - hc - hd).toFixed(1)}" width="${barWidth.toFixed(1)}" height="${hd.toFixed(1)}"/>`
          : '') +
        `</g>`,
    );
  });
  return html`<svg
    class="spark"
    width="${width}"
    height="${height}"
    viewBox="0 0 ${width} ${height}"
    role="img"
    aria-label="completed and dead jobs per minute, last hour"
  >
    <line class="base" x1="0" y1="${height - 0.5}" x2="${width}" y2="${height - 0.5}" />
    ${rects}
  </svg>`;
}
