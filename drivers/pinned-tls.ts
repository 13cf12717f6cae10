// The first contact with a controller, before its CA is trusted: the CA certificate is taken from the
// chain the server presents only if its SHA-256 fingerprint is the one pinned in the join token (as
// kubeadm's discovery does), and the request itself then goes over a connection verified against that
// CA alone (chain and host name). Plain http:// is for loopback; the caller checks the CA it gets.

import { X509Certificate } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, type PeerCertificate, type DetailedPeerCertificate } from 'node:tls';
import { StratusError } from '../common/errors.ts';

export class PinnedTlsError extends StratusError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('STRATUS_ERR_TLS_PIN', message, { status: 502, details });
  }
}

const fp = (raw: Buffer) => new X509Certificate(raw).fingerprint256.replace(/:/g, '').toLowerCase();
const toPem = (raw: Buffer) =>
  `-----BEGIN CERTIFICATE-----\n${raw
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;

/** The PEM of the CA in the server's chain whose fingerprint is `fingerprint`; refuses otherwise. */
export function pinnedCa(url: URL, fingerprint: string, timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const port = Number(url.port || 443);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    // Verification is done by hand below (the CA is not trusted yet); nothing is sent on this connection.
    const socket = connect({ host, port, servername: /^[\d.:]+$/.test(host) ? '' : host, rejectUnauthorized: false });
    const timer = setTimeout(() => socket.destroy(new Error('timed out')), timeoutMs);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new PinnedTlsError(`cannot reach ${url.host}: ${err.message}`, { url: url.href }));
    });
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const seen = new Set<string>();
      let c: DetailedPeerCertificate | PeerCertificate | undefined = socket.getPeerCertificate(true);
      let found: string | undefined;
      while (c?.raw && !seen.has(c.fingerprint256)) {
        seen.add(c.fingerprint256);
        if (fp(c.raw) === fingerprint) found = toPem(c.raw);
        c = (c as DetailedPeerCertificate).issuerCertificate;
      }
      socket.destroy();
      if (found) resolve(found);
      else
        reject(
          new PinnedTlsError(
            `the certificate of ${url.host} does not chain to the CA of the join token (fingerprint mismatch): refusing to send the token`,
            { url: url.href, expected: fingerprint },
          ),
        );
    });
  });
}

export interface JsonAnswer {
  status: number;
  body: unknown;
}

/** POSTs JSON; over https it trusts `ca` only (chain and host name verified). */
export function postJson(url: URL, body: unknown, ca?: string, timeoutMs = 30_000): Promise<JsonAnswer> {
  const payload = JSON.stringify(body);
  const https = url.protocol === 'https:';
  const req = (https ? httpsRequest : httpRequest)(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) },
    timeout: timeoutMs,
    ...(https ? { ca: ca ?? [], rejectUnauthorized: true } : {}),
  });
  return new Promise((resolve, reject) => {
    req.once('timeout', () => req.destroy(new Error('timed out')));
    req.once('error', (err) =>
      reject(new PinnedTlsError(`request to ${url.host} failed: ${err.message}`, { url: url.href })),
    );
    req.once('response', async (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      try {
        for await (const c of res) chunks.push(c as Buffer);
      } catch (err) {
        return reject(err);
      }
      const text = Buffer.concat(chunks).toString('utf8');
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
      resolve({ status: res.statusCode ?? 0, body: parsed });
    });
    req.end(payload);
  });
}
