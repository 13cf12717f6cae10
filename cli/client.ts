// HTTP client of the CLI: bearer token, JSON in and out, and API problems turned into CliError with
// the server's readable title and code.

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly code = '',
  ) {
    super(message);
  }
}

/** Exit codes scripts can trust. */
export const EXIT = { ok: 0, api: 1, usage: 2, connection: 3, notFound: 4, conflict: 5, auth: 6 } as const;

function exitFor(status: number): number {
  if (status === 401 || status === 403) return EXIT.auth;
  if (status === 404) return EXIT.notFound;
  if (status === 409) return EXIT.conflict;
  return EXIT.api;
}

export class ApiClient {
  constructor(
    readonly url: string,
    private readonly token: string,
  ) {}

  async request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    init: { raw?: RequestInit['body']; headers?: Record<string, string>; duplex?: boolean } = {},
  ): Promise<T> {
    const headers: Record<string, string> = { ...(init.headers ?? {}) };
    if (this.token) headers['authorization'] = `Bearer ${this.token}`;
    let payload: RequestInit['body'] | undefined = init.raw;
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    let res: Response;
    try {
      res = await fetch(`${this.url}/v1${path}`, {
        method,
        headers,
        body: payload ?? null,
        ...(init.duplex ? { duplex: 'half' } : {}),
      } as RequestInit);
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(
        `cannot reach the controller at ${this.url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
        EXIT.connection,
      );
    }
    const text = await res.text();
    const type = res.headers.get('content-type') ?? '';
    const parsed = type.includes('json') && text ? JSON.parse(text) : text;
    if (!res.ok) {
      const p = parsed as { title?: string; code?: string };
      throw new CliError(p?.title ?? `${res.status} ${res.statusText}`, exitFor(res.status), p?.code ?? '');
    }
    return parsed as T;
  }
}
