// The site's external MQTT broker when the fault suite runs on mosquitto (`broker: 'mosquitto'`): a real
// mosquitto (test/helpers/mosquitto.ts: its own port, persistence on) with the password and ACL files the
// controller generates from its broker accounts (controller/mqtt/mosquitto-files.ts), as an operator
// runs it (docs/monitoring.md): the controller's own account is made before its first start, and the
// files are written again and mosquitto reloaded (SIGHUP) after each host joins. A kill is followed by
// a start on the same port with the same configuration and persistence directory.

import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ControllerDb } from '../../controller/db.ts';
import { MqttAccounts } from '../../controller/mqtt/accounts.ts';
import { writeMosquittoFiles } from '../../controller/mqtt/mosquitto-files.ts';
import { type MosquittoHandle, startMosquitto } from '../helpers/mosquitto.ts';

export type BrokerKind = 'embedded' | 'mosquitto';

export interface SiteBroker {
  url: string;
  /** The lines of the controller's [mqtt] section: external broker, its account. */
  controllerMqtt: string;
  /** The pid of mosquitto, if it runs. */
  pid: () => number | undefined;
  /** Writes the files again from the controller's accounts (a host joined) and has mosquitto reload them. */
  refresh: () => void;
  /** Reaps a killed mosquitto (SIGKILL if it still runs). */
  reap: () => Promise<void>;
  /** Starts mosquitto again on the same port, configuration and persistence. */
  start: () => Promise<void>;
  output: () => string;
  cleanup: () => Promise<void>;
}

const CONTROLLER_ACCOUNT = 'faults-controller';

/** `stateDir`: the controller's state directory (its database holds the broker accounts). */
export async function startSiteBroker(work: string, stateDir: string): Promise<SiteBroker> {
  const authDir = join(work, 'mosquitto-auth');
  mkdirSync(authDir, { recursive: true });
  const write = (addController: boolean): { conf: string; password?: string } => {
    const db = ControllerDb.inStateDir(stateDir);
    try {
      const accounts = new MqttAccounts(db.db);
      const password = addController ? accounts.add(CONTROLLER_ACCOUNT, 'controller').password : undefined;
      const files = writeMosquittoFiles(accounts, authDir);
      return { conf: files.conf, ...(password ? { password } : {}) };
    } finally {
      db.close();
    }
  };
  const first = write(true);
  const h: MosquittoHandle = await startMosquitto({ authConf: readFileSync(first.conf, 'utf8') });
  return {
    url: h.url,
    controllerMqtt: `embedded = false\nurl = "${h.url}"\nusername = "${CONTROLLER_ACCOUNT}"\npassword = "${first.password}"`,
    pid: h.pid,
    refresh: () => {
      write(false);
      const pid = h.pid();
      if (pid) process.kill(pid, 'SIGHUP');
    },
    reap: () => h.stop('SIGKILL'),
    start: () => h.start(),
    output: h.output,
    cleanup: () => h.cleanup(),
  };
}
