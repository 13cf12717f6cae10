// HTTP client of the CLI: bearer token, JSON in and out, and API problems turned into CliError with
// the server's readable title and code. https:// URLs are verified against the system's CAs, or
// against the site CA only when one is given (STRATUS_CA, --ca or `ca` in the config file); a
// certificate the CA did not sign is refused (exit code 3), never skipped.

import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';

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

const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
]);

export class ApiClient {
  constructor(
    readonly url: string,
    private readonly token: string,
    /** PEM of the site CA: the only CA trusted for https:// when given. */
    private readonly ca?: string,
  ) {}

  async request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    init: { raw?: Readable; headers?: Record<string, string> } = {},
  ): Promise<T> {
    const headers: Record<string, string> = { ...(init.headers ?? {}) };
    if (this.token) headers['authorization'] = `Bearer ${this.token}`;
    let payload: string | undefined;
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    let res: IncomingMessage;
    let text: string;
    try {
      res = await this.send(method, new URL(`${this.url}/v1${path}`), headers, payload ?? init.raw);
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      text = Buffer.concat(chunks).toString('utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      const why = TLS_CODES.has(code)
        ? `the controller's certificate is not trusted (${code}); set STRATUS_CA to the site CA (ca.pem)`
        : code || (err as Error).message;
      throw new CliError(`cannot reach the controller at ${this.url}: ${why}`, EXIT.connection, code);
    }
    const type = String(res.headers['content-type'] ?? '');
    const parsed = type.includes('json') && text ? JSON.parse(text) : text;
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) {
      const p = parsed as { title?: string; code?: string };
      throw new CliError(p?.title ?? `${status} ${res.statusMessage ?? ''}`.trim(), exitFor(status), p?.code ?? '');
    }
    return parsed as T;
  }

  private send(
    method: string,
    url: URL,
    headers: Record<string, string>,
    body: string | Readable | undefined,
  ): Promise<IncomingMessage> {
    const https = url.protocol === 'https:';
    const req = (https ? httpsRequest : httpRequest)(url, {
      method,
      headers,
      ...(https && this.ca ? { ca: this.ca } : {}),
    });
    return new Promise((resolve, reject) => {
      req.once('response', resolve);
      req.once('error', reject);
      if (body instanceof Readable) {
        body.once('error', (e) => req.destroy(e));
        body.pipe(req);
      } else req.end(body);
    });
  }
}
