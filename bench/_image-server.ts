// Helper process of bench/image-cache: serves the files named on the command line over HTTP on
// 127.0.0.1 (test/helpers/image-server.ts) and prints its base URL, so that the server does not share
// an event loop with the client being measured. A line on stdin naming a file gets back how many requests it had.
import { createInterface } from 'node:readline';
import { basename } from 'node:path';
import { startImageServer } from '../test/helpers/image-server.ts';

const server = await startImageServer();
for (const path of process.argv.slice(2)) server.serve(basename(path), { path });
process.stdout.write(`${server.url('')}\n`);
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'quit') break;
  process.stdout.write(`${JSON.stringify({ requests: server.requests(line).length })}\n`);
}
await server.close();
