// A controller for fuzzing and for the authorization matrix: a real stratus-controller process with its
// own tgtd (volumes), no DHCP servers and no host links (networks stay records), no failed-login limit
// (the fuzzer sends many bad tokens on purpose), and a few resources owned by two users so that requests
// reach the handlers with ids that exist. `counts()` reads the row count of every table that records
// things (not logs or events) straight from the controller's SQLite file, to tell whether a refused
// request created anything.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { AgentHandle } from '../agent-process.ts';
import { MqttAccounts } from '../../../controller/mqtt/accounts.ts';
import { ADMIN_TOKEN, type ControllerHandle, startController } from '../controller-process.ts';
import { startTgtd, type TgtdHandle } from '../tgtd.ts';

export interface Fixture {
  /** Bearer tokens by caller. */
  tokens: { admin: string; userA: string; userB: string };
  userA: { id: string; name: string };
  userB: { id: string; name: string };
  /** Resources owned by user A (the network is the admin's, usable by all). */
  vm: string;
  image: string;
  volume: string;
  network: string;
  type: string;
}

export interface FuzzWorld {
  c: ControllerHandle;
  tgtd: TgtdHandle;
  fx: Fixture;
  /** Row counts of the tables that hold things (excluding logs, events, metrics and history). */
  counts: () => Record<string, number>;
  alive: () => boolean;
  /** Starts an agent on libvirt's test driver, attached to this controller (generous start-up wait:
   * the machine may be busy), and waits until the controller sees the host up. */
  agent: (hostId: string) => Promise<AgentHandle>;
  /** A controller-role broker account to send commands with. */
  commander: () => { username: string; password: string };
  /** Whether the controller has a record of the VM. */
  controllerVm: (id: string) => boolean;
  cleanup: () => Promise<void>;
}

const BIG_QUOTA = { vms: 10_000, vcpus: 10_000, memoryMiB: 10_000_000 };

/** Tables that legitimately grow on refused requests or on their own (logs of what happened). */
const VOLATILE = /event|metric|history|audit|log|failure|session|fleet_/;

export async function startFuzzWorld(opts: { api?: string } = {}): Promise<FuzzWorld> {
  const tgtd = await startTgtd();
  const tag = randomBytes(4).toString('hex');
  // volumes' files live in this run's own directory, never under /var/lib/stratus
  const work = mkdtempSync(join(tmpdir(), 'stratus-fuzz-'));
  let c: ControllerHandle;
  try {
    c = await startController({
      api: `auth_failures_max = 0\n${opts.api ?? ''}`,
      extraToml: `[network]
dhcp = false
manage_links = false
[volumes]
tgt_control_port = ${tgtd.controlPort}
iscsi_portal = "${tgtd.portal}"
iqn_prefix = "iqn.2024-01.org.stratus-fuzz-${tag}"
backing_dir = "${work}/volumes"
file_dir = "${work}/shared"
`,
    });
  } catch (err) {
    await tgtd.stop();
    rmSync(work, { recursive: true, force: true });
    throw err;
  }
  const must = async (what: string, p: Promise<{ status: number; body: any }>, want: number) => {
    const r = await p;
    if (r.status !== want) throw new Error(`fuzz fixture ${what}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const a = await must('user A', c.request('POST', '/v1/users', { name: `fuzz-a-${tag}`, quota: BIG_QUOTA }), 201);
  const b = await must('user B', c.request('POST', '/v1/users', { name: `fuzz-b-${tag}`, quota: BIG_QUOTA }), 201);
  const image = await must(
    'image',
    c.request(
      'POST',
      '/v1/images',
      { name: 'fuzz-image', url: 'http://127.0.0.1:9/fuzz.qcow2', sha256: 'a'.repeat(64), format: 'qcow2' },
      a.token,
    ),
    201,
  );
  const vm = await must(
    'VM',
    c.request('POST', '/v1/vms', { name: 'fuzz-vm', type: 't1.micro', image: image.id }, a.token),
    202,
  );
  const network = await must(
    'network',
    c.request('POST', '/v1/networks', {
      name: `fuzz-net-${tag}`,
      bridge: `brf${tag.slice(0, 6)}`,
      ipv4: { cidr: '10.251.0.0/24', gateway: '10.251.0.1' },
    }),
    201,
  );
  const volume = await must('volume', c.request('POST', '/v1/volumes', { name: 'fuzz-vol', sizeGiB: 1 }, a.token), 201);
  const db = new Database(join(c.dir, 'state', 'controller.db'), { readonly: true, fileMustExist: true });
  const counts = () => {
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
      .all() as {
      name: string;
    }[];
    const out: Record<string, number> = {};
    for (const { name } of tables) {
      if (VOLATILE.test(name)) continue;
      out[name] = (db.prepare(`SELECT COUNT(*) AS n FROM "${name}"`).get() as { n: number }).n;
    }
    return out;
  };
  return {
    c,
    tgtd,
    fx: {
      tokens: { admin: ADMIN_TOKEN, userA: a.token, userB: b.token },
      userA: { id: a.user.id, name: a.user.name },
      userB: { id: b.user.id, name: b.user.name },
      vm: vm.items[0].id,
      image: image.id,
      volume: volume.id,
      network: network.id,
      type: 't1.micro',
    },
    counts,
    alive: () => c.proc.exitCode === null && c.proc.signalCode === null,
    controllerVm: (id) => db.prepare('SELECT 1 FROM vms WHERE id = ?').get(id) !== undefined,
    // an enrolled host (stratus host add + join), as an admin would add it
    agent: (hostId) => c.agent(hostId, { uri: 'test:///default' }),
    // the broker account commands are sent with (the controller's role: only it may command hosts)
    commander: () => {
      const rw = new Database(join(c.dir, 'state', 'controller.db'));
      try {
        return new MqttAccounts(rw).add(`fuzz-commander-${tag}`, 'controller');
      } finally {
        rw.close();
      }
    },
    cleanup: async () => {
      db.close();
      await c.cleanup();
      await tgtd.stop();
      rmSync(work, { recursive: true, force: true });
    },
  };
}
