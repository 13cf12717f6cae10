// The koffi declarations of libvirt.so.0's C API that Stratus uses. Loaded once per thread (the main
// thread and each call worker). Object pointers (virConnectPtr, virDomainPtr, ...) are koffi 3 BigInts.

import koffi from 'koffi';

export type Ptr = bigint;

const lib = koffi.load('libvirt.so.0');
const libc = koffi.load('libc.so.6');

/** Strings that libvirt allocates and the caller must free(). */
export const HeapStr = koffi.disposable('StratusVirHeapStr', 'str');

export const VirErrorT = koffi.struct('StratusVirError', {
  code: 'int',
  domain: 'int',
  message: 'char *',
  level: 'int',
});

export const VirNodeInfoT = koffi.struct('StratusVirNodeInfo', {
  model: koffi.array('char', 32, 'String'),
  memory: 'unsigned long',
  cpus: 'unsigned int',
  mhz: 'unsigned int',
  nodes: 'unsigned int',
  sockets: 'unsigned int',
  cores: 'unsigned int',
  threads: 'unsigned int',
});

export const VirDomainInfoT = koffi.struct('StratusVirDomainInfo', {
  state: 'unsigned char',
  maxMem: 'unsigned long',
  memory: 'unsigned long',
  nrVirtCpu: 'unsigned short',
  cpuTime: 'unsigned long long',
});

export const VirDomainStatsRecordT = koffi.struct('StratusVirDomainStatsRecord', {
  dom: 'void *',
  params: 'void *',
  nparams: 'int',
});

/** virDomainBlockJobInfo: int type; unsigned long bandwidth; unsigned long long cur, end. */
export const VirDomainBlockJobInfoT = koffi.struct('StratusVirDomainBlockJobInfo', {
  type: 'int',
  bandwidth: 'unsigned long',
  cur: 'unsigned long long',
  end: 'unsigned long long',
});

/** sizeof(virTypedParameter): char field[80]; int type; (pad); 8-byte union. */
export const TYPED_PARAM_SIZE = 96;
export const TYPED_PARAM_FIELD_LENGTH = 80;

export const CloseCallbackProto = koffi.proto('void StratusVirConnectCloseFunc(void *conn, int reason, void *opaque)');
export const LifecycleCallbackProto = koffi.proto(
  'int StratusVirDomainEventCallback(void *conn, void *dom, int event, int detail, void *opaque)',
);
export const GenericCallbackProto = koffi.proto(
  'void StratusVirDomainEventGenericCallback(void *conn, void *dom, void *opaque)',
);

export const virt = {
  // errors
  virGetLastError: lib.func('void *virGetLastError()'),
  virResetLastError: lib.func('void virResetLastError()'),
  virSetErrorFunc: lib.func('void virSetErrorFunc(void *userData, void *handler)'),
  // event loop
  virEventRegisterDefaultImpl: lib.func('int virEventRegisterDefaultImpl()'),
  virEventRunDefaultImpl: lib.func('int virEventRunDefaultImpl()'),
  // connections
  virConnectOpen: lib.func('void *virConnectOpen(const char *uri)'),
  virConnectClose: lib.func('int virConnectClose(void *conn)'),
  virConnectIsAlive: lib.func('int virConnectIsAlive(void *conn)'),
  virConnectSetKeepAlive: lib.func('int virConnectSetKeepAlive(void *conn, int interval, unsigned int count)'),
  virConnectRegisterCloseCallback: lib.func(
    'int virConnectRegisterCloseCallback(void *conn, StratusVirConnectCloseFunc *cb, void *opaque, void *freecb)',
  ),
  virConnectUnregisterCloseCallback: lib.func(
    'int virConnectUnregisterCloseCallback(void *conn, StratusVirConnectCloseFunc *cb)',
  ),
  virConnectGetCapabilities: lib.func('StratusVirHeapStr virConnectGetCapabilities(void *conn)'),
  virConnectGetHostname: lib.func('StratusVirHeapStr virConnectGetHostname(void *conn)'),
  virConnectGetVersion: lib.func('int virConnectGetVersion(void *conn, _Out_ unsigned long *hvVer)'),
  virConnectGetLibVersion: lib.func('int virConnectGetLibVersion(void *conn, _Out_ unsigned long *libVer)'),
  virNodeGetInfo: lib.func('int virNodeGetInfo(void *conn, _Out_ StratusVirNodeInfo *info)'),
  virConnectListAllDomains: lib.func(
    'int virConnectListAllDomains(void *conn, _Out_ void **domains, unsigned int flags)',
  ),
  virConnectGetAllDomainStats: lib.func(
    'int virConnectGetAllDomainStats(void *conn, unsigned int stats, _Out_ void **retStats, unsigned int flags)',
  ),
  virDomainStatsRecordListFree: lib.func('void virDomainStatsRecordListFree(void *stats)'),
  virConnectDomainEventRegisterAny: lib.func(
    'int virConnectDomainEventRegisterAny(void *conn, void *dom, int eventID, void *cb, void *opaque, void *freecb)',
  ),
  virConnectDomainEventDeregisterAny: lib.func('int virConnectDomainEventDeregisterAny(void *conn, int callbackID)'),
  // domains
  virDomainDefineXML: lib.func('void *virDomainDefineXML(void *conn, const char *xml)'),
  virDomainLookupByUUIDString: lib.func('void *virDomainLookupByUUIDString(void *conn, const char *uuid)'),
  virDomainLookupByName: lib.func('void *virDomainLookupByName(void *conn, const char *name)'),
  virDomainFree: lib.func('int virDomainFree(void *dom)'),
  virDomainCreate: lib.func('int virDomainCreate(void *dom)'),
  virDomainShutdown: lib.func('int virDomainShutdown(void *dom)'),
  virDomainDestroy: lib.func('int virDomainDestroy(void *dom)'),
  virDomainReboot: lib.func('int virDomainReboot(void *dom, unsigned int flags)'),
  virDomainReset: lib.func('int virDomainReset(void *dom, unsigned int flags)'),
  virDomainSuspend: lib.func('int virDomainSuspend(void *dom)'),
  virDomainResume: lib.func('int virDomainResume(void *dom)'),
  virDomainUndefineFlags: lib.func('int virDomainUndefineFlags(void *dom, unsigned int flags)'),
  virDomainIsActive: lib.func('int virDomainIsActive(void *dom)'),
  virDomainIsPersistent: lib.func('int virDomainIsPersistent(void *dom)'),
  virDomainGetState: lib.func(
    'int virDomainGetState(void *dom, _Out_ int *state, _Out_ int *reason, unsigned int flags)',
  ),
  virDomainGetInfo: lib.func('int virDomainGetInfo(void *dom, _Out_ StratusVirDomainInfo *info)'),
  virDomainGetID: lib.func('unsigned int virDomainGetID(void *dom)'),
  virDomainGetName: lib.func('const char *virDomainGetName(void *dom)'),
  virDomainGetUUIDString: lib.func('int virDomainGetUUIDString(void *dom, _Out_ uint8_t *buf)'),
  virDomainGetXMLDesc: lib.func('StratusVirHeapStr virDomainGetXMLDesc(void *dom, unsigned int flags)'),
  // snapshots
  virDomainSnapshotCreateXML: lib.func(
    'void *virDomainSnapshotCreateXML(void *dom, const char *xml, unsigned int flags)',
  ),
  virDomainListAllSnapshots: lib.func(
    'int virDomainListAllSnapshots(void *dom, _Out_ void **snaps, unsigned int flags)',
  ),
  virDomainSnapshotLookupByName: lib.func(
    'void *virDomainSnapshotLookupByName(void *dom, const char *name, unsigned int flags)',
  ),
  virDomainSnapshotGetName: lib.func('const char *virDomainSnapshotGetName(void *snap)'),
  virDomainSnapshotGetXMLDesc: lib.func(
    'StratusVirHeapStr virDomainSnapshotGetXMLDesc(void *snap, unsigned int flags)',
  ),
  virDomainSnapshotIsCurrent: lib.func('int virDomainSnapshotIsCurrent(void *snap, unsigned int flags)'),
  virDomainRevertToSnapshot: lib.func('int virDomainRevertToSnapshot(void *snap, unsigned int flags)'),
  virDomainSnapshotDelete: lib.func('int virDomainSnapshotDelete(void *snap, unsigned int flags)'),
  virDomainSnapshotFree: lib.func('int virDomainSnapshotFree(void *snap)'),
  // block jobs
  virDomainBlockCopy: lib.func(
    'int virDomainBlockCopy(void *dom, const char *disk, const char *destxml, void *params, int nparams, unsigned int flags)',
  ),
  virDomainGetBlockJobInfo: lib.func(
    'int virDomainGetBlockJobInfo(void *dom, const char *disk, _Out_ StratusVirDomainBlockJobInfo *info, unsigned int flags)',
  ),
  virDomainBlockJobAbort: lib.func('int virDomainBlockJobAbort(void *dom, const char *disk, unsigned int flags)'),
  // migration
  virDomainMigrateToURI3: lib.func(
    'int virDomainMigrateToURI3(void *dom, const char *dconnuri, void *params, unsigned int nparams, unsigned int flags)',
  ),
  virDomainMigrateSetMaxDowntime: lib.func(
    'int virDomainMigrateSetMaxDowntime(void *dom, unsigned long long downtime, unsigned int flags)',
  ),
  virDomainGetJobStats: lib.func(
    'int virDomainGetJobStats(void *dom, _Out_ int *type, _Out_ void **params, _Out_ int *nparams, unsigned int flags)',
  ),
  virDomainAbortJob: lib.func('int virDomainAbortJob(void *dom)'),
  virDomainCreateWithFlags: lib.func('int virDomainCreateWithFlags(void *dom, unsigned int flags)'),
  virTypedParamsAddString: lib.func(
    'int virTypedParamsAddString(_Inout_ void **params, _Inout_ int *nparams, _Inout_ int *maxparams, const char *name, const char *value)',
  ),
  virTypedParamsAddULLong: lib.func(
    'int virTypedParamsAddULLong(_Inout_ void **params, _Inout_ int *nparams, _Inout_ int *maxparams, const char *name, unsigned long long value)',
  ),
  virTypedParamsFree: lib.func('void virTypedParamsFree(void *params, int nparams)'),
  // devices (hot-plug)
  virDomainAttachDeviceFlags: lib.func(
    'int virDomainAttachDeviceFlags(void *dom, const char *xml, unsigned int flags)',
  ),
  virDomainDetachDeviceFlags: lib.func(
    'int virDomainDetachDeviceFlags(void *dom, const char *xml, unsigned int flags)',
  ),
  virDomainDetachDeviceAlias: lib.func(
    'int virDomainDetachDeviceAlias(void *dom, const char *alias, unsigned int flags)',
  ),
  // secrets
  virSecretDefineXML: lib.func('void *virSecretDefineXML(void *conn, const char *xml, unsigned int flags)'),
  virSecretSetValue: lib.func(
    'int virSecretSetValue(void *secret, const uint8_t *value, size_t size, unsigned int flags)',
  ),
  virSecretUndefine: lib.func('int virSecretUndefine(void *secret)'),
  virSecretLookupByUUIDString: lib.func('void *virSecretLookupByUUIDString(void *conn, const char *uuid)'),
  virSecretLookupByUsage: lib.func('void *virSecretLookupByUsage(void *conn, int usageType, const char *usageID)'),
  virSecretGetUUIDString: lib.func('int virSecretGetUUIDString(void *secret, _Out_ uint8_t *buf)'),
  virSecretGetUsageType: lib.func('int virSecretGetUsageType(void *secret)'),
  virSecretGetUsageID: lib.func('const char *virSecretGetUsageID(void *secret)'),
  virSecretFree: lib.func('int virSecretFree(void *secret)'),
  virConnectListAllSecrets: lib.func(
    'int virConnectListAllSecrets(void *conn, _Out_ void **secrets, unsigned int flags)',
  ),
};

export const libcFree = libc.func('void free(void *ptr)');

/**
 * The address of libc's free(): passed to virSetErrorFunc as a handler it is called as free(NULL, err),
 * a no-op, which stops libvirt from printing every error to stderr (we report errors ourselves).
 */
export const libcFreeAddress: Ptr = libc.symbol('free') as Ptr;

export { koffi };
