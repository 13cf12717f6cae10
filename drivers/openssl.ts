// X.509 certificates with the openssl CLI (Node's crypto makes keys but not certificates): a site CA
// (EC P-256, 10 years) and server certificates it signs (1 year by default) for the names and
// addresses clients use. Argument arrays only; files are made in a private staging directory and
// moved into place, private keys mode 0600.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { isIP } from 'node:net';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { StratusError } from '../common/errors.ts';

const run = promisify(execFile);

export class OpensslError extends StratusError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('STRATUS_ERR_OPENSSL', message, { status: 500, details });
  }
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args, { timeout: 60_000 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new OpensslError('openssl is not installed (apt install openssl)');
    throw new OpensslError(`openssl ${args[0]} failed: ${(e.stderr ?? e.message).trim().split('\n')[0]}`);
  }
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Characters allowed in a certificate subject value here (no '/', '=', ',' or '+'). */
function subject(cn: string): string {
  return `/CN=${cn.replace(/[^A-Za-z0-9 ._:@-]/g, '_')}`;
}

async function staging(target: string): Promise<string> {
  await mkdir(dirname(target), { recursive: true, mode: 0o750 });
  return mkdtemp(join(dirname(target), '.openssl-'));
}

/** Creates `certPath` and `keyPath` (0600): a self-signed CA certificate. */
export async function createCa(o: { certPath: string; keyPath: string; cn: string; days?: number }): Promise<void> {
  const tmp = await staging(o.certPath);
  try {
    const key = join(tmp, 'key.pem');
    const cert = join(tmp, 'cert.pem');
    await openssl([
      'req',
      '-x509',
      ...EC,
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      String(o.days ?? 3650),
      '-subj',
      subject(o.cn),
      '-addext',
      'basicConstraints=critical,CA:TRUE,pathlen:0',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    await chmod(key, 0o600);
    await rename(key, o.keyPath);
    await rename(cert, o.certPath);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Creates `certPath` and `keyPath` (0600): a server certificate for `names` (DNS names or IPs) signed by the CA. */
export async function issueServerCert(o: {
  caCert: string;
  caKey: string;
  certPath: string;
  keyPath: string;
  cn: string;
  names: readonly string[];
  days?: number;
}): Promise<void> {
  const san = o.names.map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  const tmp = await staging(o.certPath);
  try {
    const key = join(tmp, 'key.pem');
    const csr = join(tmp, 'req.csr');
    const cert = join(tmp, 'cert.pem');
    await openssl([
      'req',
      '-new',
      ...EC,
      '-keyout',
      key,
      '-out',
      csr,
      '-subj',
      subject(o.cn),
      '-addext',
      `subjectAltName=${san}`,
      '-addext',
      'basicConstraints=critical,CA:FALSE',
      '-addext',
      'keyUsage=critical,digitalSignature,keyAgreement',
      '-addext',
      'extendedKeyUsage=serverAuth',
    ]);
    await openssl([
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      o.caCert,
      '-CAkey',
      o.caKey,
      '-out',
      cert,
      '-days',
      String(o.days ?? 365),
      '-set_serial',
      `0x${randomBytes(16).toString('hex')}`,
      '-copy_extensions',
      'copyall',
    ]);
    await chmod(key, 0o600);
    await rename(key, o.keyPath);
    await rename(cert, o.certPath);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
