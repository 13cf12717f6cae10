// `stratus-controller mqtt ...`: broker accounts and the mosquitto files.
//   mqtt add-account NAME --role host|dashboard|controller [--password PW]   prints the password
//   mqtt remove-account NAME
//   mqtt list-accounts
//   mqtt write-mosquitto --dir DIR     writes stratus.acl, stratus.passwd, stratus.conf (reload mosquitto)

import { parseArgs } from 'node:util';
import { ValidationError } from '../../common/errors.ts';
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
  write-mosquitto --dir DIR
                        write stratus.acl, stratus.passwd and stratus.conf for mosquitto
                        (then reload it: kill -HUP <mosquitto pid>)
`;

const ROLES: BrokerRole[] = ['host', 'dashboard', 'controller'];

export function runMqttCli(config: ControllerConfig, argv: string[], out: (s: string) => void): number {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { role: { type: 'string' }, password: { type: 'string' }, dir: { type: 'string' } },
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
        const p = writeMosquittoFiles(accounts, values.dir);
        out(`${p.acl}\n${p.passwd}\n${p.conf}\n`);
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
