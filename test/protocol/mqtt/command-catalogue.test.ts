// The command catalogue is the one list of agent commands: the agent registers exactly its commands
// (no more, no fewer), registering a name outside it fails, and every entry has argument and result
// schemas the docs can render.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadAgentConfig } from '../../../agent/config.ts';
import { AgentDaemon } from '../../../agent/daemon.ts';
import { CommandRegistry } from '../../../agent/mqtt/commands.ts';
import { AGENT_COMMANDS, commandCatalogue } from '../../../protocol/mqtt/index.ts';

t.test('the agent registers exactly the commands of the catalogue', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stratus-catalogue-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // a daemon that is built but never started: nothing connects, nothing outside `dir` is touched
  const config = loadAgentConfig(undefined, {
    STRATUS_AGENT_AGENT_STATE_DIR: dir,
    STRATUS_AGENT_AGENT_CONSOLE_LOG_DIR: join(dir, 'console'),
    STRATUS_AGENT_LIBVIRT_URI: 'test:///default',
  });
  const daemon = new AgentDaemon(config);
  t.teardown(() => daemon.db.close());
  t.same(daemon.commands.names, [...AGENT_COMMANDS].sort(), 'registered = catalogue');
  t.same(Object.keys(daemon.operations).sort(), [...AGENT_COMMANDS].sort(), 'one operation per command');
});

t.test('a command outside the catalogue cannot be registered, nor one twice', async (t) => {
  const r = new CommandRegistry();
  t.throws(() => (r.register as (n: string, h: () => Promise<unknown>) => void)('rm-rf', async () => null), {
    message: /not in the command catalogue/,
  });
  r.register('console', async () => ({ text: '' }));
  t.throws(() => r.register('console', async () => ({ text: '' })), { message: /already registered/ });
  t.throws(() => (r.register as (n: string, h: () => Promise<unknown>) => void)('__proto__', async () => null), {
    message: /not in the command catalogue/,
  });
});

t.test('every catalogue entry has object arguments that refuse unknown fields, and a result schema', async (t) => {
  for (const name of AGENT_COMMANDS) {
    const c = commandCatalogue[name];
    t.equal(c.args.type, 'object', `${name}: object arguments`);
    t.equal(c.args.additionalProperties, false, `${name}: unknown argument fields refused`);
    t.ok(c.result, `${name}: a result schema`);
    t.match(c.description, /\w/, `${name}: described`);
    t.same(c.senders, ['controller'], `${name}: only the controller sends it`);
  }
});
