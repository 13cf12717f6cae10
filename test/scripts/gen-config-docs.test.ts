// tier: unit
import { readFileSync } from 'node:fs';
import t from 'tap';
import { render } from '../../scripts/gen-config-docs.ts';

t.test(
  'docs/configuration.md documents the current schemas (regenerate with scripts/gen-config-docs.ts)',
  async (t) => {
    const current = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    t.equal(current, render());
  },
);
