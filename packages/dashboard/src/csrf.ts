// CSRF protection for every POST: a signed double-submit token and an Origin check.
// The cookie holds a random nonce; forms carry HMAC(secret, nonce). A forged form has neither
// (SameSite=Strict keeps the cookie off cross-site posts, and without the secret the token
// cannot be computed even by someone who can plant a cookie from a sibling domain). The Origin
// (or Sec-Fetch-Site) check refuses cross-site posts on top.
import { createHmac, randomBytes } from 'node:crypto';
import { safeEqual } from './auth.js';

export const CSRF_COOKIE = 'sluice_csrf';
export const CSRF_FIELD = '_csrf';

/** A fresh nonce for the cookie. */
export function newNonce(): string {
  return randomBytes(18).toString('base64url');
}

/** The form token for a nonce. */
export function csrfToken(secret: Buffer, nonce: string): string {
  return createHmac('sha256', secret).update(nonce).digest('base64url');
}

/** True when the form's token belongs to the cookie's nonce. */
export function isValidToken(secret: Buffer, nonce: string | undefined, token: unknown): boolean {
  if (!nonce || typeof token !== 'string' || token.length === 0) return false;
  return safeEqual(csrfToken(secret, nonce), token);
}

/**
 * Why a POST comes from elsewhere, or undefined when it is same-origin: its Origin must be the
 * dashboard's own or a trusted one; without Origin, Sec-Fetch-Site must not say cross-site.
 */
export function crossOriginReason(request: Request, trusted: string[]): string | undefined {
  const origin = request.headers.get('origin');
  if (origin !== null) {
    const own = new URL(request.url).origin;
    if (origin === own || trusted.includes(origin)) return undefined;
    return `Origin ${origin} is not this dashboard's (${own})`;
  }
  const site = request.headers.get('sec-fetch-site');
  if (site !== null && site !== 'same-origin' && site !== 'none') {
    return `Sec-Fetch-Site is ${site}`;
  }
  return undefined;
}

/** The value of one cookie of a request, if present. */
export function readCookie(request: Request, name: string): string | undefined {
  const header = request.headers.get('cookie');
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
