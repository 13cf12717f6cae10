// tier: unit
// What a hot attach journals before its first step: enough for recovery to undo it whatever step it
// reached (volume, mode, portal, target, LUN, whether it was live), and never the CHAP password.
import t from 'tap';
import { attachIntent, attachmentRow, secretUsage } from '../../../agent/volumes/attacher.ts';
import type { VolumeAttachment } from '../../../protocol/volume.ts';

const VM = '6f1c2a7e-1111-4222-8333-944455556666';
const VOL = '0b6d8a52-2222-4333-8444-955566667777';

t.test('an iSCSI attach journals where to undo it, never its CHAP secret', async (t) => {
  const a = {
    volumeId: VOL,
    source: {
      type: 'iscsi',
      portal: '10.0.0.5:3260',
      iqn: 'iqn.2024-01.org.stratus:vol',
      lun: 1,
      chap: { username: 'u', secret: 'sup3r-s3cret' },
    },
    readonly: false,
    shareable: false,
  } as VolumeAttachment;
  const intent = attachIntent(a, true, 'qemu');
  t.same(intent, {
    volumeId: VOL,
    mode: 'qemu',
    live: true,
    readonly: false,
    portal: '10.0.0.5:3260',
    iqn: 'iqn.2024-01.org.stratus:vol',
    lun: 1,
  });
  t.notMatch(JSON.stringify(intent), /sup3r-s3cret/, 'no password in the journal');
  t.equal(secretUsage(VOL, VM), `stratus-volume-${VOL}-vm-${VM}`, 'the secret is found again by its usage id');
});

t.test('the record recovery writes for a finished attach is the one the attach would have written', async (t) => {
  const row = attachmentRow(
    VM,
    { mode: 'qemu', device: 'vdb', secretUuid: 'abc' },
    { volumeId: VOL, portal: 'p:3260', iqn: 'iqn.x', lun: 0, readonly: true },
  );
  t.match(row, {
    vmId: VM,
    volumeId: VOL,
    device: 'vdb',
    mode: 'qemu',
    alias: `ua-volume-${VOL}`,
    secretUuid: 'abc',
    blockDevice: '',
    readonly: true,
  });
});
