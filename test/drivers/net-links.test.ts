// drivers/net-links.ts against the real kernel: a bridge with a physical device (here one end of a veth
// pair) as uplink, made idempotently, with addresses, deleted without touching the device; a VLAN
// uplink is a port of the bridge where the kernel has 802.1Q, and otherwise a clear error with nothing
// half-made.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import t from 'tap';
import {
  addresses,
  addVeth,
  bridgeExists,
  deleteBridge,
  deleteLink,
  ensureAddress,
  ensureBridge,
  linkExists,
  masterOf,
} from '../../drivers/net-links.ts';
import { suffix } from '../helpers/netns.ts';

const run = promisify(execFile);

t.test('a bridge with a physical uplink: made once, idempotent, addresses once, removed alone', async (t) => {
  const s = suffix();
  const phys = `stph${s}`;
  const bridge = `stbr${s}`;
  await addVeth(phys, `stpp${s}`);
  t.teardown(async () => {
    await deleteBridge(bridge);
    await deleteLink(phys);
  });
  t.equal(await ensureBridge(bridge, { uplink: { device: phys }, mtu: 1400 }), true, 'created');
  t.equal(await ensureBridge(bridge, { uplink: { device: phys } }), false, 'second call: nothing to do');
  t.ok(await bridgeExists(bridge));
  t.equal(await masterOf(phys), bridge, 'the device is a port of the bridge');
  await ensureAddress(bridge, '10.213.250.254/24');
  await ensureAddress(bridge, '10.213.250.254/24');
  await ensureAddress(bridge, 'fd00:213:250::1/64');
  t.same((await addresses(bridge)).sort(), ['10.213.250.254/24', 'fd00:213:250::1/64'], 'addresses once each');
  await t.rejects(ensureBridge(phys), { code: 'STRATUS_ERR_LINK' }, 'a non-bridge with that name is an error');
  await t.rejects(ensureBridge('bad name!'), { code: 'STRATUS_ERR_LINK' });
  await deleteBridge(bridge);
  t.notOk(await linkExists(bridge));
  t.ok(await linkExists(phys), 'the physical device stays');
});

t.test('a VLAN uplink: the sub-interface is a port of the bridge, or a clear error and no bridge left', async (t) => {
  const s = suffix();
  const phys = `stph${s}`;
  const bridge = `stbr${s}`;
  await addVeth(phys, `stpp${s}`);
  t.teardown(async () => {
    await deleteBridge(bridge, { device: phys, vlan: 213 });
    await deleteLink(phys);
  });
  const err = await ensureBridge(bridge, { uplink: { device: phys, vlan: 213 } }).then(
    () => undefined,
    (e: Error & { code?: string }) => e,
  );
  if (err === undefined) {
    t.equal(await masterOf(`${phys}.213`), bridge, 'the VLAN interface is a port of the bridge');
    const vlan = JSON.parse((await run('ip', ['-j', '-d', 'link', 'show', `${phys}.213`])).stdout)[0];
    t.equal(vlan.linkinfo.info_data.id, 213, 'VLAN id 213');
    await deleteBridge(bridge, { device: phys, vlan: 213 });
    t.notOk(await linkExists(`${phys}.213`), 'the VLAN interface went with the bridge');
  } else {
    t.equal(err.code, 'STRATUS_ERR_LINK');
    t.match(err.message, new RegExp(`ip link add link ${phys} name ${phys}\\.213 type vlan id 213: .+`));
    t.notOk(await linkExists(bridge), 'this kernel has no 802.1Q: no bridge left behind');
  }
});
