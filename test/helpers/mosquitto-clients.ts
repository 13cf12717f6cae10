// mosquitto_pub and mosquitto_sub as an outsider would run them against a broker: with or without
// credentials, with a CA file for mqtts; the subscriber runs for a bounded time and reports what it got.

import { execFile } from 'node:child_process';

export interface ClientCreds {
  username?: string;
  password?: string;
  cafile?: string;
}

function base(url: string, c: ClientCreds, id: string): string[] {
  const u = new URL(url);
  const args = [
    '-h',
    u.hostname,
    '-p',
    u.port,
    '-i',
    `${id}-${Math.random().toString(36).slice(2, 8)}`,
    '-V',
    'mqttv311',
  ];
  if (c.username) args.push('-u', c.username);
  if (c.password) args.push('-P', c.password);
  if (c.cafile) args.push('--cafile', c.cafile);
  return args;
}

export interface ClientRun {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[]): Promise<ClientRun> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Publishes one message (QoS 1); exit code 0 only if the broker accepted the connection and the publish. */
export function mosquittoPub(url: string, c: ClientCreds, topic: string, message: string): Promise<ClientRun> {
  return run('mosquitto_pub', [...base(url, c, 'pub'), '-q', '1', '-t', topic, '-m', message]);
}

/** Subscribes for `seconds` (-W), printing `topic payload` lines; resolves when it exits. */
export function mosquittoSub(url: string, c: ClientCreds, filter: string, seconds: number): Promise<ClientRun> {
  return run('mosquitto_sub', [...base(url, c, 'sub'), '-q', '1', '-v', '-t', filter, '-W', String(seconds)]);
}
