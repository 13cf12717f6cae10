// tier: unit
// The libvirt domain XML of a VM spec: every shape carries the Stratus metadata, the name and no graphics
// device; every value is escaped; tap names fit IFNAMSIZ. domain-xml-schema.test.ts checks the same shapes
// against libvirt's schema with virt-xml-validate.
import t from 'tap';
import { buildDomainXml, hasStratusMetadata, tapName } from '../../../agent/vm/domain-xml.ts';
import { validate } from '../../../common/validate.ts';
import { VmSpec } from '../../../protocol/vm-spec.ts';
import { base, shapes } from '../../helpers/domain-shapes.ts';

for (const [shape, input] of Object.entries(shapes)) {
  t.test(`XML for a spec with ${shape}: metadata, name, no graphics, for qemu and kvm`, async (t) => {
    const spec = validate(VmSpec, input);
    for (const virtType of ['qemu', 'kvm'] as const) {
      const xml = buildDomainXml(spec, { virtType, consoleLogPath: '/var/log/stratus/console/x.log', hostId: 'h&1' });
      t.match(xml, new RegExp(`^<domain type='${virtType}'`));
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
