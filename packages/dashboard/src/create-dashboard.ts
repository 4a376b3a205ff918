// The dashboard as one Fetch handler (Request → Response) on hono: pages, actions, assets, and
// the security around them (who may look or act, CSRF, CSP, loopback-only without auth).
import { randomBytes } from 'node:crypto';
import { Hono, type Context } from 'hono';
import type { Pool } from 'pg';
import { SluiceError } from 'sluice';
import { assertSchemaName, withTransaction } from 'sluice/admin';
import { createMetrics } from 'sluice/metrics';
import { ACTIONS } from './actions.js';
import { CSS, FAVICON, JS } from './assets.js';
import { toIdentity, type Authorize } from './auth.js';
import {
  CSRF_COOKIE,
  CSRF_FIELD,
  crossOriginReason,
  csrfToken,
  isValidToken,
  newNonce,
  readCookie,
} from './csrf.js';
import { html, type SafeHtml } from './html.js';
import { layout, type Flash } from './layout.js';
import { HttpError, type PageContext } from './page-context.js';
import { auditPage } from './pages/audit.js';
import { deadLettersPage } from './pages/dead-letters.js';
import { jobPage } from './pages/job.js';
import { overviewPage } from './pages/overview.js';
import { queuePage } from './pages/queue.js';
import { schedulesPage } from './pages/schedules.js';
import { workersPage } from './pages/workers.js';
import { isLoopbackHost } from './loopback.js';
import { clusteredDashboard, clusterMetrics, type ClusterNav } from './clusters.js';

/** Options of {@link createDashboard}. */
export interface DashboardOptions {
  /** A pg Pool on the database Sluice is installed in; each request borrows one connection. */
  db?: Pool;
  /**
   * Queues on several clusters (instead of `db`): one pool per cluster, by name. Each cluster's
   * pages live under `{basePath}/clusters/{name}/` with a switcher in the header; `{basePath}/`
   * opens the first, and `{basePath}/metrics` reads every cluster's gauges, labelled `cluster`.
   */
  clusters?: Record<string, Pool>;
  /** Schema Sluice was migrated into. Default `sluice`. */
  schema?: string;
  /** Where the dashboard is mounted, e.g. `/sluice`. Default `` (the root). */
  basePath?: string;
  /**
   * Who may do what. Without it every request is admin, but only when addressed to a loopback
   * host (`localhost`, `127.0.0.1`, `[::1]`); any other Host gets 403, which also defeats DNS
   * rebinding. See {@link basicAuth}, {@link bearerToken}.
   */
  authorize?: Authorize;
  /** No actions for anybody. Default false. */
  readOnly?: boolean;
  /** Show job payloads and results. Default false: they are hidden. */
  showPayloads?: boolean;
  /** Statement timeout of each page's reads. Default 3000 ms. */
  statementTimeoutMs?: number;
  /** Statement timeout of actions (bulk replays and purges take longer). Default 30000 ms. */
  actionTimeoutMs?: number;
  /**
   * Signs CSRF tokens. Default: random per process, so tokens of another process (or of a
   * restarted one) are refused; give several processes behind one balancer the same secret.
   */
  secret?: string | Buffer;
  /** Origins besides the request's own that may post (e.g. behind a rewriting proxy). */
  trustedOrigins?: string[];
  /**
   * Serve Prometheus queue gauges on GET `{basePath}/metrics` to any authorized identity
   * (read-only included). Default true; needs prom-client installed, else it answers 501.
   */
  metrics?: boolean;
}

/** A Fetch handler; `hasAuth` tells servers whether it may listen beyond loopback. */
export type DashboardHandler = ((request: Request) => Promise<Response>) & {
  readonly hasAuth: boolean;
  readonly basePath: string;
};

type Env = { Variables: { user: string; canAct: boolean; csrf: string; flash?: Flash } };

const FLASH_COOKIE = 'sluice_flash';
const MAX_FORM_BYTES = 64 * 1024;
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

function normaliseBase(basePath: string | undefined): string {
  const b = (basePath ?? '').replace(/\/+$/, '');
  if (b !== '' && !/^\/[A-Za-z0-9._~\-/]*$/.test(b)) {
    throw new TypeError(`basePath must look like /sluice, not ${JSON.stringify(basePath)}`);
  }
  return b;
}

function cookie(name: string, value: string, base: string, request: Request, maxAge?: number) {
  const isSecure = new URL(request.url).protocol === 'https:';
  return [
    `${name}=${value}`,
    `Path=${base || '/'}`,
    'HttpOnly',
    'SameSite=Strict',
    ...(isSecure ? ['Secure'] : []),
    ...(maxAge !== undefined ? [`Max-Age=${maxAge}`] : []),
  ].join('; ');
}

function errorStatus(err: unknown): { status: 400 | 403 | 404 | 405 | 503 | 500; message: string } {
  if (err instanceof HttpError) return { status: err.status, message: err.message };
  if (
    err instanceof SluiceError &&
    (err.code === 'INVALID_NAME' || err.code === 'INVALID_OPTIONS')
  ) {
    return { status: 400, message: err.message };
  }
  if ((err as { code?: unknown })?.code === '57014') {
    return {
      status: 503,
      message: 'The database took too long for this page (statement timeout); narrow the filter.',
    };
  }
  return { status: 500, message: 'Something went wrong; the server log has the error.' };
}

/**
 * The dashboard as a Fetch handler: mount it in any framework that speaks Request/Response (or
 * through `nodeListener` in node:http and Express).
 * @example const dashboard = createDashboard({ db: pool, basePath: '/sluice', authorize: basicAuth({ username: 'ops', password }) });
 */
export function createDashboard(options: DashboardOptions): DashboardHandler {
  if (options?.clusters !== undefined) {
    if (options.db !== undefined) throw new TypeError('createDashboard: give db or clusters');
    return clusteredDashboard(options, normaliseBase(options.basePath), buildDashboard);
  }
  return buildDashboard(options, {});
}

/** What a cluster's dashboard inside a clustered one knows beyond its options. */
export interface ClusterSide {
  /** The switcher: this cluster and every cluster's base path. */
  nav?: ClusterNav;
  /** Where /metrics reads its gauges: every cluster (labelled), not only this one. */
  metricsPools?: Record<string, Pool>;
}

function buildDashboard(options: DashboardOptions, side: ClusterSide): DashboardHandler {
  if (!options?.db || typeof (options.db as { connect?: unknown }).connect !== 'function') {
    throw new TypeError('createDashboard: db must be a pg Pool (or give clusters)');
  }
  const schema = assertSchemaName(options.schema ?? 'sluice');
  const base = normaliseBase(options.basePath);
  const secret =
    options.secret === undefined ? randomBytes(32) : Buffer.from(options.secret as string);
  const nav = side.nav;
  const trusted = options.trustedOrigins ?? [];
  const readTimeout = options.statementTimeoutMs ?? 3000;
  const actionTimeout = options.actionTimeoutMs ?? 30_000;
  const pool = options.db;
  // strict: false, so that `/sluice` and `/sluice/` are both the overview.
  const app = new Hono<Env>({ strict: false });
  const routes = base === '' ? app : app.basePath(base);

  const respondError = (c: Context<Env>, err: unknown) => {
    const { status, message } = errorStatus(err);
    if (status === 500) console.error('sluice dashboard:', err);
    const body = layout(
      { base, user: c.get('user') ?? '', canAct: false, clusterNav: nav },
      {
        title: `${status}`,
        section: '',
        body: html`<h1>${status === 500 ? 'Error' : status}</h1>
          <div class="flash bad">${message}</div>
          <p><a href="${base}/">Back to the overview</a></p>`,
      },
    );
    return c.html(body.text, status);
  };

  app.use('*', async (c, next) => {
    c.header('Content-Security-Policy', CSP);
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('X-Frame-Options', 'DENY');
    // same-origin, not no-referrer: with no-referrer, browsers post forms with `Origin: null`.
    c.header('Referrer-Policy', 'same-origin');
    c.header('Cache-Control', 'no-store');
    const request = c.req.raw;
    let role: 'admin' | 'read-only' | 'none';
    let user: string;
    if (options.authorize) {
      const identity = toIdentity(await options.authorize(request));
      role = identity.role;
      user = identity.user ?? 'anonymous';
      if (role === 'none') {
        if (options.authorize.challenge) c.header('WWW-Authenticate', options.authorize.challenge);
        return c.text('Authentication required', 401);
      }
    } else {
      if (!isLoopbackHost(new URL(request.url).hostname)) {
        return c.text(
          'This dashboard has no authorize option, so it answers only on a loopback address.',
          403,
        );
      }
      role = 'admin';
      user = 'local';
    }
    c.set('user', user);
    c.set('canAct', role === 'admin' && !options.readOnly);
    let nonce = readCookie(request, CSRF_COOKIE);
    if (!nonce || !/^[A-Za-z0-9_-]{16,64}$/.test(nonce)) {
      nonce = newNonce();
      c.header('Set-Cookie', cookie(CSRF_COOKIE, nonce, base, request), { append: true });
    }
    c.set('csrf', csrfToken(secret, nonce));
    const flash = readCookie(request, FLASH_COOKIE);
    if (flash && request.method === 'GET') {
      try {
        const text = Buffer.from(flash, 'base64url').toString('utf8');
        c.set('flash', { isOk: text.startsWith('ok:'), text: text.slice(3) });
      } catch {
        // An unreadable flash is dropped.
      }
      c.header('Set-Cookie', cookie(FLASH_COOKIE, '', base, request, 0), { append: true });
    }
    await next();
  });

  routes.get('/assets/app.css', (c) => {
    c.header('Cache-Control', 'private, max-age=3600');
    return c.body(CSS, 200, { 'Content-Type': 'text/css; charset=utf-8' });
  });
  routes.get('/assets/favicon.svg', (c) => {
    c.header('Cache-Control', 'private, max-age=86400');
    return c.body(FAVICON, 200, { 'Content-Type': 'image/svg+xml' });
  });
  routes.get('/assets/app.js', (c) => {
    c.header('Cache-Control', 'private, max-age=3600');
    return c.body(JS, 200, { 'Content-Type': 'text/javascript; charset=utf-8' });
  });

  if (options.metrics !== false) {
    routes.get('/metrics', async (c) => {
      try {
        // A registry per scrape: its gauges are read inside this request's read-only,
        // time-limited transaction, like any page.
        const onError = (err: unknown) => console.error('sluice dashboard: metrics:', err);
        const text = side.metricsPools
          ? await clusterMetrics(side.metricsPools, schema, readTimeout, onError)
          : await withTransaction(
              { pool, statementTimeoutMs: readTimeout, isReadOnly: true },
              async (db) => {
                const metrics = await createMetrics({ target: { db, schema }, onError });
                return { body: await metrics.text(), type: metrics.contentType };
              },
            );
        return c.body(text.body, 200, { 'Content-Type': text.type });
      } catch (err) {
        if (err instanceof SluiceError && /prom-client/.test(err.message)) {
          return c.text(err.message, 501);
        }
        return c.text(errorStatus(err).message, errorStatus(err).status);
      }
    });
  }

  const page = (
    section: string,
    render: (ctx: PageContext, c: Context<Env>) => Promise<{ title: string; body: SafeHtml }>,
  ) => {
    return async (c: Context<Env>) => {
      try {
        const url = new URL(c.req.url);
        const out = await withTransaction(
          { pool, statementTimeoutMs: readTimeout, isReadOnly: true },
          (db) =>
            render(
              {
                db,
                schema,
                base,
                url,
                canAct: c.get('canAct'),
                user: c.get('user'),
                csrf: c.get('csrf'),
                showPayloads: options.showPayloads === true,
              },
              c,
            ),
        );
        const ctx = { base, user: c.get('user'), canAct: c.get('canAct'), clusterNav: nav };
        return c.html(layout(ctx, { ...out, section, flash: c.get('flash') }).text);
      } catch (err) {
        return respondError(c, err);
      }
    };
  };

  routes.get(
    '/',
    page('/', (ctx) => overviewPage(ctx)),
  );
  routes.get(
    '/queues/:name',
    page('/', (ctx, c) => queuePage(ctx, c.req.param('name') ?? '')),
  );
  routes.get(
    '/jobs/:id',
    page('', (ctx, c) => jobPage(ctx, c.req.param('id') ?? '')),
  );
  routes.get(
    '/dead-letters',
    page('/dead-letters', (ctx) => deadLettersPage(ctx)),
  );
  routes.get(
    '/schedules',
    page('/schedules', (ctx) => schedulesPage(ctx)),
  );
  routes.get(
    '/workers',
    page('/workers', (ctx) => workersPage(ctx)),
  );
  routes.get(
    '/audit',
    page('/audit', (ctx) => auditPage(ctx)),
  );

  for (const [pattern, action] of ACTIONS) {
    routes.post(pattern.replace(':p', ':p{[^/]+}'), async (c) => {
      try {
        const request = c.req.raw;
        if (!c.get('canAct')) {
          throw new HttpError(
            403,
            options.readOnly ? 'The dashboard is read-only.' : 'Read-only users cannot act.',
          );
        }
        const why = crossOriginReason(request, trusted);
        if (why) throw new HttpError(403, `Refused a cross-site request: ${why}.`);
        const type = request.headers.get('content-type') ?? '';
        if (!type.startsWith('application/x-www-form-urlencoded')) {
          throw new HttpError(
            400,
            'Actions are posted as HTML forms (application/x-www-form-urlencoded).',
          );
        }
        const text = await request.text();
        if (text.length > MAX_FORM_BYTES) throw new HttpError(400, 'The form is too large.');
        const form = new URLSearchParams(text);
        if (!isValidToken(secret, readCookie(request, CSRF_COOKIE), form.get(CSRF_FIELD))) {
          throw new HttpError(
            403,
            'The form expired or did not come from this dashboard; reload the page and try again.',
          );
        }
        const outcome = await withTransaction({ pool, statementTimeoutMs: actionTimeout }, (db) =>
          action({ db, schema, user: c.get('user'), param: c.req.param('p') ?? '', form }),
        );
        const back = form.get('back') ?? '';
        // Only a path of this dashboard: printable ASCII without spaces (browsers drop tabs and
        // newlines, so `/\t/evil.example` would become `//evil.example`), no `//` or `\`.
        const target =
          /^[\x21-\x7e]*$/.test(back) &&
          back.startsWith(`${base}/`) &&
          !back.startsWith('//') &&
          !back.includes('\\')
            ? back
            : `${base}/`;
        const flash = Buffer.from(`${outcome.isOk ? 'ok:' : 'no:'}${outcome.message}`).toString(
          'base64url',
        );
        c.header('Set-Cookie', cookie(FLASH_COOKIE, flash, base, request, 60), { append: true });
        return c.redirect(target, 303);
      } catch (err) {
        return respondError(c, err);
      }
    });
  }

  app.notFound((c) => respondError(c, new HttpError(404, 'No such page.')));
  app.onError((err, c) => respondError(c, err));

  const handler = (request: Request) => Promise.resolve(app.fetch(request));
  return Object.assign(handler, { hasAuth: options.authorize !== undefined, basePath: base });
}
