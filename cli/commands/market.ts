export const marketCommands: import('../command.ts').Command[] = [];
