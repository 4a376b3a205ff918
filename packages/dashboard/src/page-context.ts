// What every page and action handler gets: the request's transaction, who asks, and how to
// build links and forms.
import type { PoolClient } from 'pg';

/** An answer other than 200, with a message shown to the user (never job data). */
export class HttpError extends Error {
  constructor(
    readonly status: 400 | 403 | 404 | 405 | 503,
    message: string,
  ) {
    super(message);
  }
}

/** One request's view of the dashboard. */
export interface PageContext {
  /** The connection of this request's transaction (statement timeout set). */
  db: PoolClient;
  schema: string;
  /** The base path without a trailing slash: '' or '/sluice'. */
  base: string;
  url: URL;
  canAct: boolean;
  user: string;
  /** The CSRF form token for this browser. */
  csrf: string;
  showPayloads: boolean;
}
