// The page shell: head with the stylesheet and script files, the top navigation, a flash line.
import { html, type SafeHtml } from './html.js';
import type { PageContext } from './page-context.js';

const NAV: [path: string, label: string][] = [
  ['/', 'Overview'],
  ['/dead-letters', 'Dead letters'],
  ['/schedules', 'Schedules'],
  ['/workers', 'Workers'],
  ['/audit', 'Audit log'],
];

/** A flash message from the previous action. */
export interface Flash {
  isOk: boolean;
  text: string;
}

/** The cluster switcher of a clustered dashboard: this cluster, and each cluster's base path. */
export interface ClusterNav {
  current: string;
  clusters: { name: string; base: string }[];
}

function clusterSwitcher(nav: ClusterNav | undefined): SafeHtml | string {
  if (!nav) return '';
  const links = nav.clusters.map(
    (c) =>
      html`<a href="${c.base}/" class="${c.name === nav.current ? 'active' : ''}">${c.name}</a>`,
  );
  return html`<nav class="clusters" aria-label="Clusters">cluster ${links}</nav>`;
}

/** A whole page. `section` marks the active navigation item. */
export function layout(
  ctx: Pick<PageContext, 'base' | 'user' | 'canAct'> & { clusterNav?: ClusterNav | undefined },
  page: { title: string; section: string; body: SafeHtml; flash?: Flash | undefined },
): SafeHtml {
  const nav = NAV.map(
    ([path, label]) =>
      html`<a href="${ctx.base}${path}" class="${page.section === path ? 'active' : ''}"
        >${label}</a
      >`,
  );
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="same-origin" />
        <title>${page.title} · Sluice</title>
        <link rel="icon" href="${ctx.base}/assets/favicon.svg" type="image/svg+xml" />
        <link rel="stylesheet" href="${ctx.base}/assets/app.css" />
        <script src="${ctx.base}/assets/app.js" defer></script>
      </head>
      <body>
        <header class="top">
          <a class="brand" href="${ctx.base}/">sluice<span>.</span></a>
          <nav>${nav}</nav>
          ${clusterSwitcher(ctx.clusterNav)}
          <span class="who">${ctx.user}${ctx.canAct ? '' : ' · read-only'}</span>
        </header>
        <main>
          ${
            page.flash
              ? html`<div class="flash ${page.flash.isOk ? 'ok' : 'bad'}" role="status">
                  ${page.flash.text}
                </div>`
              : ''
          }
          ${page.body}
        </main>
      </body>
    </html>`;
}
