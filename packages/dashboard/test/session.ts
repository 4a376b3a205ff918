// A browser-like session over a Fetch handler (or a URL): keeps cookies, reads the CSRF token
// from the last page, posts forms as a browser would (Origin header included).

export interface Page {
  status: number;
  headers: Headers;
  text: string;
}

type Fetcher = (request: Request) => Promise<Response>;

export class Session {
  readonly cookies = new Map<string, string>();
  token = '';

  constructor(
    private readonly fetcher: Fetcher,
    readonly origin = 'http://127.0.0.1',
    readonly extraHeaders: Record<string, string> = {},
  ) {}

  private async send(path: string, init: RequestInit = {}): Promise<Page> {
    const headers = new Headers({
      ...this.extraHeaders,
      ...(init.headers as Record<string, string>),
    });
    if (this.cookies.size) {
      headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    }
    const res = await this.fetcher(
      new Request(this.origin + path, { ...init, headers, redirect: 'manual' }),
    );
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      if (/Max-Age=0/.test(c)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const text = await res.text();
    const m = /name="_csrf" value="([^"]+)"/.exec(text);
    if (m?.[1]) this.token = m[1];
    return { status: res.status, headers: res.headers, text };
  }

  get(path: string, headers: Record<string, string> = {}): Promise<Page> {
    return this.send(path, { headers });
  }

  /** Posts a form with this session's CSRF token (unless `_csrf` is given) and Origin. */
  post(
    path: string,
    fields: Record<string, string | string[]> = {},
    headers: Record<string, string> = {},
  ): Promise<Page> {
    const body = new URLSearchParams();
    if (!('_csrf' in fields)) body.set('_csrf', this.token);
    for (const [k, v] of Object.entries(fields)) {
      for (const one of Array.isArray(v) ? v : [v]) body.append(k, one);
    }
    return this.send(path, {
      method: 'POST',
      body: body.toString(),
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        origin: this.origin,
        ...headers,
      },
    });
  }
}

/** A fetcher for a listening server. */
export function httpFetcher(): Fetcher {
  return (request) => fetch(request);
}
