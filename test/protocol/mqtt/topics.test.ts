// tier: unit
import t from 'tap';
import { filterCovered } from '../../../controller/mqtt/acl.ts';
import {
  decode,
  HostEvent,
  MalformedMessageError,
  parseTopic,
  topicMatches,
  topics,
} from '../../../protocol/mqtt/index.ts';

t.test('topics are built and parsed back; foreign or malformed topics are not ours', async (t) => {
  const vm = '3f1c2a9e-1b2c-4d5e-8f90-1234567890ab';
  t.same(parseTopic(topics.hostStatus('hv-1')), { kind: 'status', host: 'hv-1' });
  t.same(parseTopic(topics.vmState('hv-1', vm)), { kind: 'vm-state', host: 'hv-1', id: vm });
  t.same(parseTopic(topics.hostInventory('hv-1')), { kind: 'inventory', host: 'hv-1' });
  t.same(parseTopic(topics.reply('hv-1', 'abc')), { kind: 'reply', host: 'hv-1', id: 'abc' });
  t.same(parseTopic(topics.command('hv-1', 'deploy')), { kind: 'command', host: 'hv-1', id: 'deploy' });
  t.equal(parseTopic('stratus/v2/hosts/hv-1/status'), undefined, 'other protocol version');
  t.equal(parseTopic('stratus/v1/hosts/hv-1/nonsense'), undefined);
  t.equal(parseTopic('stratus/v1/hosts/-bad/status'), undefined, 'invalid host id');
  t.equal(parseTopic('other/thing'), undefined);
});

t.test('MQTT wildcards match as brokers do, and ACL coverage of filters is strict', async (t) => {
  t.ok(topicMatches('stratus/v1/hosts/+/status', 'stratus/v1/hosts/a/status'));
  t.ok(topicMatches('stratus/v1/hosts/#', 'stratus/v1/hosts/a/vms/x/state'));
  t.notOk(topicMatches('stratus/v1/hosts/+/status', 'stratus/v1/hosts/a/b/status'));
  t.notOk(topicMatches('stratus/v1/cmd/a/#', 'stratus/v1/cmd/b/deploy'));
  t.ok(filterCovered('stratus/v1/hosts/#', 'stratus/v1/hosts/+/status'));
  t.ok(filterCovered('stratus/v1/cmd/a/#', 'stratus/v1/cmd/a/+'));
  t.notOk(filterCovered('stratus/v1/cmd/a/#', 'stratus/v1/cmd/+/deploy'), '+ reaches other hosts');
  t.notOk(filterCovered('stratus/v1/cmd/a/#', 'stratus/v1/#'), '# wider than allowed');
  t.notOk(filterCovered('stratus/v1/hosts/a/status', 'stratus/v1/hosts/a/#'));
});

t.test('decode rejects oversized, non-JSON, wrong-version and schema-violating payloads with a reason', async (t) => {
  const good = { v: 1, ts: 1, host: 'h', session: 1, seq: 1, kind: 'vm.state', severity: 'info', message: 'x' };
  t.same(decode(HostEvent, Buffer.from(JSON.stringify(good))), good);
  const reason = (buf: Buffer, max?: number) => {
    try {
      decode(HostEvent, buf, max);
      return 'accepted';
    } catch (err) {
      t.type(err, MalformedMessageError);
      return (err as MalformedMessageError).reason;
    }
  };
  t.equal(reason(Buffer.from('{nope')), 'bad-json');
  t.equal(reason(Buffer.from(JSON.stringify({ ...good, v: 2 }))), 'bad-version');
  t.equal(reason(Buffer.from(JSON.stringify({ ...good, severity: 'loud' }))), 'bad-schema');
  t.equal(reason(Buffer.from(JSON.stringify(good)), 10), 'oversized');
  t.equal(reason(Buffer.from('null')), 'bad-version');
  // the fast compiled check lets good payloads through; a failing one still gets its fields named
  t.throws(() => decode(HostEvent, Buffer.from(JSON.stringify({ ...good, severity: 'loud', seq: 'x' }))), {
    message: /\/severity.*\/seq|\/seq.*\/severity/,
  });
});
