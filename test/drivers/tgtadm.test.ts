// drivers/tgtadm.ts against a real, private tgtd: targets, LUNs, CHAP accounts and initiator ACLs as
// tgtd reports them, idempotent changes, and the signs of a dead or restarted tgtd.
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseTargets, TgtadmError } from '../../drivers/tgtadm.ts';
import { iscsiLs, startTgtd, type TgtdHandle, testIqnPrefix } from '../helpers/tgtd.ts';

let d: TgtdHandle;
const dir = mkdtempSync(join(tmpdir(), 'stratus-tgtadm-'));
t.before(async () => {
  d = await startTgtd();
});
t.teardown(async () => {
  await d?.stop();
  rmSync(dir, { recursive: true, force: true });
});

t.test('a target with a file LUN, a CHAP account and an initiator ACL is reported back as made', async (t) => {
  const iqn = `${testIqnPrefix()}:volume-a`;
  const file = join(dir, 'a.raw');
  writeFileSync(file, '');
  truncateSync(file, 64 * 1024 * 1024);
  await d.tgt.newTarget(1, iqn);
  await d.tgt.newLun(1, 1, file, { readonly: true });
  await d.tgt.newAccount('user-a', 'secretsecret1234');
  await d.tgt.newAccount('user-a', 'secretsecret1234'); // already there: fine
  await d.tgt.bindAccount(1, 'user-a');
  await d.tgt.bindInitiator(1, 'iqn.2024-01.org.example:host1');
  await d.tgt.bindInitiator(1, 'iqn.2024-01.org.example:host1');
  const [tg] = (await d.tgt.targets()).filter((x) => x.iqn === iqn);
  t.ok(tg, 'target listed');
  t.equal(tg!.tid, 1);
  t.same(
    tg!.luns.map((l) => [l.lun, l.path, l.readonly, l.sizeMb]),
    [
      [0, null, false, 0],
      [1, file, true, 67],
    ],
  );
  t.same(tg!.accounts, ['user-a']);
  t.same(tg!.acl, ['iqn.2024-01.org.example:host1']);
  t.ok((await d.tgt.accounts()).includes('user-a'));

  t.same(iscsiLs(d.portal, 'iqn.2024-01.org.example:host1'), [iqn], 'the allowed initiator discovers it');
  t.same(iscsiLs(d.portal, 'iqn.2024-01.org.example:other'), [], 'another initiator sees nothing');

  await d.tgt.unbindInitiator(1, 'iqn.2024-01.org.example:host1');
  await d.tgt.unbindInitiator(1, 'iqn.2024-01.org.example:host1'); // already gone: fine
  t.same(iscsiLs(d.portal, 'iqn.2024-01.org.example:host1'), [], 'unbound: hidden again');

  await d.tgt.deleteTarget(1, true);
  await d.tgt.deleteTarget(1, true);
  await d.tgt.deleteAccount('user-a');
  t.same(
    (await d.tgt.targets()).filter((x) => x.iqn === iqn),
    [],
  );
  t.notOk((await d.tgt.accounts()).includes('user-a'));
});

t.test('a failing tgtadm call says what failed without showing passwords', async (t) => {
  const err = await d.tgt.newLun(99, 1, '/nonexistent').catch((e) => e);
  t.type(err, TgtadmError);
  t.equal(err.code, 'STRATUS_ERR_TGTADM');
  t.match(err.message, /can't find the target/);
  const other = await new (d.tgt.constructor as typeof import('../../drivers/tgtadm.ts').Tgtadm)({
    controlPort: d.controlPort,
  })
    .newTarget(0, 'iqn.2024-01.org.example:x')
    .catch((e) => e);
  t.type(other, TgtadmError);
  const acct = await d.tgt.bindAccount(42, 'nobody').catch((e) => e);
  t.type(acct, TgtadmError);
  t.notMatch(JSON.stringify(new TgtadmError(['--password', 'hunter2hunter2'], 22, 'x').details), /hunter2/);
});

t.test('a killed tgtd is seen as down, and a restarted one as a new instance with no targets', async (t) => {
  await d.tgt.newTarget(5, `${testIqnPrefix()}:volume-k`);
  const before = await d.tgt.instanceId();
  t.ok(before);
  await d.kill();
  t.equal(await d.tgt.ping(), false);
  const err = await d.tgt.targets().catch((e) => e);
  t.ok(err instanceof TgtadmError && err.unreachable, 'unreachable is recognised');
  await d.start();
  t.equal(await d.tgt.ping(), true);
  t.not(await d.tgt.instanceId(), before, 'a new instance');
  t.same(await d.tgt.targets(), [], 'tgtd forgot its targets');
});

t.test('the show output of several targets parses into LUNs, accounts, ACLs and sessions', async (t) => {
  const text = `Target 1: iqn.2024-01.org.example:a
    System information:
        Driver: iscsi
        State: ready
    I_T nexus information:
        I_T nexus: 3
            Initiator: iqn.2024-01.org.example:host1 alias: none
            Connection: 0
                IP Address: 192.0.2.5
    LUN information:
        LUN: 0
            Type: controller
            Backing store path: None
        LUN: 1
            Type: disk
            Size: 1074 MB, Block size: 512
            Readonly: No
            Backing store path: /srv/a.raw
    Account information:
        user-a
        out-a (outgoing)
    ACL information:
        10.0.0.1
        iqn.2024-01.org.example:host1
Target 2: iqn.2024-01.org.example:b
    System information:
    I_T nexus information:
    LUN information:
    Account information:
    ACL information:
        ALL
`;
  const [a, b] = parseTargets(text);
  t.same(a, {
    tid: 1,
    iqn: 'iqn.2024-01.org.example:a',
    luns: [
      { lun: 0, type: 'controller', path: null, readonly: false, sizeMb: 0 },
      { lun: 1, type: 'disk', path: '/srv/a.raw', readonly: false, sizeMb: 1074 },
    ],
    accounts: ['user-a'],
    acl: ['10.0.0.1', 'iqn.2024-01.org.example:host1'],
    sessions: [{ initiator: 'iqn.2024-01.org.example:host1', address: '192.0.2.5' }],
  });
  t.same(b, { tid: 2, iqn: 'iqn.2024-01.org.example:b', luns: [], accounts: [], acl: ['ALL'], sessions: [] });
});
