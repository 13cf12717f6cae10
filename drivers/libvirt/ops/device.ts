// Device hot-plug operations, run synchronously on a call worker: attach or detach a device (disk, ...)
// by XML or by its alias, live and/or in the persistent definition. The virDomainPtr is freed here.

import { type Ptr, virt } from '../bindings.ts';
import { checkRc } from './check.ts';
import { withDomain } from './with-domain.ts';

/** virDomainAttachDeviceFlags: `flags` is a mask of DEVICE_AFFECT_LIVE / DEVICE_AFFECT_CONFIG. */
export function attach(conn: Ptr, uuid: string, xml: string, flags: number): void {
  withDomain(conn, uuid, (dom) =>
    checkRc('virDomainAttachDeviceFlags', virt.virDomainAttachDeviceFlags(dom, xml, flags)),
  );
}

/** virDomainDetachDeviceFlags: the device is matched by the XML (target dev, alias, ...). */
export function detach(conn: Ptr, uuid: string, xml: string, flags: number): void {
  withDomain(conn, uuid, (dom) =>
    checkRc('virDomainDetachDeviceFlags', virt.virDomainDetachDeviceFlags(dom, xml, flags)),
  );
}

/**
 * virDomainDetachDeviceAlias: asks for the removal of the device with a user alias (`ua-...`). A live
 * removal is asynchronous: it is complete when the device is gone from the live XML (the guest acked).
 */
export function detachAlias(conn: Ptr, uuid: string, alias: string, flags: number): void {
  withDomain(conn, uuid, (dom) =>
    checkRc('virDomainDetachDeviceAlias', virt.virDomainDetachDeviceAlias(dom, alias, flags)),
  );
}
