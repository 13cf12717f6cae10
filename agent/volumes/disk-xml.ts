// The libvirt <disk> of an attached volume, by attach mode: `qemu` (a network disk: QEMU's own iSCSI
// initiator, CHAP password in a libvirt secret, the host's initiator name), `host` (the block device of
// the host's iscsiadm session) or `file` (an image on the shared filesystem). Each disk carries a user
// alias (ua-volume-<uuid>) to find and unplug it, and a serial the guest sees. Every value is escaped.

import { type RawXml, raw, xml } from '../../common/xml.ts';
import type { VolumeAttachment } from '../../protocol/volume.ts';

export type AttachMode = 'qemu' | 'host' | 'file';

export function volumeAlias(volumeId: string): string {
  return `ua-volume-${volumeId}`;
}

/** At most 20 characters (virtio-blk's limit): /dev/disk/by-id/virtio-<serial> in the guest. */
export function volumeSerial(volumeId: string): string {
  return volumeId.replace(/-/g, '').slice(0, 20);
}

export interface DiskPlacement {
  mode: AttachMode;
  device: string;
  /** qemu mode: the initiator name QEMU logs in with, and the libvirt secret holding the CHAP password. */
  initiator?: string;
  secretUuid?: string;
  /** host mode: the block device of the session's LUN. */
  blockDevice?: string;
}

function hostAndPort(portal: string): [string, string] {
  const i = portal.lastIndexOf(':');
  return [portal.slice(0, i).replace(/^\[(.*)\]$/, '$1'), portal.slice(i + 1)];
}

function source(a: VolumeAttachment, p: DiskPlacement): RawXml {
  const s = a.source;
  if (s.type === 'file') return xml`<source file='${s.path}'/>`;
  if (p.mode === 'host') return xml`<source dev='${p.blockDevice!}'/>`;
  const [host, port] = hostAndPort(s.portal);
  return xml`<source protocol='iscsi' name='${s.iqn}/${s.lun}'>
        <host name='${host}' port='${port}'/>
        <initiator>
          <iqn name='${p.initiator!}'/>
        </initiator>
        <auth username='${s.chap.username}'>
          <secret type='iscsi' uuid='${p.secretUuid!}'/>
        </auth>
      </source>`;
}

export function volumeDiskXml(a: VolumeAttachment, p: DiskPlacement): string {
  const type = p.mode === 'qemu' ? 'network' : p.mode === 'host' ? 'block' : 'file';
  const format = a.source.type === 'file' ? a.source.format : 'raw';
  // cache='none': the data is shared storage, never the host's page cache (safe for migration too)
  const io = p.mode === 'qemu' ? raw('') : raw(" io='native'");
  return xml`<disk type='${type}' device='disk'>
      <driver name='qemu' type='${format}' cache='none'${io}/>
      ${source(a, p)}
      <target dev='${p.device}' bus='virtio'/>
      <serial>${volumeSerial(a.volumeId)}</serial>${a.readonly ? raw('\n      <readonly/>') : raw('')}${
        a.shareable ? raw('\n      <shareable/>') : raw('')
      }
      <alias name='${volumeAlias(a.volumeId)}'/>
    </disk>`.text;
}

/** Target device names (vda, vdb, ...) used by the disks of a domain XML. */
export function usedDevices(domainXml: string): Set<string> {
  return new Set([...domainXml.matchAll(/<target\s+dev=['"]([^'"]+)['"]/g)].map((m) => m[1]!));
}

export function hasAlias(domainXml: string, alias: string): boolean {
  return new RegExp(`<alias\\s+name=['"]${alias}['"]`).test(domainXml);
}

const letters = 'abcdefghijklmnopqrstuvwxyz';

/** The first free virtio name after every name in use (vda..vdz, then vdaa..). */
export function nextDevice(used: Set<string>): string {
  for (let i = 0; i < 26 * 27; i++) {
    const name = i < 26 ? `vd${letters[i]}` : `vd${letters[Math.floor(i / 26) - 1]}${letters[i % 26]}`;
    if (!used.has(name)) return name;
  }
  throw new Error('no free virtio disk name');
}

/** The `<address .../>` element of the disk with this alias in a domain XML (libvirt assigned it). */
export function diskAddress(domainXml: string, alias: string): string | undefined {
  for (const m of domainXml.matchAll(/<disk\b[\s\S]*?<\/disk>/g)) {
    if (!hasAlias(m[0], alias)) continue;
    const a = /<address\b[^>]*\/>/.exec(m[0])?.[0];
    return a && ADDRESS.test(a) ? a : undefined;
  }
  return undefined;
}

/** A lone address element of attributes with plain values (what may be copied into another domain's XML). */
export const ADDRESS = /^<address( [a-z_]+='[0-9a-zA-Z_.x-]+')+\/>$/;
