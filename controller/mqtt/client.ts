// The controller's own MQTT connection: to the embedded broker (over TCP on its listen address, or
// the /mqtt WebSocket endpoint when TCP is off) or to the external broker of [mqtt] url, with
// username/password and TLS files from the configuration.

import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { ConfigError } from '../../common/errors.ts';
import type { ControllerConfig } from '../config.ts';

export interface ControllerMqttTarget {
  url: string;
  username?: string | undefined;
  password?: string | undefined;
  /** CA (PEM) to verify the broker with, instead of [mqtt] tls_ca (the embedded broker: the site CA). */
  ca?: string | undefined;
}

function readPem(path: string, what: string): Buffer | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(`cannot read [mqtt] ${what} ${path}: ${(err as Error).message}`, { path });
  }
}

export function controllerMqttOptions(config: ControllerConfig, target: ControllerMqttTarget): IClientOptions {
  const m = config.mqtt;
  const opts: IClientOptions = {
    protocolVersion: 4,
    // A persistent session: the broker keeps the controller's subscription and queues QoS 1 messages
    // (events, VM states, replies) while it is away, including across broker restarts when the
    // broker persists sessions (mosquitto: persistence true).
    clientId: `stratus-controller-${config.controller.site}`,
    clean: false,
    keepalive: 30,
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
    resubscribe: true,
  };
  if (target.username) opts.username = target.username;
  if (target.password) opts.password = target.password;
  const ca = target.ca ? Buffer.from(target.ca) : readPem(m.tls_ca, 'tls_ca');
  const cert = readPem(m.tls_cert, 'tls_cert');
  const key = readPem(m.tls_key, 'tls_key');
  if (ca) opts.ca = ca;
  if (cert) opts.cert = cert;
  if (key) opts.key = key;
  return opts;
}

/** Connects and resolves once the first CONNACK arrives; later drops reconnect on their own. */
export async function connectController(config: ControllerConfig, target: ControllerMqttTarget): Promise<MqttClient> {
  return mqtt.connectAsync(target.url, controllerMqttOptions(config, target));
}
