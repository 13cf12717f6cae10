// A controller killed while it built a context CD-ROM leaves a staging directory and a partial ISO
// beside the ISOs; the next start removes them before it takes requests, and keeps the finished ISOs.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startController } from '../../helpers/mqtt.ts';

t.test('leftovers of interrupted ISO builds are swept at start', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stratus-ctx-left-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, '.stratus-iso-stage-x1', 'root'), { recursive: true });
  writeFileSync(join(dir, '.stratus-iso-1-2-y.iso'), 'partial');
  writeFileSync(join(dir, '0b4d3a1e-0000-4000-8000-000000000001.iso'), 'a finished ISO');
  const c = await startController({ STRATUS_CONTROLLER_NETWORK_CONTEXT_DIR: dir });
  t.teardown(() => c.cleanup());
  t.notOk(existsSync(join(dir, '.stratus-iso-stage-x1')), 'staging directory removed');
  t.notOk(existsSync(join(dir, '.stratus-iso-1-2-y.iso')), 'partial ISO removed');
  t.ok(existsSync(join(dir, '0b4d3a1e-0000-4000-8000-000000000001.iso')), 'finished ISOs kept');
  t.ok(c.logs().some((l) => l.msg === 'leftovers of interrupted context ISO builds removed' && l.removed === 2));
});
