// tier: unit
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { buildDomainXml, hasStratusMetadata, tapName } from '../../../agent/vm/domain-xml.ts';
import { validate } from '../../../common/validate.ts';
import { VmSpec } from '../../../protocol/vm-spec.ts';

const dir = mkdtempSync(join(tmpdir(), 'stratus-xml-'));
const base = { id: '3f1c2a9e-1b2c-4d5e-8f90-1234567890ab', name: 'vm-1', vcpus: 2, memoryMiB: 256 };
const shapes: Record<string, unknown> = {
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

for (const [shape, input] of Object.entries(shapes)) {
  t.test(`XML for a spec with ${shape} passes virt-xml-validate`, async (t) => {
    const spec = validate(VmSpec, input);
    for (const virtType of ['qemu', 'kvm'] as const) {
      const xml = buildDomainXml(spec, { virtType, consoleLogPath: '/var/log/stratus/console/x.log', hostId: 'h&1' });
      const p = join(dir, `${shape.replace(/\W+/g, '-')}-${virtType}.xml`);
      writeFileSync(p, xml);
      t.doesNotThrow(() => execFileSync('virt-xml-validate', [p, 'domain'], { stdio: 'pipe' }), `${virtType} valid`);
      t.ok(hasStratusMetadata(xml));
      t.match(xml, `<name>stratus-${spec.id}</name>`);
      t.notMatch(xml, /<graphics/, 'no graphics device');
    }
  });
}

t.test('every value is XML-escaped', async (t) => {
  const spec = validate(VmSpec, shapes['labels and q35']);
  const xml = buildDomainXml(spec, { virtType: 'qemu', consoleLogPath: "/x/'y'.log", hostId: 'h' });
  t.match(xml, 'alice &amp; &lt;bob&gt;');
  t.match(xml, 'o&apos;neil');
  t.match(xml, "file='/x/&apos;y&apos;.log'");
});

t.test('tap names are deterministic and fit IFNAMSIZ', async (t) => {
  const n = tapName(base.id, 7);
  t.equal(n, 'st3f1c2a9e-7');
  t.ok(n.length <= 15);
});
