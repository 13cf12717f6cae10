// `stratus vm ssh ID [-- ARGS]`: runs the OpenSSH client to the VM's first address as its login user
// (the one it was created with, else --user, else root). Arguments after `--` go to ssh as ssh reads
// them: leading options before the destination, the rest as the remote command.
// STRATUS_SSH names another client program (tests use it).

import { spawn } from 'node:child_process';
import { CliError, EXIT } from '../client.ts';
import type { Command } from '../command.ts';

type VmWithAddresses = {
  id: string;
  state: string;
  addresses?: string[];
  context?: { loginUser: string | null };
};

/** ssh options that take a value (from ssh(1)'s synopsis). */
const WITH_VALUE = new Set('BbcDEeFIiJLlmOoPpRSWw'.split(''));

/** Splits the arguments after `--` as ssh reads them: leading options, then the remote command. */
export function splitSshArgs(args: string[]): { options: string[]; command: string[] } {
  let i = 0;
  while (i < args.length && args[i]!.startsWith('-') && args[i] !== '--') {
    const flags = args[i]!.slice(1);
    // the last letter of a cluster like -vp takes the next argument when it needs a value and has none
    const needs = [...flags].findIndex((f) => WITH_VALUE.has(f));
    i += needs >= 0 && needs === flags.length - 1 ? 2 : 1;
  }
  const command = args.slice(i);
  return { options: args.slice(0, i), command: command[0] === '--' ? command.slice(1) : command };
}

export const vmSsh: Command = {
  words: 'vm ssh',
  usage: 'stratus vm ssh ID [--user NAME] [-- SSH-ARGS...]',
  summary: "Open an SSH session to a VM's first address as its login user",
  args: 1,
  options: {
    user: { type: 'string', value: 'NAME', help: "Log in as this user instead of the VM's login user" },
  },
  async run({ api, positionals, values }) {
    const [id, ...rest] = positionals;
    const vm = await api.request<VmWithAddresses>('GET', `/vms/${id}`);
    if (vm.state !== 'running') throw new CliError(`VM ${vm.id} is ${vm.state}, not running`, EXIT.conflict);
    const address = vm.addresses?.[0];
    if (!address) throw new CliError(`VM ${vm.id} has no address (it was created without a network)`, EXIT.api);
    const user = (values['user'] as string | undefined) ?? vm.context?.loginUser ?? 'root';
    const program = process.env['STRATUS_SSH'] || 'ssh';
    const { options, command } = splitSshArgs(rest);
    // the user's options come first: for ssh, the first value given for an option wins
    const argv = [...options, '-o', 'StrictHostKeyChecking=accept-new', '-l', user, address, ...command];
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn(program, argv, { stdio: 'inherit' });
      child.on('error', (err) =>
        reject(new CliError(`cannot run ${program}: ${(err as NodeJS.ErrnoException).code ?? err.message}`, EXIT.api)),
      );
      child.on('exit', (c, signal) => resolve(c ?? (signal ? 128 : 1)));
    });
    return { human: '', json: { vm: vm.id, user, address, exitCode: code }, exitCode: code };
  },
};
