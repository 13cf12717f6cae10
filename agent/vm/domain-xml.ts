// Turns a VmSpec into libvirt domain XML. Every value is escaped; the domain carries Stratus metadata
// so that a restarted agent can recognise and adopt it. No network-reachable graphics: the serial
// console is a pty whose output virtlogd records to a per-VM file.

import type { BootFile, VmSpec } from '../../protocol/vm-spec.ts';
import { type RawXml, raw, xml } from '../../common/xml.ts';

export const METADATA_NS = 'http://stratus-cloud.org/xmlns/agent/1';
export const DOMAIN_PREFIX = 'stratus-';

export interface DomainXmlOptions {
  virtType: 'kvm' | 'qemu';
  consoleLogPath: string;
  /** Host identity recorded in the metadata. */
  hostId: string;
  /** Idempotency key of the deploy and specHash() of its spec, recorded in the metadata. */
  key?: string | undefined;
  specHash?: string | undefined;
}

export function domainName(id: string): string {
  return DOMAIN_PREFIX + id;
}

/** Tap device name for NIC `index` of VM `id`: deterministic so that firewall rules can name it. */
export function tapName(id: string, index: number): string {
  return `st${id.replace(/-/g, '').slice(0, 8)}-${index}`;
}

const diskTargets = 'abcdefghijklmnopqrstuvwxyz';

function disks(spec: VmSpec): RawXml[] {
  return spec.disks.map((d, i) => {
    // image and blank disks are resolved to their files (agent/instance-disks.ts) before the XML is built
    if (!('path' in d)) throw new Error(`disk ${i} is an image or blank disk: resolve it to its file first`);
    return xml`
    <disk type='file' device='disk'>
      <driver name='qemu' type='${d.format}' discard='unmap'/>
      <source file='${d.path}'/>
      <target dev='vd${diskTargets[i]!}' bus='virtio'/>${d.readonly ? raw('\n      <readonly/>') : raw('')}${
        d.serial ? xml`\n      <serial>${d.serial}</serial>` : raw('')
      }
    </disk>`;
  });
}

function cdroms(spec: VmSpec): RawXml[] {
  return spec.cdroms.map(
    (c, i) => xml`
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='${c.path}'/>
      <target dev='sd${diskTargets[i]!}' bus='scsi'/>
      <readonly/>
    </disk>`,
  );
}

function nics(spec: VmSpec): RawXml[] {
  return spec.nics.map(
    (n, i) => xml`
    <interface type='bridge'>
      <mac address='${n.mac}'/>
      <source bridge='${n.bridge}'/>
      <target dev='${tapName(spec.id, i)}'/>
      <model type='${n.model ?? 'virtio'}'/>
    </interface>`,
  );
}

/** A boot file as a host path; image references must have been resolved to cache paths first. */
function hostPath(f: BootFile): string {
  if (typeof f !== 'string') throw new Error('boot file names an image: resolve it to its cache path first');
  return f;
}

function os(spec: VmSpec): RawXml {
  const machine = spec.machine ?? 'pc';
  const b = spec.boot;
  const boot = b
    ? xml`
    <kernel>${hostPath(b.kernel)}</kernel>${b.initrd !== undefined ? xml`\n    <initrd>${hostPath(b.initrd)}</initrd>` : raw('')}${
      b.cmdline ? xml`\n    <cmdline>${b.cmdline}</cmdline>` : raw('')
    }`
    : raw(`\n    <boot dev='hd'/>`);
  return xml`<os>
    <type arch='${spec.arch ?? 'x86_64'}' machine='${machine}'>hvm</type>${boot}
  </os>`;
}

export function buildDomainXml(spec: VmSpec, opts: DomainXmlOptions): string {
  const labels = Object.entries(spec.labels ?? {}).map(
    ([k, v]) => xml`
      <stratus:label key='${k}'>${v}</stratus:label>`,
  );
  const cpu = opts.virtType === 'kvm' ? raw(`\n  <cpu mode='host-passthrough'/>`) : raw('');
  const scsi = spec.cdroms.length > 0 ? raw(`\n    <controller type='scsi' index='0' model='virtio-scsi'/>`) : raw('');
  return xml`<domain type='${opts.virtType}'>
  <name>${domainName(spec.id)}</name>
  <uuid>${spec.id}</uuid>
  <title>${spec.name}</title>
  <metadata>
    <stratus:instance xmlns:stratus='${METADATA_NS}'>
      <stratus:name>${spec.name}</stratus:name>
      <stratus:host>${opts.hostId}</stratus:host>${opts.key ? xml`\n      <stratus:key>${opts.key}</stratus:key>` : raw('')}${
        opts.specHash ? xml`\n      <stratus:spec-hash>${opts.specHash}</stratus:spec-hash>` : raw('')
      }${labels}
    </stratus:instance>
  </metadata>
  <memory unit='MiB'>${spec.memoryMiB}</memory>
  <vcpu placement='static'>${spec.vcpus}</vcpu>
  ${os(spec)}
  <features>
    <acpi/>
    <apic/>
  </features>${cpu}
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>${disks(spec)}${scsi}${cdroms(spec)}${nics(spec)}
    <serial type='pty'>
      <log file='${opts.consoleLogPath}' append='on'/>
      <target port='0'/>
    </serial>
    <console type='pty'>
      <target type='serial' port='0'/>
    </console>
    <memballoon model='virtio'>
      <stats period='10'/>
    </memballoon>
    <rng model='virtio'>
      <backend model='random'>/dev/urandom</backend>
    </rng>
  </devices>
</domain>
`.text;
}

export interface StratusMetadata {
  host: string;
  key: string | undefined;
  specHash: string | undefined;
}

function unescapeXml(s: string): string {
  return s
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&quot;', '"')
    .replaceAll('&apos;', "'")
    .replaceAll('&amp;', '&');
}

/**
 * The Stratus metadata of a domain (libvirt returns it with its own namespace prefix, so elements are
 * matched by local name inside the element that declares our namespace); undefined when it has none.
 */
export function readStratusMetadata(domainXml: string): StratusMetadata | undefined {
  const start = domainXml.indexOf(METADATA_NS);
  if (start < 0) return undefined;
  const open = domainXml.lastIndexOf('<', start);
  const m = /^<([A-Za-z_][\w.-]*:)?instance\b/.exec(domainXml.slice(open));
  if (!m) return undefined;
  const prefix = m[1] ?? '';
  const end = domainXml.indexOf(`</${prefix}instance>`, open);
  const body = domainXml.slice(open, end < 0 ? undefined : end);
  const field = (name: string) => {
    const f = new RegExp(`<${prefix}${name}>([^<]*)</${prefix}${name}>`).exec(body);
    return f ? unescapeXml(f[1]!) : undefined;
  };
  const host = field('host');
  if (host === undefined) return undefined;
  return { host, key: field('key'), specHash: field('spec-hash') };
}

/** True when the domain XML carries Stratus's metadata element (the domain is ours). */
export function hasStratusMetadata(domainXml: string): boolean {
  return domainXml.includes(METADATA_NS);
}
