// tier: unit
// The controller reads its embedded broker in-process: messages retained before it subscribed are
// handed over first, then every new one as it is published, without a connection of its own; topics
// outside the filter never reach it, and a consumer that throws does not stop the ones after.
import mqtt from 'mqtt';
import pino from 'pino';
import t, { type Test } from 'tap';
import { EmbeddedBroker } from '../../../controller/mqtt/broker.ts';

/** A broker on a free loopback port and a client of it, both ended with the test. */
async function brokerAndClient(t: Test) {
  const broker = new EmbeddedBroker({ log: pino({ level: 'silent' }), listen: '127.0.0.1:0', wsListen: '' });
  await broker.start();
  t.teardown(() => broker.stop());
  const client = await mqtt.connectAsync(`mqtt://${broker.tcpAddress}`, { protocolVersion: 4 });
  t.teardown(() => client.endAsync(true));
  return { broker, client };
}

t.test('retained messages first, then live ones, only those of the filter', async (t) => {
  const { broker, client } = await brokerAndClient(t);
  await client.publishAsync('stratus/v1/hosts/h1/status', '{"early":true}', { retain: true, qos: 1 });
  await client.publishAsync('elsewhere/x', 'no', { retain: true, qos: 1 });
  const got: [string, string][] = [];
  await broker.consume('stratus/v1/hosts/#', (topic, payload) => got.push([topic, payload.toString()]));
  t.same(got, [['stratus/v1/hosts/h1/status', '{"early":true}']], 'the retained message, handed over at once');
  await client.publishAsync('stratus/v1/hosts/h1/metrics', '{"n":1}', { qos: 0 });
  await client.publishAsync('stratus/v1/hosts/h2/events', '{"n":2}', { qos: 1 });
  await client.publishAsync('elsewhere/y', 'no', { qos: 1 });
  const until = Date.now() + 5000;
  while (got.length < 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  t.same(got.slice(1), [
    ['stratus/v1/hosts/h1/metrics', '{"n":1}'],
    ['stratus/v1/hosts/h2/events', '{"n":2}'],
  ]);
});

t.test('a consumer that throws is logged; the broker and later messages go on', async (t) => {
  const { broker, client } = await brokerAndClient(t);
  const got: string[] = [];
  await broker.consume('stratus/v1/hosts/#', (_topic, payload) => {
    if (payload.toString() === 'bad') throw new Error('boom');
    got.push(payload.toString());
  });
  await client.publishAsync('stratus/v1/hosts/h1/events', 'bad', { qos: 1 });
  await client.publishAsync('stratus/v1/hosts/h1/events', 'good', { qos: 1 });
  const until = Date.now() + 5000;
  while (got.length < 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  t.same(got, ['good']);
});
