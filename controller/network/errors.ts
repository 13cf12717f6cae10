// Typed errors of address management and DHCP, each with a stable code, an HTTP status and what the
// caller needs to act (which network, which address, what is free).

import { ConflictError, NotFoundError, StratusError } from '../../common/errors.ts';

export class NetworkNotFoundError extends NotFoundError {
  constructor(id: string) {
    super('network', id);
  }
}

export class LeaseNotFoundError extends NotFoundError {
  constructor(id: string) {
    super('lease', id);
  }
}

/** No free address (or MAC) is left in the network's range. */
export class RangeExhaustedError extends StratusError {
  constructor(network: string, family: 'ipv4' | 'ipv6' | 'mac', range: string) {
    super('STRATUS_ERR_RANGE_EXHAUSTED', `no free ${family} address left in network ${network} (range ${range})`, {
      status: 409,
      details: { network, family, range, hint: 'release leases or holds, or create another network' },
    });
  }
}

/** The requested address or MAC is already leased, held, or reserved for the gateway or DHCP server. */
export class AddressInUseError extends StratusError {
  constructor(network: string, what: string, value: string, by: string) {
    super('STRATUS_ERR_ADDRESS_IN_USE', `${what} ${value} is not available in network ${network}: ${by}`, {
      status: 409,
      details: { network, what, value, by },
    });
  }
}

export class NetworkInUseError extends StratusError {
  constructor(network: string, leases: number) {
    super('STRATUS_ERR_NETWORK_IN_USE', `network ${network} still has ${leases} leases or holds; release them first`, {
      status: 409,
      details: { network, leases },
    });
  }
}

export class NetworkExistsError extends ConflictError {
  constructor(field: 'name' | 'bridge', value: string) {
    super(`a network with ${field} ${value} already exists`, { field, value });
  }
}

/** dnsmasq could not be started for a network (binary missing, bad interface, port taken). */
export class DhcpServerError extends StratusError {
  constructor(network: string, message: string, details: Record<string, unknown> = {}) {
    super('STRATUS_ERR_DHCP_SERVER', `DHCP server of network ${network}: ${message}`, {
      status: 502,
      details: { network, ...details },
    });
  }
}
