// tier: unit
// The Prometheus exposition written in chunks (a site of 10,000 hosts has 1.4 million lines; one string
// sent at once held the controller for seconds): each family's HELP and TYPE once, its samples together
// after them even when they span several chunks, every sample of every host and VM, and a response
// written chunk by chunk ends with the whole exposition.
import { randomUUID } from 'node:crypto';
import { createServer, get } from 'node:http';
import pino from 'pino';
import t from 'tap';
import { openDatabase } from '../../../common/sqlite.ts';
import { FleetIngest } from '../../../controller/fleet/ingest.ts';
import { prometheusChunks, renderPrometheus, sendPrometheus } from '../../../controller/fleet/prometheus.ts';
import { FleetStore } from '../../../controller/fleet/store.ts';
import { topics } from '../../../protocol/mqtt/index.ts';
import { SimHost } from '../../helpers/sim-host.ts';

function fleet(hosts: number, vms: number) {
  const db = openDatabase(':memory:');
  const store = new FleetStore(db);
  const ingest = new FleetIngest({
    store,
    log: pino({ level: 'silent' }),
    maxPayloadBytes: 1 << 20,
    downGraceS: 0,
    history: { stepS: 60, rawS: 3600, bucketS: 300, keepS: 86400 },
  });
  const send = (topic: string, body: object) => ingest.handle(topic, Buffer.from(JSON.stringify(body)));
  for (let i = 0; i < hosts; i++) {
    const h = new SimHost(`h${String(i).padStart(4, '0')}`);
    send(topics.hostStatus(h.id), h.status('online'));
    send(topics.hostMetrics(h.id), h.metrics(20));
    const list = Array.from({ length: vms }, (_, j) => ({ id: randomUUID(), name: `vm-${j}` }));
    send(topics.vmMetrics(h.id), h.vmMetrics(list, 1));
  }
  send(topics.hostStatus('gone'), { ...new SimHost('gone').status('offline', 'shutdown') });
  return { db, store, ingest };
}

t.test('each family once, its samples together, across chunks', async (t) => {
  const { db, store, ingest } = fleet(300, 10);
  t.teardown(() => db.close());
  const odd = new SimHost('odd');
  ingest.handle(topics.hostStatus(odd.id), Buffer.from(JSON.stringify(odd.status('online'))));
  const weird = { id: randomUUID(), name: 'a"b\\c\nd' };
  const wide = { id: randomUUID(), name: `données-€-${'é'.repeat(40)}` };
  ingest.handle(topics.vmMetrics(odd.id), Buffer.from(JSON.stringify(odd.vmMetrics([weird, wide], 1))));
  const chunks = [...prometheusChunks(store, ingest)];
  t.ok(chunks.length > 20, `${chunks.length} chunks`);
  const text = Buffer.concat(chunks).toString('utf8');
  t.notOk(text.includes('\uFFFD'), 'UTF-8 intact across chunk boundaries');
  t.equal(text, await renderPrometheus(store, ingest), 'the string form is the same');
  const lines = text.trimEnd().split('\n');
  const seen = new Set<string>();
  let current = '';
  for (const line of lines) {
    const help = /^# HELP (\S+) /.exec(line);
    if (help) {
      t.notOk(seen.has(help[1]!), `${help[1]} once`);
      seen.add(help[1]!);
      current = help[1]!;
      continue;
    }
    if (line.startsWith('# TYPE ')) continue;
    if (!line.startsWith(`${current}{`) && !line.startsWith(`${current} `)) t.fail(`${line} outside ${current}`);
  }
  const count = (name: string) => lines.filter((l) => l.startsWith(`${name}{`)).length;
  t.equal(count('stratus_host_up'), 302, 'every host, the offline one too');
  t.ok(
    lines.includes(`libvirt_domain_info_virtual_cpus{domain="a\\"b\\\\c\\nd",uuid="${weird.id}",host="odd"} 2`),
    'label values escaped',
  );
  t.ok(
    lines.includes(`libvirt_domain_info_virtual_cpus{domain="${wide.name}",uuid="${wide.id}",host="odd"} 2`),
    'non-ASCII label values written as UTF-8',
  );
  t.match(text, /^stratus_host_up\{host="gone"\} 0$/m);
  t.equal(count('stratus_host_cpu_usage_percent'), 300);
  t.equal(count('libvirt_domain_info_vstate'), 3002, 'every VM');
  t.equal(count('libvirt_domain_block_stats_read_bytes_total'), 3002);
  t.equal(count('libvirt_domain_interface_stats_transmit_packets_total'), 3002);
  t.match(text, /^stratus_controller_mqtt_messages_total\{kind="vm-metrics"\} 301$/m);
  t.match(text, /^stratus_controller_ingest_lag_p99_seconds \S+$/m);
});

t.test('a response is written chunk by chunk and ends with the whole exposition', async (t) => {
  const { db, store, ingest } = fleet(200, 20);
  t.teardown(() => db.close());
  const server = createServer((_req, res) => void sendPrometheus(store, ingest, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => server.close());
  const { port } = server.address() as { port: number };
  const got = await new Promise<{ type: string; body: string }>((resolve, reject) =>
    get(`http://127.0.0.1:${port}/metrics`, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () =>
        resolve({ type: String(res.headers['content-type']), body: Buffer.concat(parts).toString() }),
      );
    }).on('error', reject),
  );
  t.match(got.type, /^text\/plain; version=0\.0\.4/);
  t.equal(got.body, await renderPrometheus(store, ingest));
});

t.test('the event loop turns between chunks, even when the reader takes each chunk at once', async (t) => {
  const { db, store, ingest } = fleet(300, 10);
  t.teardown(() => db.close());
  const chunks = [...prometheusChunks(store, ingest)].length;
  const server = createServer((_req, res) => void sendPrometheus(store, ingest, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => server.close());
  const { port } = server.address() as { port: number };
  // one count per turn of the loop (its check phase); a scrape run as one task would leave it near 0
  let turns = 0;
  let counting = true;
  const count = () => {
    turns++;
    if (counting) setImmediate(count);
  };
  const bytes = await new Promise<number>((resolve, reject) =>
    get(`http://127.0.0.1:${port}/metrics`, (res) => {
      setImmediate(count);
      let n = 0;
      res.on('data', (c: Buffer) => {
        n += c.length;
      });
      res.on('end', () => resolve(n));
    }).on('error', reject),
  );
  counting = false;
  t.ok(bytes > 1_000_000, `${bytes} bytes in ${chunks} chunks`);
  t.ok(turns >= chunks - 1, `${turns} turns of the loop for ${chunks} chunks`);
});
