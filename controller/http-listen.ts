// Serves an express app on `host:port` (port 0 picks a free one), over TLS when given a key and
// certificate, and reports the address it got.

import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import type express from 'express';

export function listenHttp(
  app: express.Express,
  spec: string,
  tls?: SecureContextOptions,
): Promise<{ server: Server; address: string }> {
  const i = spec.lastIndexOf(':');
  const host = spec.slice(0, i).replace(/^\[|\]$/g, '') || '127.0.0.1';
  const port = Number(spec.slice(i + 1));
  return new Promise((resolve, reject) => {
    const server = (tls ? createHttpsServer(tls, app) : createServer(app)) as Server;
    server.listen(port, host, () => {
      server.off('error', reject);
      const a = server.address();
      resolve({ server, address: typeof a === 'object' && a ? `${a.address}:${a.port}` : spec });
    });
    server.once('error', reject);
  });
}
