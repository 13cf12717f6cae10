// The registry of operations a call worker can run, by name. Each takes plain, cloneable arguments.

import * as blockcopy from './blockcopy.ts';
import * as connect from './connect.ts';
import * as device from './device.ts';
import * as domain from './domain.ts';
import * as migrate from './migrate.ts';
import * as secret from './secret.ts';
import * as snapshot from './snapshot.ts';
import * as stats from './stats.ts';

export const operations = {
  'connect.open': connect.open,
  'connect.close': connect.close,
  'connect.isAlive': connect.isAlive,
  'connect.registerCallbacks': connect.registerCallbacks,
  'connect.deregisterCallbacks': connect.deregisterCallbacks,
  'connect.nodeInfo': connect.nodeInfo,
  'connect.capabilities': connect.capabilities,
  'connect.hostname': connect.hostname,
  'connect.versions': connect.versions,
  'domain.define': domain.define,
  'domain.lookupByName': domain.lookupByName,
  'domain.get': domain.get,
  'domain.info': domain.info,
  'domain.list': domain.list,
  'domain.xml': domain.xml,
  'domain.act': domain.act,
  'domain.reboot': domain.reboot,
  'domain.reset': domain.reset,
  'domain.undefine': domain.undefine,
  'stats.all': stats.allDomainStats,
  'device.attach': device.attach,
  'device.detach': device.detach,
  'device.detachAlias': device.detachAlias,
  'secret.define': secret.define,
  'secret.getByUuid': secret.getByUuid,
  'secret.getByUsage': secret.getByUsage,
  'secret.undefine': secret.undefine,
  'secret.list': secret.list,
  'snapshot.create': snapshot.create,
  'snapshot.list': snapshot.list,
  'snapshot.get': snapshot.get,
  'snapshot.revert': snapshot.revert,
  'snapshot.remove': snapshot.remove,
  'blockcopy.start': blockcopy.start,
  'blockcopy.info': blockcopy.info,
  'blockcopy.abort': blockcopy.abort,
  'migrate.toUri': migrate.toUri,
  'migrate.setMaxDowntime': migrate.setMaxDowntime,
  'migrate.jobStats': migrate.jobStats,
  'migrate.abortJob': migrate.abortJob,
  'migrate.startPaused': migrate.startPaused,
} as const;

export type Operations = typeof operations;
export type OpName = keyof Operations;
// biome-ignore lint/suspicious/noExplicitAny: generic function signature extraction
export type OpArgs<K extends OpName> = Operations[K] extends (...a: infer A) => any ? A : never;
// biome-ignore lint/suspicious/noExplicitAny: generic function signature extraction
export type OpResult<K extends OpName> = Operations[K] extends (...a: any) => infer R ? R : never;
