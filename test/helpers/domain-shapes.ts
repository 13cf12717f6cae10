// VM specs of every shape the domain XML builder handles (direct boot, disks, CD-ROMs, NICs, labels with
// characters XML must escape), shared by the unit test of agent/vm/domain-xml.ts and its schema check.

export const base = { id: '3f1c2a9e-1b2c-4d5e-8f90-1234567890ab', name: 'vm-1', vcpus: 2, memoryMiB: 256 };

export const shapes: Record<string, unknown> = {
  minimal: base,
  'direct boot': { ...base, boot: { kernel: '/k', initrd: '/i', cmdline: "console=ttyS0 a='<x>' & b" } },
  'disks, cdroms and nics': {
    ...base,
    disks: [
      { path: '/var/lib/d0.qcow2', format: 'qcow2' },
      { path: '/var/lib/d1.raw', format: 'raw', readonly: true, serial: 'data-1' },
    ],
    cdroms: [{ path: '/var/lib/context.iso' }],
    nics: [
      { bridge: 'br0', mac: '52:54:00:00:00:01' },
      { bridge: 'br1', mac: '52:54:00:00:00:02', model: 'e1000' },
    ],
  },
  'labels and q35': { ...base, machine: 'q35', labels: { owner: 'alice & <bob>', project: "o'neil" } },
};
