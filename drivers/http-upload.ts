// Streams a local file to an HTTP(S) URL with PUT (content-length set, no chunking), for agents that
// hand an image to the controller. Resolves with the server's JSON answer; rejects with its message.

import { createReadStream, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { StratusError } from '../common/errors.ts';

export class UploadError extends StratusError {
  constructor(url: string, message: string, status = 502) {
    super('STRATUS_ERR_UPLOAD', `upload to ${url.replace(/\?.*$/, '')} failed: ${message}`, { status });
  }
}

export function uploadFile(path: string, url: string, timeoutMs = 600_000): Promise<unknown> {
  const size = statSync(path).size;
  const u = new URL(url);
  const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      u,
      {
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
        timeout: timeoutMs,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => {
          let parsed: { title?: string } | undefined;
          try {
            parsed = JSON.parse(body);
          } catch {
            // not JSON
          }
          if ((res.statusCode ?? 500) >= 300) reject(new UploadError(url, parsed?.title ?? `HTTP ${res.statusCode}`));
          else resolve(parsed);
        });
      },
    );
    req.on('timeout', () => req.destroy(new UploadError(url, `no progress for ${timeoutMs} ms`, 504)));
    req.on('error', (err) => reject(err instanceof UploadError ? err : new UploadError(url, err.message)));
    createReadStream(path)
      .on('error', (err) => req.destroy(err))
      .pipe(req);
  });
}
