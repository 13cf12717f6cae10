// A real HTTP server for image tests, on 127.0.0.1: serves buffers or files with Range support,
// records every request, and can cut a response half-way or answer without a Content-Length.

import { createReadStream, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';

export interface ServedFile {
  data?: Buffer;
  path?: string;
  /** No Content-Length: chunked transfer (the size is unknown until the end). */
  chunked?: boolean;
  /** Destroy the connection after this many body bytes, for the next `cuts` responses (default 1). */
  cutAfter?: number;
  cuts?: number;
  /** Ignore Range headers (always 200 with the whole file). */
  noRange?: boolean;
  /** Pause this long after each 64 KiB, to keep a download in flight for a while. */
  throttleMs?: number;
}

export interface RequestLog {
  path: string;
  range: string | undefined;
  status: number;
}

export interface ImageServer {
  url: (name: string) => string;
  serve: (name: string, f: ServedFile) => void;
  requests: (name?: string) => RequestLog[];
  close: () => Promise<void>;
}

export async function startImageServer(): Promise<ImageServer> {
  const files = new Map<string, ServedFile>();
  const log: RequestLog[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    const name = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname.slice(1));
    const f = files.get(name);
    const entry: RequestLog = { path: name, range: req.headers.range, status: 0 };
    log.push(entry);
    if (!f) {
      entry.status = 404;
      res.writeHead(404).end();
      return;
    }
    const size = f.data ? f.data.length : statSync(f.path!).size;
    let start = 0;
    let end = size - 1;
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const headers: Record<string, string | number> = {
      'content-type': 'application/octet-stream',
      'accept-ranges': f.noRange ? 'none' : 'bytes',
      etag: `"${name}-${size}"`,
    };
    if (m && !f.noRange) {
      start = Number(m[1]);
      if (m[2]) end = Number(m[2]);
      entry.status = 206;
      headers['content-range'] = `bytes ${start}-${end}/${size}`;
    } else entry.status = 200;
    if (!f.chunked) headers['content-length'] = end - start + 1;
    res.writeHead(entry.status, headers);
    const body = f.data
      ? (async function* () {
          for (let o = start; o <= end; o += 65536) yield f.data!.subarray(o, Math.min(end + 1, o + 65536));
        })()
      : createReadStream(f.path!, { start, end, highWaterMark: 1 << 20 });
    const cut = f.cutAfter !== undefined && (f.cuts ?? 1) > 0 ? f.cutAfter : undefined;
    if (cut !== undefined) f.cuts = (f.cuts ?? 1) - 1;
    void (async () => {
      let sent = 0;
      try {
        for await (const chunk of body as AsyncIterable<Buffer>) {
          let c = chunk;
          if (cut !== undefined && sent + c.length > cut) c = c.subarray(0, cut - sent);
          if (c.length > 0 && !res.write(c)) await new Promise((r) => res.once('drain', r));
          if (f.throttleMs) await new Promise((r) => setTimeout(r, f.throttleMs));
          sent += c.length;
          if (cut !== undefined && sent >= cut) {
            // let the bytes go out, then drop the connection mid-body
            await new Promise((r) => setTimeout(r, 50));
            res.socket?.destroy();
            return;
          }
        }
        res.end();
      } catch {
        res.destroy();
      }
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: (name) => `http://127.0.0.1:${port}/${name}`,
    serve: (name, f) => files.set(name, f),
    requests: (name) => (name ? log.filter((l) => l.path === name) : [...log]),
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
