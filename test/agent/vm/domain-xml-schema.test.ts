// The domain XML of every spec shape passes libvirt's own schema (virt-xml-validate, from the libvirt
// client tools). The structure and escaping are checked without host tools in domain-xml.test.ts.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { buildDomainXml } from '../../../agent/vm/domain-xml.ts';
import { validate } from '../../../common/validate.ts';
import { VmSpec } from '../../../protocol/vm-spec.ts';
import { shapes } from '../../helpers/domain-shapes.ts';

const dir = mkdtempSync(join(tmpdir(), 'stratus-xml-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

for (const [shape, input] of Object.entries(shapes)) {
  t.test(`XML for a spec with ${shape} passes virt-xml-validate`, async (t) => {
    const spec = validate(VmSpec, input);
    for (const virtType of ['qemu', 'kvm'] as const) {
      const xml = buildDomainXml(spec, { virtType, consoleLogPath: '/var/log/stratus/console/x.log', hostId: 'h&1' });
      const p = join(dir, `${shape.replace(/\W+/g, '-')}-${virtType}.xml`);
      writeFileSync(p, xml);
      t.doesNotThrow(() => execFileSync('virt-xml-validate', [p, 'domain'], { stdio: 'pipe' }), `${virtType} valid`);
    }
  });
}
