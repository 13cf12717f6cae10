// The MQTT command fuzzer: every command of the protocol catalogue sent to a real agent over the broker,
// with arguments built from the command's schema and made hostile (values.ts), plus envelopes that are
// wrong (missing fields, another protocol version, a past deadline, huge keys, truncated or non-JSON
// payloads, unknown command names). Properties: the agent process keeps running; a well-formed command
// gets a result reply, and an error reply is a 4xx-class error, never an internal one (status >= 500 other
// than the documented upstream ones); a command that failed, or a message that was not a command, changed
// nothing in the agent's VM list.
import type { TSchema } from '@sinclair/typebox';
import fc from 'fast-check';
import mqtt, { type MqttClient } from 'mqtt';
import { commandCatalogue as catalogue } from '../../../protocol/mqtt/command-catalogue.ts';
import { topics } from '../../../protocol/mqtt/index.ts';
import type { AgentHandle } from '../agent-process.ts';
import { fromSchema, mutate, nastyString, nastyValue } from './values.ts';

/** The agent's commands and their argument schemas, from the protocol's command catalogue. */
export function commandCatalogue(): Record<string, TSchema> {
  return Object.fromEntries(
    Object.entries(catalogue as Record<string, { args: TSchema }>).map(([n, c]) => [n, c.args]),
  );
}

export interface MqttCase {
  command: string;
  /** The raw payload to publish. */
  payload: string;
  /** Whether the payload is a well-formed command envelope the agent must answer. */
  answerable: boolean;
  id: string;
}

export interface MqttStats {
  cases: number;
  server_errors: number;
  crashes: number;
  created_by_invalid: number;
  /** Well-formed commands that got no result in time (slow operations); not a failure by itself. */
  unanswered: number;
  outcomes: Record<string, number>;
  findings: { what: string; command: string; payload: string; detail: string }[];
}

/** Statuses an agent may legitimately answer with: client errors, and upstream trouble it names. */
const UPSTREAM = new Set([502, 503, 504, 507]);

/** Placeholder replaced with now + 60 s when the case is sent (cases are generated long before). */
const LATER = 4_000_000_000_000;

export function mqttCase(catalogue: Record<string, TSchema>, vmIds: string[]): fc.Arbitrary<MqttCase> {
  const names = Object.keys(catalogue);
  const uuidish = fc.oneof(fc.constantFrom(...vmIds), fc.uuid({ version: 4 }));
  return fc
    .tuple(
      fc.oneof(
        { weight: 9, arbitrary: fc.constantFrom(...names) },
        { weight: 1, arbitrary: fc.constantFrom('nope', 'deploy2', 'x') },
      ),
      fc.nat(),
      fc.integer({ min: 0, max: 9 }),
      nastyValue,
      nastyString,
      uuidish,
    )
    .chain(([command, n, variant, junk, junkString, vm]) => {
      const schema = catalogue[command] as Record<string, unknown> | undefined;
      const args = mutate(fromSchema(schema, {})).map((a) =>
        a && typeof a === 'object' && !Array.isArray(a) && 'vm' in a && n % 2 === 0 ? { ...a, vm } : a,
      );
      return args.map((a) => {
        const id = `fz-${n.toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
        const env = { v: 1, ts: 0, id, key: `key-${id}`, command, args: a, deadline: LATER };
        let payload: string;
        let answerable = true;
        switch (variant) {
          case 0:
            payload = JSON.stringify({ ...env, v: 2 });
            answerable = false;
            break;
          case 1:
            payload = JSON.stringify({ ...env, deadline: 1 });
            break; // answered with a deadline error
          case 2:
            payload = JSON.stringify(env).slice(0, n % 60);
            answerable = false;
            break;
          case 3:
            payload = JSON.stringify({ ...env, key: junkString.length ? junkString : 'k', id: undefined });
            answerable = false;
            break;
          case 4:
            payload = JSON.stringify(junk) ?? 'null';
            answerable = false;
            break;
          case 5:
            payload = JSON.stringify({ ...env, args: junk });
            break;
          default:
            payload = JSON.stringify(env);
        }
        return { command, payload, answerable, id };
      });
    });
}

export interface MqttTarget {
  agent: AgentHandle;
  hostId: string;
  mqttUrl: string;
  /** A controller-role broker account: only the controller may command hosts. */
  account: { username: string; password: string };
  /** Whether the controller has a record of this VM (then the controller deployed it). */
  controllerVm?: (id: string) => boolean;
}

async function vmList(agent: AgentHandle): Promise<Set<string>> {
  const r = await agent.request('GET', '/v1/vms');
  const items = (r.body?.items ?? r.body ?? []) as { id: string }[];
  if (!Array.isArray(items)) throw new Error(`agent VM list: ${r.status} ${JSON.stringify(r.body)}`);
  return new Set(items.map((v) => v.id));
}

/** Publishes the cases one at a time and checks the agent after each. */
export async function runMqttCases(t: MqttTarget, cases: MqttCase[], replyTimeoutMs = 15_000): Promise<MqttStats> {
  const stats: MqttStats = {
    cases: 0,
    server_errors: 0,
    crashes: 0,
    created_by_invalid: 0,
    unanswered: 0,
    outcomes: {},
    findings: [],
  };
  // the host is enrolled: the controller may first deploy VMs that wait for a host (the fixtures);
  // let that settle, so that only VMs made by a fuzzed command count
  let last = [...(await vmList(t.agent))].sort().join();
  for (let stable = 0, i = 0; stable < 5 && i < 60; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = [...(await vmList(t.agent))].sort().join();
    stable = now === last ? stable + 1 : 0;
    last = now;
  }
  const client: MqttClient = await mqtt.connectAsync(t.mqttUrl, {
    protocolVersion: 4,
    reconnectPeriod: 200,
    username: t.account.username,
    password: t.account.password,
    clientId: `fuzz-${process.pid}-${Date.now()}`,
  });
  const waiting = new Map<string, (reply: any) => void>();
  client.on('message', (_topic, payload) => {
    let reply: any;
    try {
      reply = JSON.parse(payload.toString());
    } catch {
      return;
    }
    if (reply?.type === 'result') waiting.get(reply.id)?.(reply);
  });
  await client.subscribeAsync(`${topics.hostPrefix(t.hostId)}/replies/+`, { qos: 1 });
  const alive = () => t.agent.proc.exitCode === null && t.agent.proc.signalCode === null;
  /** A well-formed command whose reply proves the agent read everything published before it. */
  const marker = async () => {
    const id = `fz-marker-${Math.random().toString(36).slice(2)}`;
    const got = new Promise<any>((resolve) => waiting.set(id, resolve));
    const env = {
      v: 1,
      ts: Date.now(),
      id,
      key: id,
      command: 'console',
      args: { vm: '00000000-0000-4000-8000-000000000000' },
      deadline: Date.now() + 60_000,
    };
    await client.publishAsync(topics.command(t.hostId, 'console'), JSON.stringify(env), { qos: 1 });
    const r = await Promise.race([got, new Promise((r) => setTimeout(() => r(undefined), replyTimeoutMs))]);
    waiting.delete(id);
    return r;
  };
  try {
    let before = await vmList(t.agent);
    for (const k of cases) {
      stats.cases++;
      const got = new Promise<any>((resolve) => waiting.set(k.id, resolve));
      const now = Date.now();
      const payload = k.payload.replaceAll(String(LATER), String(now + 60_000)).replace('"ts":0,', `"ts":${now},`);
      await client.publishAsync(topics.command(t.hostId, k.command), payload, { qos: 1 });
      const reply = k.answerable
        ? await Promise.race([got, new Promise((r) => setTimeout(() => r(undefined), replyTimeoutMs))])
        : await marker();
      waiting.delete(k.id);
      if (!alive()) {
        stats.crashes++;
        stats.findings.push({
          what: 'crash',
          command: k.command,
          payload: k.payload.slice(0, 400),
          detail: t.agent.output().slice(-2000),
        });
        break;
      }
      let failed = !k.answerable;
      if (k.answerable && reply === undefined) {
        stats.unanswered++;
        failed = false; // still running: not known to have failed
      } else if (k.answerable) {
        const outcome = reply.ok ? 'ok' : `${reply.error?.status} ${reply.error?.code}`;
        stats.outcomes[outcome] = (stats.outcomes[outcome] ?? 0) + 1;
        if (!reply.ok) {
          failed = true;
          const status = Number(reply.error?.status);
          if (!(status >= 400 && status < 500) && !UPSTREAM.has(status)) {
            stats.server_errors++;
            stats.findings.push({
              what: 'server_error',
              command: k.command,
              payload: k.payload.slice(0, 400),
              detail: JSON.stringify(reply.error).slice(0, 400),
            });
          }
        }
      }
      const after = await vmList(t.agent);
      // a VM the controller has a record of was deployed by the controller (it places waiting VMs on
      // the enrolled host), not made by the fuzzed command
      const created = [...after].filter((id) => !before.has(id) && !t.controllerVm?.(id));
      if (failed && created.length) {
        stats.created_by_invalid++;
        stats.findings.push({
          what: 'created_by_invalid',
          command: k.command,
          payload: k.payload.slice(0, 400),
          detail: `new VMs ${created.join(', ')}`,
        });
      }
      before = after;
    }
  } finally {
    await client.endAsync(true);
  }
  return stats;
}
