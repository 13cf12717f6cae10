// The generated mosquitto files with TLS: `write-mosquitto` copies a certificate of the site CA and
// declares an MQTT-over-TLS listener; a host verifies it with the site CA (and its own account), a
// client given another CA refuses the broker, and anonymous clients are refused on it too.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import t from 'tap';
import { siteTlsFor } from '../../../controller/access.ts';
import { loadControllerConfig } from '../../../controller/config.ts';
import { ControllerDb } from '../../../controller/db.ts';
import { MqttAccounts } from '../../../controller/mqtt/accounts.ts';
import { writeMosquittoFiles } from '../../../controller/mqtt/mosquitto-files.ts';
import { createCa } from '../../../drivers/openssl.ts';
import { freePort } from '../../helpers/agent-process.ts';
import { startMosquitto } from '../../helpers/mosquitto.ts';
import { mosquittoPub } from '../../helpers/mosquitto-clients.ts';

t.test('mosquitto with the generated TLS listener: the site CA verifies it, another CA does not', async (t) => {
  const dir = t.testdir();
  const config = loadControllerConfig(undefined, { STRATUS_CONTROLLER_CONTROLLER_STATE_DIR: join(dir, 'state') });
  const tls = await siteTlsFor(config, pino({ level: 'silent' }));
  const db = new ControllerDb(join(dir, 'state', 'controller.db'));
  const accounts = new MqttAccounts(db.db);
  const host = accounts.add('hv-m', 'host');
  const tlsPort = await freePort();
  const files = writeMosquittoFiles(accounts, join(dir, 'mosquitto'), { tls: tls.paths, tlsPort, wssPort: 0 });
  db.close();
  const listeners = readFileSync(files.listeners!, 'utf8');
  t.match(listeners, new RegExp(`listener ${tlsPort}\\ncertfile .*server.pem`));
  t.notMatch(listeners, /protocol websockets/, '--wss-port 0 leaves the WebSocket listener out');
  const broker = await startMosquitto({ authConf: `${readFileSync(files.conf, 'utf8')}\n${listeners}` });
  t.teardown(() => broker.cleanup());
  const url = `mqtts://127.0.0.1:${tlsPort}`;

  const client = await mqtt.connectAsync(url, {
    protocolVersion: 4,
    ca: tls.caPem,
    username: host.username,
    password: host.password,
    reconnectPeriod: 0,
  });
  await client.publishAsync('stratus/v1/hosts/hv-m/status', 'over tls', { qos: 1 });
  await client.endAsync(true);
  t.pass('a host connects over TLS with the site CA');

  await createCa({ certPath: join(dir, 'other.pem'), keyPath: join(dir, 'other.key'), cn: 'other' });
  await t.rejects(
    mqtt.connectAsync(url, {
      protocolVersion: 4,
      ca: readFileSync(join(dir, 'other.pem')),
      username: host.username,
      password: host.password,
      reconnectPeriod: 0,
    }),
    /self.signed|unable to verify|certificate/i,
    'another CA: the broker is refused before the password is sent',
  );
  const anon = await mosquittoPub(url, { cafile: tls.paths.ca }, 'stratus/v1/cmd/hv-m/stop', 'x');
  t.not(anon.code, 0, 'anonymous clients are refused on the TLS listener');
});
