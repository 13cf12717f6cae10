// Typed errors of the libvirt driver. A LibvirtError carries libvirt's own code, domain and message,
// read on the very thread that made the failing call (libvirt keeps its last error in thread-local storage).

import { StratusError } from '../../common/errors.ts';
import {
  ERR_BAD_CONFIG,
  ERR_NO_CONNECT,
  ERR_NO_DOMAIN,
  ERR_OPERATION_INVALID,
  ERR_RPC,
  ERR_SYSTEM_ERROR,
} from './constants.ts';

export interface VirErrorInfo {
  code: number;
  domain: number;
  level: number;
  message: string;
}

export class LibvirtError extends StratusError {
  readonly virCode: number;
  readonly virDomain: number;
  readonly operation: string;

  constructor(operation: string, info: VirErrorInfo) {
    const status =
      info.code === ERR_NO_DOMAIN
        ? 404
        : info.code === ERR_OPERATION_INVALID
          ? 409
          : ERR_BAD_CONFIG.has(info.code)
            ? 422
            : 502;
    super(libvirtErrorCode(info.code), info.message || `libvirt call ${operation} failed`, {
      status,
      details: { operation, virCode: info.code, virDomain: info.domain, level: info.level },
    });
    this.virCode = info.code;
    this.virDomain = info.domain;
    this.operation = operation;
  }

  /** True when the connection to libvirtd is gone and the call may succeed after a reconnect. */
  get connectionLost(): boolean {
    return this.virCode === ERR_NO_CONNECT || this.virCode === ERR_RPC || this.virCode === ERR_SYSTEM_ERROR;
  }
}

function libvirtErrorCode(virCode: number): string {
  if (virCode === ERR_NO_DOMAIN) return 'STRATUS_ERR_LIBVIRT_NO_DOMAIN';
  if (virCode === ERR_OPERATION_INVALID) return 'STRATUS_ERR_LIBVIRT_OPERATION_INVALID';
  return 'STRATUS_ERR_LIBVIRT';
}

/** The driver is not connected to libvirtd (it is reconnecting). */
export class LibvirtDisconnectedError extends StratusError {
  constructor(uri: string) {
    super('STRATUS_ERR_LIBVIRT_DISCONNECTED', `not connected to libvirt at ${uri}; reconnecting`, {
      status: 503,
      details: { uri },
    });
  }
}

/** libvirtd did not answer in time (stopped or wedged): a transient failure, tried again later. */
export class LibvirtTimeoutError extends StratusError {
  constructor(uri: string, what: string, timeoutMs: number) {
    super('STRATUS_ERR_LIBVIRT_TIMEOUT', `libvirt at ${uri} did not answer ${what} within ${timeoutMs} ms`, {
      status: 503,
      details: { uri, timeoutMs },
    });
  }
}
