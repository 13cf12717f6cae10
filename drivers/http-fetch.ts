// Streaming HTTP(S) GET for image downloads: redirects, an idle timeout, and resumption with
// `Range: bytes=N-` guarded by `If-Range` (an ETag or Last-Modified), so that a resumed body is known
// to be the continuation of the same file. Returns the response body as a stream; no policy here.

import { type IncomingMessage, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';
import { StratusError } from '../common/errors.ts';
import { redactUrls } from '../common/redact.ts';

export class HttpFetchError extends StratusError {
  constructor(rawUrl: string, message: string, details: Record<string, unknown> = {}) {
    // capability URLs carry their token in the query: never in an error (replies, logs)
    const url = redactUrls(rawUrl);
    super('STRATUS_ERR_DOWNLOAD', `download of ${url} failed: ${redactUrls(message)}`, {
      status: 502,
      details: { url, ...details },
    });
  }
}

export interface HttpBody {
  /** The final URL (after redirects). */
  url: string;
  status: number;
  body: IncomingMessage;
  /** Offset of the first body byte in the file: the requested offset for a 206, 0 for a 200. */
  offset: number;
  /** Length of the whole file when the server says it (Content-Length or Content-Range), else undefined. */
  totalLength: number | undefined;
  /** A validator for a later If-Range (strong ETag, else Last-Modified). */
  validator: string | undefined;
  acceptsRanges: boolean;
  contentType: string | undefined;
}

export interface HttpGetOptions {
  offset?: number;
  validator?: string | undefined;
  idleTimeoutMs?: number;
  maxRedirects?: number;
  signal?: AbortSignal;
}

let siteAgent: HttpsAgent | undefined;

/** Trusts the site CA (PEM) for https downloads, besides the system's CAs (the agent, after join). */
export function trustSiteCa(pem: string): void {
  siteAgent = new HttpsAgent({ ca: [...rootCertificates, pem], keepAlive: false });
}

function once(url: URL, opts: HttpGetOptions): Promise<IncomingMessage> {
  const headers: Record<string, string> = { 'user-agent': 'stratus-agent', 'accept-encoding': 'identity' };
  if (opts.offset && opts.offset > 0) {
    headers['range'] = `bytes=${opts.offset}-`;
    if (opts.validator) headers['if-range'] = opts.validator;
  }
  const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {
    method: 'GET',
    headers,
    ...(url.protocol === 'https:' && siteAgent ? { agent: siteAgent } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return new Promise((resolve, reject) => {
    req.setTimeout(opts.idleTimeoutMs ?? 60_000, () => req.destroy(new Error('no data within the idle timeout')));
    req.once('response', resolve);
    req.once('error', reject);
    req.end();
  });
}

export async function httpGet(rawUrl: string, opts: HttpGetOptions = {}): Promise<HttpBody> {
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new HttpFetchError(rawUrl, 'not a valid URL');
  }
  for (let hops = 0; ; hops++) {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new HttpFetchError(url.href, `unsupported scheme ${url.protocol} (http and https only)`);
    }
    let res: IncomingMessage;
    try {
      res = await once(url, opts);
    } catch (err) {
      throw new HttpFetchError(url.href, (err as Error).message, { transient: true });
    }
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      res.resume();
      if (hops >= (opts.maxRedirects ?? 5)) throw new HttpFetchError(url.href, 'too many redirects');
      url = new URL(res.headers.location, url);
      continue;
    }
    if (status !== 200 && status !== 206) {
      res.resume();
      throw new HttpFetchError(url.href, `server answered ${status} ${res.statusMessage ?? ''}`.trim(), {
        httpStatus: status,
        transient: status >= 500 || status === 429,
      });
    }
    const h = res.headers;
    let offset = 0;
    let total = h['content-length'] !== undefined ? Number(h['content-length']) : undefined;
    if (status === 206) {
      const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(h['content-range'] ?? '');
      if (!m || Number(m[1]) !== (opts.offset ?? 0)) {
        res.destroy();
        throw new HttpFetchError(url.href, `unexpected Content-Range ${h['content-range'] ?? '(none)'}`);
      }
      offset = Number(m[1]);
      total = m[3] === '*' ? undefined : Number(m[3]);
    }
    const etag = h.etag && !h.etag.startsWith('W/') ? h.etag : undefined;
    return {
      url: url.href,
      status,
      body: res,
      offset,
      totalLength: total,
      validator: etag ?? h['last-modified'],
      acceptsRanges: status === 206 || h['accept-ranges'] === 'bytes',
      contentType: h['content-type'],
    };
  }
}
