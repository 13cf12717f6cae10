// The controller settles what a restart interrupted before its API takes a request: a volume record a
// crash left in 'creating' is removed before the port answers, so a volume created in the first
// instant after start-up is never mistaken for a half-made one (CI once saw POST /v1/volumes answer
// 404 "volume … not found" because recovery deleted the fresh record).

import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import t from 'tap';
import { loadControllerConfig } from '../../controller/config.ts';
import { ControllerDaemon } from '../../controller/daemon.ts';
import { freePort } from '../helpers/agent-process.ts';

/** Whether something accepts TCP connections on 127.0.0.1:port. */
const answers = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

t.test('volume recovery runs before the API listens, and a volume created right after start survives', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stratus-daemon-start-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const files = join(dir, 'volumes');
  mkdirSync(files);
  const apiPort = await freePort();
  const config = loadControllerConfig(undefined, {
    STRATUS_CONTROLLER_CONTROLLER_STATE_DIR: join(dir, 'state'),
    STRATUS_CONTROLLER_CONTROLLER_ALLOWED_ROOTS: dir,
    STRATUS_CONTROLLER_API_LISTEN: `127.0.0.1:${apiPort}`,
    STRATUS_CONTROLLER_MQTT_LISTEN: `127.0.0.1:${await freePort()}`,
    STRATUS_CONTROLLER_VOLUMES_DEFAULT_BACKEND: 'file',
    STRATUS_CONTROLLER_VOLUMES_FILE_DIR: files,
  });
  const daemon = new ControllerDaemon(config, { log: pino({ level: 'silent' }) });
  // what a crash in the middle of a create leaves: a record in 'creating' (its file never made)
  const admin = daemon.db.db.prepare('SELECT id FROM users LIMIT 1').get() as { id: string } | undefined;
  daemon.volumes.store.insert({
    id: '00000000-0000-4000-8000-00000000dead',
    name: 'half-made',
    ownerId: admin?.id ?? 'nobody',
    sizeGiB: 1,
    backend: 'file',
    format: 'raw',
    shareable: false,
    readonly: false,
    tags: [],
    state: 'creating',
    location: join(files, 'volume-00000000-0000-4000-8000-00000000dead.raw'),
    iqn: null,
    chapUser: null,
    chapSecret: null,
  });

  let listeningDuringRecovery: boolean | undefined;
  const recover = daemon.volumes.recover.bind(daemon.volumes);
  daemon.volumes.recover = async () => {
    listeningDuringRecovery = await answers(apiPort);
    await recover();
  };
  await daemon.start();
  t.teardown(() => daemon.stop());

  t.equal(listeningDuringRecovery, false, 'the API port did not answer while volumes recovered');
  t.equal(daemon.volumes.store.get('00000000-0000-4000-8000-00000000dead'), undefined, 'half-made record removed');

  const token = readFileSync(join(config.controller.state_dir, 'admin.token'), 'utf8').trim();
  const r = await fetch(`http://127.0.0.1:${apiPort}/v1/volumes`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'data', sizeGiB: 1 }),
  });
  const body = (await r.json()) as { id: string; state: string };
  t.equal(r.status, 201, JSON.stringify(body));
  t.equal(daemon.volumes.store.get(body.id)?.state, 'available');
  t.equal(readdirSync(files).length, 1, 'one volume file');
});
