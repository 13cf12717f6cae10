// Crash tests of journaled operations: one agent state directory on a private mosquitto, an agent that
// is started with a crash point armed (STRATUS_TEST_CRASH_AT), sent one command over MQTT and
// SIGKILLed at that step, then restarted clean; commands are sent with explicit idempotency keys, as
// the controller resends them, and the journal entry of a key is read from the agent database.

import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { topics } from '../../protocol/mqtt/index.ts';
import { type AgentHandle, startAgent } from './agent-process.ts';
import { startMosquitto } from './mosquitto.ts';
import { type Recorder, recorder } from './mqtt.ts';

export interface CrashRig {
  readonly agent: AgentHandle;
  host: string;
  rec: Recorder;
  /** Starts (or restarts: SIGTERM first) the agent on the same state directory, `crashAt` armed if given. */
  start(crashAt?: string): Promise<AgentHandle>;
  /** Waits until the agent answers control requests (recovery done). */
  recovered(vmId: string): Promise<void>;
  send(command: string, args: unknown, key: string): string;
  result(id: string, timeoutMs?: number): Promise<any>;
  /** Arms `point`, sends the command and waits for the agent to die there; false if it did not. */
  crash(point: string, command: string, args: unknown, key: string): Promise<boolean>;
  /** The first journal entry of a key (the one a crash cut), read from the agent database. */
  journal(key: string): { kind: string; status: string; steps: string[]; error: unknown } | undefined;
  cleanup(): Promise<void>;
}

export async function crashRig(opts: { extraToml?: string } = {}): Promise<CrashRig> {
  const broker = await startMosquitto();
  const host = `crash-${randomUUID().slice(0, 8)}`;
  const rec = await recorder(broker.url, [`stratus/v1/hosts/${host}/#`]);
  const toml = `[mqtt]\nurl = "${broker.url}"\nkeepalive_s = 5\nreconnect_max_s = 1\n${opts.extraToml ?? ''}`;
  let agent: AgentHandle | undefined;
  const rig: CrashRig = {
    get agent() {
      return agent!;
    },
    host,
    rec,
    async start(crashAt) {
      await agent?.kill('SIGTERM'); // one agent at a time on the state directory
      const from = rec.messages.length;
      agent = await startAgent({
        ...(agent ? { dir: agent.dir } : {}),
        hostId: host,
        resyncS: 300,
        extraToml: toml,
        env: crashAt ? { STRATUS_TEST_FAULTS: '1', STRATUS_TEST_CRASH_AT: crashAt } : {},
      });
      await agent.waitReady();
      await rec.waitFor(
        'agent online',
        (m) => rec.messages.indexOf(m) >= from && m.topic === topics.hostStatus(host) && m.json?.state === 'online',
      );
      return agent;
    },
    async recovered(vmId) {
      const end = Date.now() + 60_000;
      while (Date.now() < end) {
        if ((await agent!.request('GET', `/v1/vms/${vmId}/volumes`)).status !== 503) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`agent still recovering after 60 s:\n${agent!.output()}`);
    },
    send(command, args, key) {
      const id = randomUUID();
      const msg = { v: 1, ts: Date.now(), id, key, command, args, deadline: Date.now() + 120_000 };
      rec.client.publish(topics.command(host, command), JSON.stringify(msg), { qos: 1 });
      return id;
    },
    result: (id, timeoutMs = 60_000) =>
      rec
        .waitFor(`result of ${id}`, (m) => m.topic === topics.reply(host, id) && m.json?.type === 'result', timeoutMs)
        .then((m) => m.json),
    async crash(point, command, args, key) {
      const a = await rig.start(point);
      const proc = a.proc;
      const exited = new Promise((r) =>
        proc.exitCode !== null || proc.signalCode !== null ? r(0) : proc.once('exit', r),
      );
      rig.send(command, args, key);
      await Promise.race([exited, new Promise((r) => setTimeout(r, 60_000))]);
      return proc.signalCode === 'SIGKILL' && a.output().includes(`crash point ${point} reached`);
    },
    journal(key) {
      const db = new Database(join(agent!.dir, 'state', 'agent.db'), { readonly: true, fileMustExist: true });
      try {
        const r = db.prepare('SELECT * FROM operations WHERE key = ? ORDER BY id LIMIT 1').get(key) as
          | { kind: string; status: string; steps: string; error: string | null }
          | undefined;
        if (!r) return undefined;
        const steps = (JSON.parse(r.steps) as { step: string }[]).map((s) => s.step);
        return { kind: r.kind, status: r.status, steps, error: r.error ? JSON.parse(r.error) : undefined };
      } finally {
        db.close();
      }
    },
    async cleanup() {
      await agent?.cleanup();
      await rec.end();
      await broker.cleanup();
    },
  };
  return rig;
}
