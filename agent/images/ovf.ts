// OVF descriptors: reading the disk an OVA names (its file and format) and writing the descriptor of a
// Stratus export bundle. Only the few elements Stratus needs are read (References/File and
// DiskSection/Disk), with bounded input; anything else in the envelope is ignored.

import { xmlEscape } from '../../common/xml.ts';
import { ValidationError } from '../../common/errors.ts';

export interface OvfDisk {
  /** File name of the disk inside the bundle. */
  href: string;
  /** qemu-img format name: qcow2, raw, vmdk, vpc, vhdx, vdi; or the descriptor's URI when unknown. */
  format: string;
  capacity: number | undefined;
  size: number | undefined;
}

export const OVF_MAX_BYTES = 1024 * 1024;
const QCOW2_URI = 'http://www.gnome.org/~markmc/qcow-image-format.html';
const RAW_URI = 'http://stratus-cloud.org/ovf/disk-format/raw';

function formatFromUri(uri: string): string {
  const u = uri.toLowerCase();
  if (u.includes('qcow')) return 'qcow2';
  if (u.includes('vmdk')) return 'vmdk';
  if (u.includes('vhdx')) return 'vhdx';
  if (u.includes('vhd')) return 'vpc';
  if (u.includes('vdi')) return 'vdi';
  if (u.endsWith('/raw') || u === 'raw') return 'raw';
  return uri;
}

function attrs(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tag.matchAll(/([A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)\s*=\s*("([^"]*)"|'([^']*)')/g)) {
    out[m[2]!] = (m[4] ?? m[5] ?? '')
      .replace(/&quot;/g, '"')
      .replace(/&apos;/g, "'")
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&amp;/g, '&');
  }
  return out;
}

const UNITS: Record<string, number> = {
  byte: 1,
  'byte * 2^10': 2 ** 10,
  'byte * 2^20': 2 ** 20,
  'byte * 2^30': 2 ** 30,
};

/** The first disk of an OVF envelope: its file (href) and format. */
export function parseOvf(xml: string): OvfDisk {
  const files = new Map<string, Record<string, string>>();
  for (const m of xml.matchAll(/<(?:[\w-]+:)?File\b([^>]*)\/?>/g)) {
    const a = attrs(m[1]!);
    if (a['id']) files.set(a['id'], a);
  }
  const diskTag = /<(?:[\w-]+:)?Disk\b([^>]*)\/?>/.exec(xml);
  if (!diskTag) throw new ValidationError('the OVF descriptor has no DiskSection/Disk');
  const d = attrs(diskTag[1]!);
  const file = d['fileRef'] ? files.get(d['fileRef']) : undefined;
  if (!file?.['href']) throw new ValidationError(`the OVF disk's fileRef ${d['fileRef'] ?? '(none)'} names no File`);
  const href = file['href'];
  if (href.includes('/') || href.startsWith('.')) throw new ValidationError(`the OVF names an unsafe file ${href}`);
  const unit = UNITS[(d['capacityAllocationUnits'] ?? 'byte').toLowerCase()] ?? 1;
  return {
    href,
    format: d['format'] ? formatFromUri(d['format']) : 'raw',
    capacity: d['capacity'] ? Number(d['capacity']) * unit : undefined,
    size: file['size'] ? Number(file['size']) : undefined,
  };
}

export function buildOvf(o: {
  name: string;
  href: string;
  format: 'qcow2' | 'raw';
  capacity: number;
  size: number;
}): string {
  const e = xmlEscape;
  return `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
  <References>
    <File ovf:id="file1" ovf:href="${e(o.href)}" ovf:size="${o.size}"/>
  </References>
  <DiskSection>
    <Info>Virtual disk</Info>
    <Disk ovf:diskId="disk1" ovf:fileRef="file1" ovf:capacity="${o.capacity}" ovf:capacityAllocationUnits="byte" ovf:format="${o.format === 'qcow2' ? QCOW2_URI : RAW_URI}"/>
  </DiskSection>
  <VirtualSystem ovf:id="${e(o.name)}">
    <Info>A virtual machine image exported by Stratus</Info>
    <Name>${e(o.name)}</Name>
  </VirtualSystem>
</Envelope>
`;
}
