// Starts a real stratus-controller process for a test (embedded MQTT broker, own state directory and
// ports), a client for its REST API, the `stratus` CLI pointed at it, and agents attached to it.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AgentHandle, freePort, startAgent } from './agent-process.ts';
import { waitFor } from './wait.ts';
import { track } from './children.ts';
import { type HttpAnswer, httpRequest } from './http-client.ts';

const root = new URL('../..', import.meta.url).pathname;
export const ADMIN_TOKEN = 'st_test_admin_token_0123456789abcdef';

export interface ControllerHandle {
  dir: string;
  url: string;
  mqttUrl: string;
  proc: ChildProcess;
  output: () => string;
  request: (method: string, path: string, body?: unknown, token?: string) => Promise<HttpAnswer>;
  cli: (args: string[], token?: string) => Promise<{ code: number; stdout: string; stderr: string }>;
  /** Starts an agent whose MQTT link points at this controller. */
  agent: (hostId: string, opts?: { uri?: string; extraToml?: string }) => Promise<AgentHandle>;
  kill: (signal?: NodeJS.Signals) => Promise<void>;
  restart: () => Promise<ControllerHandle>;
  cleanup: () => Promise<void>;
}

export interface ControllerOptions {
  dir?: string;
  apiPort?: number;
  mqttPort?: number;
  /** Extra TOML appended to the [scheduler] section, e.g. 'policy = "striping"'. */
  scheduler?: string;
  /** Extra TOML appended to the [mqtt] section, e.g. 'embedded = false' and the external broker's url. */
  mqtt?: string;
  /** Extra TOML appended to the [api] section, e.g. 'auth_failures_max = 3'. */
  api?: string;
  agents?: AgentHandle[];
  /** Extra TOML sections appended to the configuration, e.g. '[volumes]\niscsi_portal = "..."'. */
  extraToml?: string;
  /** [controller] allowed_roots; default: the temporary directory. */
  allowedRoots?: string[];
  /** [log] level; default debug (tests read the logs). Benchmarks run the production default, info. */
  logLevel?: string;
}

/** Node options for the controller process from STRATUS_BENCH_CONTROLLER_NODE_ARGS (benchmarks: --cpu-prof,
 * which NODE_OPTIONS does not allow). */
const controllerNodeArgs = () => (process.env.STRATUS_BENCH_CONTROLLER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);

export async function startController(opts: ControllerOptions = {}): Promise<ControllerHandle> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'stratus-controller-test-'));
  mkdirSync(join(dir, 'state'), { recursive: true });
  const apiPort = opts.apiPort ?? (await freePort());
  const mqttPort = opts.mqttPort ?? (await freePort());
  const config = join(dir, 'controller.toml');
  writeFileSync(
    config,
    `[controller]
state_dir = "${dir}/state"
site = "test"
allowed_roots = ${JSON.stringify(opts.allowedRoots ?? [tmpdir()])}
[mqtt]
listen = "127.0.0.1:${mqttPort}"
host_down_grace_s = 0
${opts.mqtt ?? ''}
[api]
listen = "127.0.0.1:${apiPort}"
admin_token = "${ADMIN_TOKEN}"
${opts.api ?? ''}
[scheduler]
deploy_timeout_s = 300
${opts.scheduler ?? ''}
[log]
level = "${opts.logLevel ?? 'debug'}"
${opts.extraToml ?? ''}
`,
  );
  let out = '';
  const proc = track(
    spawn(process.execPath, [...controllerNodeArgs(), join(root, 'bin/stratus-controller.js'), '--config', config], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  proc.stdout!.on('data', (b) => (out += b));
  proc.stderr!.on('data', (b) => (out += b));
  const url = `http://127.0.0.1:${apiPort}`;
  const agents: AgentHandle[] = opts.agents ?? [];
  const request = (method: string, path: string, body?: unknown, token = ADMIN_TOKEN) =>
    httpRequest(url + path, method, body, token ? { authorization: `Bearer ${token}` } : {});
  const handle: ControllerHandle = {
    dir,
    url,
    mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
    proc,
    output: () => out,
    request,
    cli: (args, token = ADMIN_TOKEN) =>
      new Promise((resolve) => {
        execFile(
          process.execPath,
          [join(root, 'bin/stratus.js'), ...args],
          { env: { ...process.env, STRATUS_URL: url, STRATUS_TOKEN: token, XDG_CONFIG_HOME: join(dir, 'xdg') } },
          (err, stdout, stderr) =>
            resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
      }),
    agent: async (hostId, a = {}) => {
      // enrolled as an admin would: `stratus host add`, then the agent joins at its first start
      let enrol = await request('POST', '/v1/hosts', { name: hostId });
      if (enrol.status === 409) {
        await request('POST', `/v1/hosts/${hostId}/revoke`, {});
        enrol = await request('POST', '/v1/hosts', { name: hostId });
      }
      if (enrol.status !== 201)
        throw new Error(`cannot enrol ${hostId}: ${enrol.status} ${JSON.stringify(enrol.body)}`);
      const agent = await startAgent({
        uri: a.uri ?? 'qemu:///system',
        resyncS: 300,
        extraToml: `[join]\nurl = "${url}"\ntoken = "${enrol.body.token}"\n[mqtt]\nmetrics_interval_s = 2\nkeepalive_s = 5\n${a.extraToml ?? ''}`,
        env: { STRATUS_AGENT_AGENT_HOST_ID: hostId },
      });
      agents.push(agent);
      await agent.waitReady();
      await waitFor(
        `host ${hostId} to be up in the controller`,
        async () => {
          const r = await request('GET', `/v1/hosts/${hostId}`);
          return r.status === 200 && r.body.up ? true : undefined;
        },
        30_000,
        100,
      );
      return agent;
    },
    kill: async (signal = 'SIGTERM') => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill(signal);
      await exited;
    },
    restart: async () => {
      await handle.kill('SIGTERM');
      return startController({ ...opts, dir, apiPort, mqttPort, agents });
    },
    cleanup: async () => {
      for (const a of agents) await a.cleanup();
      await handle.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await waitFor(
      'the controller API',
      async () => {
        if (proc.exitCode !== null) throw new Error(`controller exited (${proc.exitCode}):\n${out}`);
        const r = await request('GET', '/v1/health').catch(() => undefined);
        return r?.status === 200 ? true : undefined;
      },
      30_000,
      100,
    );
  } catch (err) {
    await handle.kill('SIGKILL'); // a start that is given up leaves no process behind
    throw err;
  }
  return handle;
}
