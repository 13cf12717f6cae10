// Public surface of the libvirt driver.

export * from './connection.ts';
export * from './constants.ts';
export * from './errors.ts';
