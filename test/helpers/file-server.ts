// A real HTTP server on 127.0.0.1 serving files of the test's choosing, counting requests per path.

import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';

export interface FileServer {
  url: (name: string) => string;
  requests: Map<string, number>;
  close: () => Promise<void>;
}

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

export async function serveFiles(files: Record<string, string>): Promise<FileServer> {
  const requests = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const name = decodeURIComponent((req.url ?? '/').slice(1).split('?')[0]!);
    requests.set(name, (requests.get(name) ?? 0) + 1);
    const path = files[name];
    if (!path) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': statSync(path).size });
    createReadStream(path).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  return {
    url: (name) => `http://127.0.0.1:${port}/${encodeURIComponent(name)}`,
    requests,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
