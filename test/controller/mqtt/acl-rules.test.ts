// tier: unit
// The broker's access rules (controller/mqtt/acl.ts) without a broker: every role × every topic kind of the
// protocol × publish and subscribe, on the principal's own host and on another host, from the table below;
// wildcard subscriptions; the mosquitto ACL rendered from the same rules; account names that could smuggle
// wildcards into a rule; and authentication. test/controller/mqtt/acl.test.ts checks the same rules on a
// real mosquitto and on the embedded broker.
import t from 'tap';
import {
  AccountAuth,
  filterCovered,
  mayPublish,
  maySubscribe,
  renderMosquittoAcl,
  rulesFor,
} from '../../../controller/mqtt/acl.ts';
import { MqttAccounts, hashPassword, verifyPassword } from '../../../controller/mqtt/accounts.ts';
import type { BrokerPrincipal, BrokerRole } from '../../../controller/mqtt/broker.ts';
import { openDatabase } from '../../../common/sqlite.ts';
import { parseTopic, type TopicKind, topics } from '../../../protocol/mqtt/index.ts';

const OWN = 'host-a';
const OTHER = 'host-b';
const principals: Record<BrokerRole, BrokerPrincipal> = {
  controller: { username: 'ctl', role: 'controller' },
  host: { username: OWN, role: 'host' },
  dashboard: { username: 'dash', role: 'dashboard' },
  anonymous: { username: '', role: 'anonymous' },
};

/** One concrete topic of each kind, on host `h`. */
const TOPIC_OF: Record<TopicKind, (h: string) => string> = {
  status: topics.hostStatus,
  info: topics.hostInfo,
  metrics: topics.hostMetrics,
  events: topics.hostEvents,
  inventory: topics.hostInventory,
  'vm-metrics': topics.vmMetrics,
  'vm-state': (h) => topics.vmState(h, '3f1b6c2e-8d4a-4b7e-9c1d-2a5e6f708192'),
  reply: (h) => topics.reply(h, 'c0ffee00-0000-4000-8000-000000000001'),
  command: (h) => topics.command(h, 'deploy'),
};

// Who may publish to / subscribe to each kind of topic: on every host (all), only on the principal's own
// host (own: the host account named like the host), or on none (-).
type Scope = 'all' | 'own' | '-';
const RULES: Record<TopicKind, { publish: Record<BrokerRole, Scope>; subscribe: Record<BrokerRole, Scope> }> = {
  status: {
    publish: { controller: '-', host: 'own', dashboard: '-', anonymous: '-' },
    subscribe: { controller: 'all', host: 'own', dashboard: 'all', anonymous: 'all' },
  },
  info: {
    publish: { controller: '-', host: 'own', dashboard: '-', anonymous: '-' },
    subscribe: { controller: 'all', host: '-', dashboard: 'all', anonymous: 'all' },
  },
  metrics: {
    publish: { controller: '-', host: 'own', dashboard: '-', anonymous: '-' },
    subscribe: { controller: 'all', host: '-', dashboard: 'all', anonymous: 'all' },
  },
  events: {
    publish: { controller: '-', host: 'own', dashboard: '-', anonymous: '-' },
    subscribe: { controller: 'all', host: '-', dashboard: 'all', anonymous: '-' },
  },
  inventory: {
    publish: { controller: '-', host: 'own', dashboard: '-', anonymous: '-' },
    subscribe: { controller: 'all', host: '-', dashboard: 'all', anonymous: '-' },
  },
  'vm-metrics': {
    publish: { controller: '-', host: 'own', dashboard: '-', anonymous: '-' },
    subscribe: { controller: 'all', host: '-', dashboard: 'all', anonymous: 'all' },
  },
  'vm-state': {
    publish: { controller: '-', host: 'own', dashboard: '-', anonymous: '-' },
    subscribe: { controller: 'all', host: '-', dashboard: 'all', anonymous: 'all' },
  },
  // replies may carry what a command returned: the controller's only (issue 13)
  reply: {
    publish: { controller: '-', host: 'own', dashboard: '-', anonymous: '-' },
    subscribe: { controller: 'all', host: '-', dashboard: '-', anonymous: '-' },
  },
  command: {
    publish: { controller: 'all', host: '-', dashboard: '-', anonymous: '-' },
    subscribe: { controller: 'all', host: 'own', dashboard: '-', anonymous: '-' },
  },
};

const permits = (scope: Scope, host: string) => scope === 'all' || (scope === 'own' && host === OWN);

t.test('the table names every topic kind, and each sample topic parses as its kind', async (t) => {
  for (const [kind, topicOf] of Object.entries(TOPIC_OF)) {
    t.match(parseTopic(topicOf(OWN)), { kind, host: OWN }, `${kind}: ${topicOf(OWN)}`);
  }
  const builders = Object.keys(topics).filter((k) => !k.endsWith('Prefix'));
  t.equal(builders.length, Object.keys(TOPIC_OF).length, `topics.* (${builders.join(', ')}) all have a row`);
});

t.test('publish: every role × topic kind × own or other host', async (t) => {
  for (const [kind, rule] of Object.entries(RULES) as [TopicKind, (typeof RULES)[TopicKind]][]) {
    for (const [role, p] of Object.entries(principals) as [BrokerRole, BrokerPrincipal][]) {
      for (const host of [OWN, OTHER]) {
        const topic = TOPIC_OF[kind](host);
        const want = permits(rule.publish[role], host);
        t.equal(mayPublish(p, topic), want, `${role} ${want ? 'may' : 'may not'} publish ${topic}`);
      }
    }
  }
});

t.test('subscribe: every role × topic kind × own or other host', async (t) => {
  for (const [kind, rule] of Object.entries(RULES) as [TopicKind, (typeof RULES)[TopicKind]][]) {
    for (const [role, p] of Object.entries(principals) as [BrokerRole, BrokerPrincipal][]) {
      for (const host of [OWN, OTHER]) {
        const topic = TOPIC_OF[kind](host);
        const want = permits(rule.subscribe[role], host);
        t.equal(maySubscribe(p, topic), want, `${role} ${want ? 'may' : 'may not'} subscribe to ${topic}`);
      }
    }
  }
});

t.test('wildcard subscriptions are allowed only when every topic they match is', async (t) => {
  // filter → [controller, host, dashboard, anonymous]
  const WILDCARDS: [string, boolean, boolean, boolean, boolean][] = [
    ['#', false, false, false, false],
    ['stratus/#', false, false, false, false],
    ['stratus/v1/#', true, false, false, false],
    ['stratus/v1/hosts/#', true, false, false, false],
    ['stratus/v1/hosts/+/replies/+', true, false, false, false],
    [`stratus/v1/hosts/${OWN}/#`, true, false, false, false],
    [`stratus/v1/hosts/${OWN}/+`, true, false, false, false],
    ['stratus/v1/hosts/+/status', true, false, true, true],
    ['stratus/v1/hosts/+/events', true, false, true, false],
    ['stratus/v1/hosts/+/vms/+/state', true, false, true, true],
    ['stratus/v1/cmd/#', true, false, false, false],
    [`stratus/v1/cmd/${OWN}/+`, true, true, false, false],
    [`stratus/v1/cmd/${OWN}/#`, true, true, false, false],
    [`stratus/v1/cmd/${OTHER}/+`, true, false, false, false],
    ['stratus/v1/cmd/+/deploy', true, false, false, false],
    [`+/v1/cmd/${OWN}/deploy`, false, false, false, false],
    [`stratus/+/cmd/${OWN}/deploy`, false, false, false, false],
    [`stratus/v1/+/${OWN}/deploy`, true, false, false, false],
  ];
  for (const [filter, ...want] of WILDCARDS) {
    (['controller', 'host', 'dashboard', 'anonymous'] as const).forEach((role, i) => {
      t.equal(
        maySubscribe(principals[role], filter),
        want[i],
        `${role} ${want[i] ? 'may' : 'may not'} subscribe to ${filter}`,
      );
    });
  }
});

t.test('filterCovered: wildcards in the request never widen what the rule allows', async (t) => {
  t.ok(filterCovered('a/#', 'a'), 'a/# covers its parent level (MQTT semantics)');
  t.ok(filterCovered('a/+/c', 'a/b/c'));
  t.notOk(filterCovered('a/+/c', 'a/+/d'));
  t.notOk(filterCovered('a/b', 'a/+'), '+ asks for more than one name');
  t.notOk(filterCovered('a/b/#', 'a/#'), '# above the allowed level');
  t.notOk(filterCovered('a/b', 'a/b/c'), 'deeper than allowed');
  t.notOk(filterCovered('a/b/c', 'a/b'), 'shallower than allowed');
});

t.test('the mosquitto ACL for anonymous clients: telemetry only, and only with allow_anonymous', async (t) => {
  t.notMatch(renderMosquittoAcl([]), /^topic /m, 'nothing for anonymous clients by default');
  const acl = renderMosquittoAcl([], true);
  const lines = acl.split('\n').filter((l) => l.startsWith('topic '));
  t.same(
    lines,
    rulesFor(principals.anonymous).read.map((f) => `topic read ${f}`),
  );
  t.notMatch(acl, /replies|events|cmd/, 'never replies, events or commands');
});

t.test('the mosquitto ACL is rendered from the same rules, one block per account', async (t) => {
  const accounts = (Object.values(principals) as BrokerPrincipal[])
    .filter((p) => p.role !== 'anonymous')
    .map((p) => ({ ...p, hash: 'x' }));
  const acl = renderMosquittoAcl(accounts);
  t.notMatch(acl, /^pattern /m, 'no pattern lines (they apply to every user)');
  for (const p of accounts) {
    const r = rulesFor(p);
    const block = acl
      .split('\n\n')
      .find((b) => b.includes(`\nuser ${p.username}\n`) || b.startsWith(`# ${p.role}\nuser ${p.username}`));
    t.ok(block, `a block for ${p.username}`);
    const lines = block!.split('\n').filter((l) => l.startsWith('topic '));
    t.same(
      lines,
      [...r.write.map((f) => `topic write ${f}`), ...r.read.map((f) => `topic read ${f}`)],
      `${p.username}: its rules`,
    );
  }
});

t.test('account names that would put a wildcard or a level into a rule are refused', async (t) => {
  const db = openDatabase(':memory:');
  t.teardown(() => db.close());
  const accounts = new MqttAccounts(db);
  for (const bad of ['+', '#', 'a/b', 'host-a/#', '', '-x', 'a b', 'x'.repeat(65), 'é', 'a\u0000']) {
    t.throws(() => accounts.add(bad, 'host'), { code: 'STRATUS_ERR_VALIDATION' }, `refused: ${JSON.stringify(bad)}`);
  }
  t.same(accounts.list(), [], 'nothing created');
});

t.test('authentication: accounts by hash, the controller session by its secret, nothing else', async (t) => {
  const hash = hashPassword('s3cret');
  t.ok(verifyPassword('s3cret', hash));
  t.notOk(verifyPassword('s3cret ', hash));
  t.notOk(verifyPassword('s3cret', 'plain'), 'a hash of another kind never verifies');
  const options = {
    lookup: (u: string) => (u === OWN ? { username: OWN, role: 'host' as const, hash } : undefined),
    verify: verifyPassword,
    internal: { username: 'internal', secret: 'internal-secret' },
  };
  const auth = new AccountAuth(options);
  const pw = (s: string) => Buffer.from(s);
  t.same(auth.authenticate(OWN, pw('s3cret')), { username: OWN, role: 'host' });
  t.same(auth.authenticate('internal', pw('internal-secret')), { username: 'internal', role: 'controller' });
  t.equal(auth.authenticate(OWN, pw('wrong')), undefined, 'wrong password');
  t.equal(auth.authenticate(OWN, undefined), undefined, 'no password');
  t.equal(auth.authenticate(undefined, pw('s3cret')), undefined, 'no username');
  t.equal(auth.authenticate('nobody', pw('s3cret')), undefined, 'unknown user');
  t.equal(auth.authenticate('internal', pw('s3cret')), undefined, "the controller's name with another password");
  t.equal(auth.authenticate(undefined, undefined), undefined, 'no credentials: refused by default');
  t.same(
    new AccountAuth({ ...options, allowAnonymous: true }).authenticate(undefined, undefined),
    { username: '', role: 'anonymous' },
    'allow_anonymous: a read-only anonymous principal',
  );
  t.ok(auth.canPublish({ username: OWN, role: 'host' }, topics.hostStatus(OWN)));
  t.notOk(auth.canSubscribe({ username: OWN, role: 'host' }, topics.command(OTHER, 'stop')));
});
