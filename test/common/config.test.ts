// tier: unit
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { AgentConfigSchema, loadAgentConfig } from '../../agent/config.ts';
import { loadConfig, renderConfigExample } from '../../common/config.ts';
import { ConfigError } from '../../common/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'stratus-config-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

t.test('defaults apply when an optional configuration file is absent', async (t) => {
  const c = loadConfig(AgentConfigSchema, {
    path: join(dir, 'absent.toml'),
    envPrefix: 'STRATUS_AGENT',
    env: {},
    required: false,
  });
  t.equal(c.libvirt.uri, 'qemu:///system');
  t.equal(c.agent.resync_interval_s, 30);
});

t.test('the file overrides defaults and the environment overrides the file', async (t) => {
  const p = file('a.toml', '[libvirt]\nuri = "test:///default"\nworkers = 2\n');
  const c = loadAgentConfig(p, { STRATUS_AGENT_LIBVIRT_WORKERS: '3' });
  t.equal(c.libvirt.uri, 'test:///default');
  t.equal(c.libvirt.workers, 3);
  t.equal(c.libvirt.virt_type, 'kvm', 'default kept');
  t.equal(c.api.listen, 'unix:/run/stratus/agent.sock', 'the local API is a unix socket by default');
});

t.test('a missing explicitly named file is an error', async (t) => {
  t.throws(() => loadAgentConfig(join(dir, 'nope.toml'), {}), ConfigError);
});

t.test('bad values, bad TOML and unknown sections are clear errors', async (t) => {
  t.throws(() => loadAgentConfig(file('b.toml', '[libvirt]\nvirt_type = "xen"\n'), {}), /libvirt.virt_type/);
  t.throws(() => loadAgentConfig(file('c.toml', '[libvirt\n'), {}), /not valid TOML/);
  t.throws(() => loadAgentConfig(file('d.toml', '[nope]\n'), {}), /unknown section \[nope\]/);
});

t.test('the example configuration documents every key with its default', async (t) => {
  const text = renderConfigExample(AgentConfigSchema, 'stratus-agent');
  for (const [section, s] of Object.entries(AgentConfigSchema.properties)) {
    t.match(text, `[${section}]`);
    for (const key of Object.keys(s.properties)) t.match(text, `# ${key} = `);
  }
});
