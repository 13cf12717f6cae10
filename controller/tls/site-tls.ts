// The site's TLS material: a CA made at the controller's first start (<state_dir>/tls/ca.pem, its key
// 0600) and a server certificate it signs for the controller's names and addresses, renewed when the
// names change or it nears expiry; or the site's own certificate, key and CA from [tls]. Which
// listener speaks TLS: any not bound to loopback (mode auto), all (always), none (never: plain, an
// explicit choice). Clients verify the CA: agents got it at join (pinned by the fingerprint in the
// join token), the CLI from STRATUS_CA.

import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ConfigError } from '../../common/errors.ts';
import { fingerprintOf } from '../../protocol/fingerprint.ts';
import { createCa, issueServerCert } from '../../drivers/openssl.ts';
import { writeSecretFile } from '../../drivers/host-fs.ts';

export type TlsMode = 'auto' | 'always' | 'never';

export interface SiteTls {
  /** PEM of the CA clients verify the controller with. */
  caPem: string;
  /** SHA-256 of the CA certificate (DER), lowercase hex without separators. */
  caFingerprint: string;
  key: Buffer;
  cert: Buffer;
  /** Where they are (for the mosquitto files). */
  paths: { cert: string; key: string; ca: string };
}

export { fingerprintOf };

/** Host part of a host:port listen address. */
export function listenHost(spec: string): string {
  return spec.slice(0, spec.lastIndexOf(':')).replace(/^\[|\]$/g, '') || '127.0.0.1';
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Whether a listener on `spec` speaks TLS. */
export function listenerTls(mode: TlsMode, spec: string): boolean {
  return mode === 'always' || (mode === 'auto' && !isLoopback(listenHost(spec)));
}

/** Names the generated server certificate covers: this machine, loopback, the listen addresses, extras. */
export function certificateNames(listens: readonly string[], extra: readonly string[]): string[] {
  const names = new Set<string>([hostname(), 'localhost', '127.0.0.1', '::1', ...extra]);
  for (const l of listens) {
    const h = l ? listenHost(l) : '';
    if (h && h !== '0.0.0.0' && h !== '::') names.add(h);
  }
  return [...names].sort();
}

/** http(s)://host:port of a listener: its address, or this machine's name for a wildcard address. */
export function urlOf(scheme: string, address: string): string {
  const host = listenHost(address);
  const port = address.slice(address.lastIndexOf(':') + 1);
  const h = host === '0.0.0.0' || host === '::' ? hostname() : host.includes(':') ? `[${host}]` : host;
  return `${scheme}://${h}:${port}`;
}

function expiresWithin(pem: Buffer, days: number): boolean {
  return new Date(new X509Certificate(pem).validTo).getTime() < Date.now() + days * 86_400_000;
}

function read(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(`cannot read [tls] ${what} ${path}: ${(err as Error).message}`, { path });
  }
}

export async function ensureSiteTls(o: {
  stateDir: string;
  site: string;
  names: readonly string[];
  /** [tls] cert, key, ca: the site's own certificate instead of the generated ones (all or none). */
  given: { cert: string; key: string; ca: string };
  log: Logger;
}): Promise<SiteTls> {
  const g = o.given;
  if (g.cert || g.key || g.ca) {
    if (!g.cert || !g.key || !g.ca) throw new ConfigError('[tls] cert, key and ca go together: set all three or none');
    const caPem = read(g.ca, 'ca').toString('utf8');
    return {
      caPem,
      caFingerprint: fingerprintOf(caPem),
      cert: read(g.cert, 'cert'),
      key: read(g.key, 'key'),
      paths: { cert: g.cert, key: g.key, ca: g.ca },
    };
  }
  const dir = join(o.stateDir, 'tls');
  const p = {
    ca: join(dir, 'ca.pem'),
    caKey: join(dir, 'ca.key'),
    cert: join(dir, 'server.pem'),
    key: join(dir, 'server.key'),
    names: join(dir, 'server.names'),
  };
  if (!existsSync(p.ca) || !existsSync(p.caKey)) {
    await createCa({ certPath: p.ca, keyPath: p.caKey, cn: `Stratus site CA ${o.site}` });
    o.log.info({ path: p.ca, fingerprint: fingerprintOf(readFileSync(p.ca)) }, 'site CA created');
  }
  const names = o.names.join(',');
  const current = existsSync(p.names) ? readFileSync(p.names, 'utf8').trim() : '';
  if (!existsSync(p.cert) || !existsSync(p.key) || current !== names || expiresWithin(readFileSync(p.cert), 30)) {
    await issueServerCert({
      caCert: p.ca,
      caKey: p.caKey,
      certPath: p.cert,
      keyPath: p.key,
      cn: `stratus-controller ${o.site}`,
      names: o.names,
    });
    writeSecretFile(p.names, names);
    o.log.info({ path: p.cert, names: o.names }, 'controller certificate issued by the site CA');
  }
  const caPem = readFileSync(p.ca, 'utf8');
  return {
    caPem,
    caFingerprint: fingerprintOf(caPem),
    cert: readFileSync(p.cert),
    key: readFileSync(p.key),
    paths: { cert: p.cert, key: p.key, ca: p.ca },
  };
}
