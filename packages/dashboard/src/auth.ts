// Who may do what: an `authorize(request)` hook answers admin, read-only or none; basic auth and
// bearer tokens are built in. Secrets are compared through SHA-256 digests with timingSafeEqual,
// so neither their content nor their length leaks through timing.
import { createHash, timingSafeEqual } from 'node:crypto';

/** What a request may do: everything, only look, or nothing. */
export type Role = 'admin' | 'read-only' | 'none';

/** A role and the name recorded in the audit log for this request's actions. */
export interface Identity {
  role: Role;
  /** Who, as the audit log records it. Default `anonymous`. */
  user?: string;
}

/** Decides a request's role; may be async. */
export type Authorize = ((request: Request) => Role | Identity | Promise<Role | Identity>) & {
  /** A `WWW-Authenticate` value sent with the 401 answer when the role is `none`. */
  challenge?: string;
};

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Constant-time equality of two strings. */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** One basic-auth user. */
export interface BasicUser {
  username: string;
  password: string;
  /** Default `admin`. */
  role?: Exclude<Role, 'none'>;
}

/**
 * HTTP basic auth: an `authorize` that accepts the given users (one or several) and asks the
 * browser for a login otherwise. Use it over HTTPS only: basic auth sends the password with every
 * request.
 * @example createDashboard({ db: pool, authorize: basicAuth({ username: 'ops', password: process.env.DASHBOARD_PASSWORD! }) })
 */
export function basicAuth(users: BasicUser | BasicUser[]): Authorize {
  const list = Array.isArray(users) ? users : [users];
  if (
    list.length === 0 ||
    list.some((u) => !u.username || !u.password || u.username.includes(':'))
  ) {
    throw new TypeError('basicAuth: every user needs a username (without ":") and a password');
  }
  const authorize: Authorize = (request) => {
    const header = request.headers.get('authorization') ?? '';
    const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header);
    if (!m?.[1]) return 'none';
    const decoded = Buffer.from(m[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return 'none';
    const username = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    let found: Identity | undefined;
    // Every user is compared, so the time does not tell which names exist.
    for (const u of list) {
      const isMatch = safeEqual(username, u.username) && safeEqual(password, u.password);
      if (isMatch && !found) found = { role: u.role ?? 'admin', user: u.username };
    }
    return found ?? 'none';
  };
  authorize.challenge = 'Basic realm="sluice", charset="UTF-8"';
  return authorize;
}

/**
 * Bearer tokens (`Authorization: Bearer <token>`), for proxies and scripts. `user` names the
 * token in the audit log (default `token`).
 * @example authorize: bearerToken({ token: process.env.DASHBOARD_TOKEN!, role: 'read-only' })
 */
export function bearerToken(options: {
  token: string;
  role?: Exclude<Role, 'none'>;
  user?: string;
}): Authorize {
  if (!options.token || options.token.length < 16) {
    throw new TypeError('bearerToken: use a token of at least 16 characters');
  }
  const authorize: Authorize = (request) => {
    const m = /^Bearer\s+(\S+)$/i.exec(request.headers.get('authorization') ?? '');
    if (!m?.[1] || !safeEqual(m[1], options.token)) return 'none';
    return { role: options.role ?? 'admin', user: options.user ?? 'token' };
  };
  authorize.challenge = 'Bearer realm="sluice"';
  return authorize;
}

/**
 * The first answer other than `none` of several authorizers (e.g. basic auth for people and a
 * read-only token for a monitor); its challenge is the first one given.
 * @example authorize: anyOf(basicAuth(users), bearerToken({ token, role: 'read-only' }))
 */
export function anyOf(...authorizers: Authorize[]): Authorize {
  const authorize: Authorize = async (request) => {
    for (const a of authorizers) {
      const r = toIdentity(await a(request));
      if (r.role !== 'none') return r;
    }
    return 'none';
  };
  const challenge = authorizers.find((a) => a.challenge)?.challenge;
  if (challenge) authorize.challenge = challenge;
  return authorize;
}

/** A role or identity as an identity. */
export function toIdentity(r: Role | Identity): Identity {
  const identity = typeof r === 'string' ? { role: r } : r;
  if (identity.role !== 'admin' && identity.role !== 'read-only' && identity.role !== 'none') {
    return { role: 'none' };
  }
  return identity;
}
