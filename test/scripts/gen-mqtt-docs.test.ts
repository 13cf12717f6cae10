// tier: unit
import { readFileSync } from 'node:fs';
import t from 'tap';
import { render } from '../../scripts/gen-mqtt-docs.ts';

t.test('docs/mqtt.md documents the current protocol schemas (regenerate with npm run docs:mqtt)', async (t) => {
  const current = readFileSync(new URL('../../docs/mqtt.md', import.meta.url), 'utf8');
  t.equal(current, render());
});
