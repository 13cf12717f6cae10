// Runs an operation on a domain looked up by UUID, freeing the virDomainPtr whatever happens.

import { type Ptr, virt } from '../bindings.ts';
import { checkPtr } from './check.ts';

export function withDomain<T>(conn: Ptr, uuid: string, fn: (dom: Ptr) => T): T {
  const dom = checkPtr('virDomainLookupByUUIDString', virt.virDomainLookupByUUIDString(conn, uuid));
  try {
    return fn(dom);
  } finally {
    virt.virDomainFree(dom);
  }
}
