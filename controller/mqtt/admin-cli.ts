// `stratus-controller mqtt ...`: broker accounts and the mosquitto files.
//   mqtt add-account NAME --role host|dashboard|controller [--password PW]   prints the password
//   mqtt remove-account NAME
//   mqtt list-accounts
//   mqtt write-mosquitto --dir DIR [--tls-port N] [--wss-port N]
//                                      writes stratus.acl, stratus.passwd, stratus.conf, and TLS listeners
//                                      with a certificate of the site CA (reload mosquitto)

import { parseArgs } from 'node:util';
import { ValidationError } from '../../common/errors.ts';
import { createLogger } from '../../common/logger.ts';
import { siteTlsFor } from '../access.ts';
import type { ControllerConfig } from '../config.ts';
import { ControllerDb } from '../db.ts';
import { MqttAccounts } from './accounts.ts';
import type { BrokerRole } from './broker.ts';
import { writeMosquittoFiles } from './mosquitto-files.ts';

export const MQTT_HELP = `Usage: stratus-controller [--config PATH] mqtt COMMAND

Commands:
  add-account NAME --role host|dashboard|controller [--password PW]
                        create a broker account (a host's account is named after its host_id);
                        prints the password (generated unless given)
  remove-account NAME   delete a broker account
  list-accounts         list the accounts and their roles
  write-mosquitto --dir DIR [--tls-port 8883] [--wss-port 8084]
                        write stratus.acl, stratus.passwd, stratus.conf (no anonymous clients unless
                        [mqtt] allow_anonymous) and stratus-listeners.conf (MQTT and WebSocket over
                        TLS with a certificate of the site CA, 0 leaves one out) for mosquitto
                        (then reload it: kill -HUP <mosquitto pid>)
`;

const ROLES: BrokerRole[] = ['host', 'dashboard', 'controller'];

export async function runMqttCli(config: ControllerConfig, argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      role: { type: 'string' },
      password: { type: 'string' },
      dir: { type: 'string' },
      'tls-port': { type: 'string' },
      'wss-port': { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  const [cmd, name] = positionals;
  const db = ControllerDb.inStateDir(config.controller.state_dir);
  try {
    const accounts = new MqttAccounts(db.db);
    switch (cmd) {
      case 'add-account': {
        const role = values.role as BrokerRole;
        if (!name) throw new ValidationError('add-account needs an account NAME');
        if (!ROLES.includes(role)) throw new ValidationError(`--role must be one of ${ROLES.join(', ')}`);
        const a = accounts.add(name, role, values.password);
        out(`${a.password}\n`);
        return 0;
      }
      case 'remove-account':
        if (!name) throw new ValidationError('remove-account needs an account NAME');
        accounts.remove(name);
        return 0;
      case 'list-accounts':
        for (const a of accounts.list()) out(`${a.username}\t${a.role}\n`);
        return 0;
      case 'write-mosquitto': {
        if (!values.dir) throw new ValidationError('write-mosquitto needs --dir DIR');
        const port = (v: string | undefined, def: number) => {
          const n = v === undefined ? def : Number(v);
          if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ValidationError(`port "${v}" must be 0-65535`);
          return n;
        };
        const tls = await siteTlsFor(config, createLogger('stratus-controller', 'warn'));
        const p = writeMosquittoFiles(accounts, values.dir, {
          allowAnonymous: config.mqtt.allow_anonymous,
          tls: tls.paths,
          tlsPort: port(values['tls-port'], 8883),
          wssPort: port(values['wss-port'], 8084),
        });
        out(`${[p.acl, p.passwd, p.conf, p.listeners].filter(Boolean).join('\n')}\n`);
        return 0;
      }
      default:
        out(MQTT_HELP);
        return cmd ? 2 : 0;
    }
  } finally {
    db.close();
  }
}
