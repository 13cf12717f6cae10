// A broker outage with mosquitto (generated ACL and passwords, persistence on) between a real agent
// and the controller: events queued by the agent are replayed in order, nothing is applied twice,
// and the state after the outage is the state of the VM.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { ControllerDb } from '../../../controller/db.ts';
import { MqttAccounts } from '../../../controller/mqtt/accounts.ts';
import { writeMosquittoFiles } from '../../../controller/mqtt/mosquitto-files.ts';
import { topics } from '../../../protocol/mqtt/index.ts';
import { startAgent } from '../../helpers/agent-process.ts';
import { uploadTestGuest } from '../../helpers/cloud-images.ts';
import { startMosquitto } from '../../helpers/mosquitto.ts';
import { recorder, startController } from '../../helpers/mqtt.ts';
import { waitFor } from '../../helpers/wait.ts';

const HOST = 'test-host';

t.test(
  'broker stopped then restarted: no lost state, queued events replayed in order, no duplicates applied',
  async (t) => {
    // accounts and mosquitto files, as an operator would make them
    const dir = t.testdir();
    const adminDb = new ControllerDb(`${dir}/accounts.db`);
    const accounts = new MqttAccounts(adminDb.db);
    const hostPw = accounts.add(HOST, 'host').password;
    const ctlPw = accounts.add('ctl', 'controller').password;
    const files = writeMosquittoFiles(accounts, `${dir}/mosquitto`);
    adminDb.close();
    const broker = await startMosquitto({ authConf: readFileSync(files.conf, 'utf8') });
    t.teardown(() => broker.cleanup());

    const c = await startController({
      STRATUS_CONTROLLER_MQTT_EMBEDDED: 'false',
      STRATUS_CONTROLLER_MQTT_URL: broker.url,
      STRATUS_CONTROLLER_MQTT_USERNAME: 'ctl',
      STRATUS_CONTROLLER_MQTT_PASSWORD: ctlPw,
    });
    t.teardown(() => c.cleanup());
    const agent = await startAgent({
      extraToml: `[mqtt]\nurl = "${broker.url}"\nusername = "${HOST}"\npassword = "${hostPw}"\nkeepalive_s = 5\nmetrics_interval_s = 2\nreconnect_max_s = 1\n`,
    });
    t.teardown(() => agent.cleanup());
    await agent.waitReady();
    await waitFor('host online', () => c.daemon.fleet.host(HOST)?.up, 20_000);

    // launched through the controller (a domain it has no record of would be removed)
    await uploadTestGuest(c);
    const created = await c.cli([
      'vm',
      'create',
      'outage',
      '--type',
      'm1.small',
      '--image',
      'guest',
      '--wait',
      '--json',
    ]);
    t.equal(created.code, 0, `vm create: ${created.stderr}`);
    const spec = { id: JSON.parse(created.stdout).items[0].id as string };
    t.teardown(() => c.cli(['vm', 'delete', spec.id]).then(() => undefined));
    await waitFor('VM running at the controller', () => c.daemon.fleet.store.vm(spec.id)?.state === 'running');
    const sessionBefore = c.daemon.fleet.store.host(HOST)!.session;

    await broker.stop();
    // while the broker is away: four state changes (the agent keeps them in order)
    for (const action of ['suspend', 'resume', 'suspend', 'resume']) {
      const r = await agent.request('POST', `/v1/vms/${spec.id}/${action}`);
      t.equal(r.status, 200, `${action} while the broker is down`);
    }
    await new Promise((r) => setTimeout(r, 2500)); // a few failed reconnection attempts
    await broker.start();

    await waitFor(
      'the four events replayed',
      () => {
        const evs = c.daemon.fleet.store.events(HOST, 1000).filter((e) => e.kind === 'vm.state' && e.vm === spec.id);
        return evs.filter((e) => e.data?.['from'] === 'running' || e.data?.['from'] === 'paused').length >= 4;
      },
      30_000,
    );
    const evs = c.daemon.fleet.store
      .events(HOST, 1000)
      .reverse()
      .filter((e) => e.kind === 'vm.state' && e.vm === spec.id);
    t.same(
      evs.map((e) => e.data?.['to']).slice(-4),
      ['paused', 'running', 'paused', 'running'],
      'applied in the order they happened',
    );
    const seqs = evs.map((e) => e.seq);
    t.same(
      [...seqs].sort((a, b) => a - b),
      seqs,
      'sequence numbers increase in arrival order',
    );
    t.equal(new Set(seqs).size, seqs.length, 'no event applied twice');
    // a redelivery of one of them (as a broker may do) is recognised and not applied again
    const dup = new URL(broker.url);
    const again = await recorder(dup.href, [], { username: HOST, password: hostPw, clientId: 'redeliver' });
    const { id: _id, receivedAt: _r, ...e } = evs[evs.length - 1]!;
    const before = c.daemon.ingest.duplicates;
    await again.client.publishAsync(topics.hostEvents(HOST), JSON.stringify(e), { qos: 1 });
    await again.end();
    await waitFor('duplicate recognised', () => c.daemon.ingest.duplicates > before);
    t.equal(
      c.daemon.fleet.store.events(HOST, 1000).filter((x) => x.seq === e.seq).length,
      1,
      'a redelivered event is stored once',
    );
    t.equal(c.daemon.fleet.store.vm(spec.id)?.state, 'running', 'controller VM state is the VM state');
    t.ok(c.daemon.fleet.store.host(HOST)!.session > sessionBefore, 'the agent came back with a new session');
    t.equal(c.daemon.fleet.host(HOST)?.up, true);

    // a subscriber arriving now finds the current state retained on the broker
    const late = await recorder(broker.url, [`${topics.hostPrefix(HOST)}/#`], { username: 'ctl', password: ctlPw });
    t.teardown(() => late.end());
    const st = await late.waitFor('retained VM state', (m) => m.topic === topics.vmState(HOST, spec.id) && m.retain);
    t.equal(st.json.state, 'running');
    const hs = await late.waitFor('retained host status', (m) => m.topic === topics.hostStatus(HOST) && m.retain);
    t.equal(hs.json.state, 'online');
  },
);
