// The distribution families Stratus packages for, and what each family calls the packages Stratus
// depends on. Package declarations (packages.ts) name dependencies by the abstract keys of DEPENDENCIES;
// the DEB and RPM builders turn them into each family's names here, so a new family or a renamed
// package is one line. `null` means the family has no such package (the dependency is left out there).

export type Family = 'debian' | 'el9' | 'fedora' | 'suse';

export interface FamilyInfo {
  id: Family;
  format: 'deb' | 'rpm';
  /** Who this family's packages are for. */
  label: string;
  /** RPM: the dist tag and the macros that the family's own rpmbuild defines (selects %if branches). */
  dist?: string;
  rpmDefines?: Record<string, string>;
}

export const FAMILIES: Record<Family, FamilyInfo> = {
  debian: { id: 'debian', format: 'deb', label: 'Debian 12+, Ubuntu 22.04+' },
  el9: {
    id: 'el9',
    format: 'rpm',
    label: 'Rocky, Alma, RHEL, CentOS Stream 9',
    dist: '.el9',
    rpmDefines: { rhel: '9', el9: '1' },
  },
  fedora: { id: 'fedora', format: 'rpm', label: 'Fedora 41+', dist: '.fc41', rpmDefines: { fedora: '41' } },
  suse: {
    id: 'suse',
    format: 'rpm',
    label: 'openSUSE Leap 15.6',
    dist: '.lp156',
    rpmDefines: { suse_version: '1500', sle_version: '150600', is_opensuse: '1' },
  },
};

export type Dependency = keyof typeof DEPENDENCIES;

/** Abstract dependency → package name per family. Debian alternatives use `a | b`. */
export const DEPENDENCIES = {
  /** libvirtd with the QEMU/KVM driver, as a hypervisor host installs it (the agent may also drive a
   * remote libvirtd through its URI, so this is a recommendation). */
  'libvirt-daemon': {
    debian: 'libvirt-daemon-system',
    el9: 'libvirt-daemon-kvm',
    fedora: 'libvirt-daemon-kvm',
    suse: 'libvirt-daemon-qemu',
  },
  /** libvirt.so.0, which the agent loads through koffi (RPM: by soname, as rpm would for a linked one). */
  'libvirt-lib': {
    debian: 'libvirt0',
    el9: 'libvirt.so.0()(64bit)',
    fedora: 'libvirt.so.0()(64bit)',
    suse: 'libvirt.so.0()(64bit)',
  },
  /** libsystemd.so.0, for sd_notify (Type=notify units and the watchdog). */
  libsystemd: {
    debian: 'libsystemd0',
    el9: 'libsystemd.so.0()(64bit)',
    fedora: 'libsystemd.so.0()(64bit)',
    suse: 'libsystemd.so.0()(64bit)',
  },
  'qemu-img': { debian: 'qemu-utils', el9: 'qemu-img', fedora: 'qemu-img', suse: 'qemu-tools' },
  'qemu-system': { debian: 'qemu-system-x86', el9: 'qemu-kvm', fedora: 'qemu-kvm', suse: 'qemu-kvm' },
  /** QEMU's own iSCSI initiator (the default attach mode); RHEL 9's qemu-kvm is built without it. */
  'qemu-iscsi': { debian: 'qemu-block-extra', el9: null, fedora: 'qemu-block-iscsi', suse: 'qemu-block-iscsi' },
  /** iscsiadm, for the host attach mode. */
  'iscsi-initiator': {
    debian: 'open-iscsi',
    el9: 'iscsi-initiator-utils',
    fedora: 'iscsi-initiator-utils',
    suse: 'open-iscsi',
  },
  /** Decompressing .xz images on the fly. */
  xz: { debian: 'xz-utils', el9: 'xz', fedora: 'xz', suse: 'xz' },
  /** LVM logical volumes as iSCSI LUNs (when a volume group is configured). */
  lvm: { debian: 'lvm2', el9: 'lvm2', fedora: 'lvm2', suse: 'lvm2' },
  nftables: { debian: 'nftables', el9: 'nftables', fedora: 'nftables', suse: 'nftables' },
  iproute: { debian: 'iproute2', el9: 'iproute', fedora: 'iproute', suse: 'iproute2' },
  /** The dnsmasq binary only: the controller supervises one instance per network itself. */
  dnsmasq: { debian: 'dnsmasq-base', el9: 'dnsmasq', fedora: 'dnsmasq', suse: 'dnsmasq' },
  /** The site CA and the controller's certificate (drivers/openssl.ts). */
  openssl: { debian: 'openssl', el9: 'openssl', fedora: 'openssl', suse: 'openssl' },
  /** Context ISO generation. */
  'iso-tool': { debian: 'xorriso | genisoimage', el9: 'xorriso', fedora: 'xorriso', suse: 'xorriso' },
  /** tgtd/tgtadm for the iSCSI volume backend (EPEL on EL9). */
  'iscsi-target': { debian: 'tgt', el9: 'scsi-target-utils', fedora: 'scsi-target-utils', suse: 'tgt' },
  /** An external MQTT broker, instead of the controller's embedded one (EPEL on EL9). */
  'mqtt-broker': { debian: 'mosquitto', el9: 'mosquitto', fedora: 'mosquitto', suse: 'mosquitto' },
  /** What the maintainer scripts use to create the system user. */
  'user-tools': { debian: 'adduser', el9: 'shadow-utils', fedora: 'shadow-utils', suse: 'shadow' },
} satisfies Record<string, Record<Family, string | null>>;

/** The family's name for an abstract dependency, or null when the family has none. */
export function packageName(dep: Dependency, family: Family): string | null {
  return (DEPENDENCIES[dep] as Record<Family, string | null>)[family];
}

/** An RPM dependency expression: Debian-style `a | b` alternatives become a rich `(a or b)`. */
export function rpmDependency(name: string): string {
  const alts = name.split('|').map((s) => s.trim());
  return alts.length > 1 ? `(${alts.join(' or ')})` : alts[0]!;
}
