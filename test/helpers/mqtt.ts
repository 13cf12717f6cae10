// MQTT helpers for tests: a client that records every message it receives (with arrival times) and
// waits for the one a test expects; an in-process controller with its own directory and ports.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { loadControllerConfig } from '../../controller/config.ts';
import { ControllerDaemon } from '../../controller/daemon.ts';
import { freePort } from './agent-process.ts';
import { waitFor } from './wait.ts';

const root = new URL('../..', import.meta.url).pathname;

export interface Received {
  topic: string;
  payload: Buffer;
  json: any;
  at: number;
  retain: boolean;
}

export interface Recorder {
  client: MqttClient;
  messages: Received[];
  waitFor: (what: string, pred: (m: Received) => boolean, timeoutMs?: number) => Promise<Received>;
  end: () => Promise<void>;
}

export async function recorder(url: string, filters: string[], opts: IClientOptions = {}): Promise<Recorder> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 200, ...opts });
  const messages: Received[] = [];
  client.on('message', (topic, payload, packet) => {
    let json: unknown;
    try {
      json = payload.length ? JSON.parse(payload.toString()) : undefined;
    } catch {
      json = undefined;
    }
    messages.push({ topic, payload, json, at: Date.now(), retain: packet.retain });
  });
  if (filters.length) await client.subscribeAsync(filters, { qos: 1 });
  return {
    client,
    messages,
    waitFor: (what, pred, timeoutMs = 15_000) => waitFor(what, () => messages.find(pred), timeoutMs, 10),
    end: () => client.endAsync(true),
  };
}

export interface ControllerHandle {
  daemon: ControllerDaemon;
  dir: string;
  apiUrl: string;
  /** mqtt://host:port of the embedded broker (or the external one). */
  mqttUrl: string;
  logs: () => any[];
  /** The first admin's bearer token (generated into the state directory). */
  adminToken: string;
  /** Broker credentials of an account made by this handle (a host's is named after its host id). */
  account: (username: string, role?: 'host' | 'dashboard' | 'controller') => { username: string; password: string };
  /** The `stratus` CLI as the first admin, pointed at this controller. */
  cli: (args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;
  /** Credentials of a controller-role observer (reads everything, as the controller does). */
  observer: () => { username: string; password: string; clientId: string };
  cleanup: () => Promise<void>;
}

/** Starts a controller in this process; `env` are STRATUS_CONTROLLER_* overrides. */
export async function startController(env: Record<string, string> = {}): Promise<ControllerHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'stratus-controller-test-'));
  const apiPort = await freePort();
  const mqttPort = await freePort();
  const config = loadControllerConfig(undefined, {
    STRATUS_CONTROLLER_CONTROLLER_STATE_DIR: dir,
    STRATUS_CONTROLLER_API_LISTEN: `127.0.0.1:${apiPort}`,
    STRATUS_CONTROLLER_MQTT_LISTEN: `127.0.0.1:${mqttPort}`,
    STRATUS_CONTROLLER_LOG_LEVEL: 'debug',
    ...env,
  });
  const lines: any[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
      cb();
    },
  });
  const daemon = new ControllerDaemon(config, { log: pino({ level: 'debug' }, sink) });
  await daemon.start();
  let observer: { username: string; password: string } | undefined;
  const made = new Map<string, { username: string; password: string }>();
  const adminToken = config.api.admin_token || readFileSync(join(dir, 'admin.token'), 'utf8').trim();
  const apiUrl = `${daemon.access.tlsOn(config.api.listen) ? 'https' : 'http'}://${daemon.apiAddress}`;
  return {
    daemon,
    dir,
    apiUrl,
    mqttUrl: config.mqtt.embedded
      ? `${daemon.access.tlsOn(config.mqtt.listen) ? 'mqtts' : 'mqtt'}://${daemon.broker!.tcpAddress}`
      : config.mqtt.url,
    logs: () => lines,
    adminToken,
    cli: (args) =>
      new Promise((resolve) => {
        execFile(
          process.execPath,
          [join(root, 'bin/stratus.js'), ...args],
          {
            env: {
              ...process.env,
              STRATUS_URL: apiUrl,
              STRATUS_TOKEN: adminToken,
              STRATUS_CA: join(dir, 'tls', 'ca.pem'),
              XDG_CONFIG_HOME: join(dir, 'xdg'),
            },
          },
          (err, stdout, stderr) =>
            resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
      }),
    account: (username, role = 'host') => {
      const a = made.get(username) ?? daemon.accounts.add(username, role);
      made.set(username, a);
      return a;
    },
    observer: () => {
      observer ??= daemon.accounts.add(`observer-${Math.random().toString(36).slice(2, 8)}`, 'controller');
      return { ...observer, clientId: `observer-${Math.random().toString(36).slice(2)}` };
    },
    cleanup: async () => {
      await daemon.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
