// Baseline process of bench/fleet-sim: the least any ingest can do with the same load. An aedes
// broker and one subscriber that only JSON.parses each message and records its lag. Prints its MQTT
// port, then on each "report" line on stdin the lag p99 since the previous report.
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';

const aedes = await Aedes.createBroker();
const server = createServer((s) => aedes.handle(s));
await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
const port = (server.address() as { port: number }).port;
const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, clean: true });
let lags: number[] = [];
client.on('message', (_t, payload) => {
  if (payload.length === 0) return;
  const m = JSON.parse(payload.toString()) as { ts: number };
  lags.push(Date.now() - m.ts);
});
await client.subscribeAsync('stratus/v1/hosts/#', { qos: 1 });
process.stdout.write(`${JSON.stringify({ port })}\n`);
createInterface({ input: process.stdin }).on('line', () => {
  const s = lags.sort((a, b) => a - b);
  process.stdout.write(`${JSON.stringify({ p99: s[Math.floor(s.length * 0.99)] ?? 0, n: s.length })}\n`);
  lags = [];
});
