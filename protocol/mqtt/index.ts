// Protocol v1 of Stratus over MQTT: topics, payload schemas, codec and the catalogue the docs come from.

export * from './catalog.ts';
export * from './codec.ts';
export * from './commands.ts';
export * from './envelope.ts';
export * from './events.ts';
export * from './host.ts';
export * from './inventory.ts';
export * from './topics.ts';
export * from './vm.ts';
export * from './command-catalogue.ts';
