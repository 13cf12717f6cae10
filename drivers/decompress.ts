// Streaming decompressors for downloaded images: gzip with node's zlib, xz with the host's `xz -dc`
// (spawned with an argument array; no xz binding is needed and xz-utils is on every Debian host).

import { spawn } from 'node:child_process';
import { Duplex, type Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';

export type Compression = 'gzip' | 'xz';

function xzDecompressor(): Duplex {
  const child = spawn('xz', ['-dc', '-T1'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-2000);
  });
  const d = Duplex.from({ writable: child.stdin, readable: child.stdout });
  child.once('close', (code, signal) => {
    if (code !== 0 && !d.destroyed) d.destroy(new Error(`xz -dc failed (${code ?? signal}): ${stderr.trim()}`));
  });
  child.stdin.on('error', (err) => d.destroy(err));
  d.once('close', () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return d;
}

export function decompressor(kind: Compression): Duplex | Transform {
  return kind === 'gzip' ? createGunzip() : xzDecompressor();
}
