// The options of `stratus vm create` and what they become in the request: placement, networks, disks,
// and the VM's context (SSH keys, user data, start script, login user, variables, method). Files are read here,
// on the user's machine; the controller checks what they hold.

import { readFileSync } from 'node:fs';
import { CliError, EXIT } from '../client.ts';
import type { CommandContext, OptionSpec } from '../command.ts';
import { MAX_VOLATILE_DISKS, MAX_VOLATILE_GIB, type VmDiskView } from '../../protocol/vm.ts';

export const createOptions: Record<string, OptionSpec> = {
  type: { type: 'string', value: 'TYPE', help: 'Instance type: CPUs, memory, disk (stratus type list)' },
  image: { type: 'string', value: 'IMAGE', help: 'Image id or name (stratus image list)' },
  count: { type: 'string', value: 'N', help: 'How many VMs (names get -1, -2, ...)' },
  net: { type: 'string', value: 'NETWORK', multiple: true, help: 'A NIC on this network, in order' },
  key: { type: 'string', value: 'NAME', multiple: true, help: 'SSH key to install (default: your default key)' },
  'user-data': {
    type: 'string',
    value: 'FILE',
    help: 'cloud-init user data: #cloud-config, a script or MIME multipart',
  },
  context: { type: 'string', value: 'K=V', multiple: true, help: 'Extra context variable (K in A-Z, 0-9, _)' },
  'context-file': { type: 'string', value: 'FILE', help: 'Context variables, one K=V per line (# comments)' },
  'start-script': { type: 'string', value: 'FILE', help: 'Script the guest runs at boot (START_SCRIPT_BASE64)' },
  'login-user': { type: 'string', value: 'NAME', help: 'User created with your keys and sudo; vm ssh logs in as it' },
  'context-method': {
    type: 'string',
    value: 'opennebula|nocloud',
    help: "Context CD-ROM flavour (default: the site's)",
  },
  disk: { type: 'string', value: 'GiB', help: "Root disk size in GiB, larger than the image (default: the type's)" },
  'volatile-disk': {
    type: 'string',
    value: 'GiB',
    multiple: true,
    help: `A blank disk of this size, deleted with the VM (at most ${MAX_VOLATILE_DISKS}, each 1-${MAX_VOLATILE_GIB} GiB)`,
  },
  'readonly-disk': { type: 'string', value: 'IMAGE', multiple: true, help: 'Attach this image read-only' },
  group: { type: 'string', value: 'G', help: 'Anti-affinity group: VMs of one group never share a host' },
  cluster: { type: 'string', value: 'C', help: 'Only hosts of this cluster' },
  feature: { type: 'string', value: 'F', multiple: true, help: 'Only hosts with this feature' },
  wait: { type: 'boolean', help: 'Wait until every VM runs; print ids and addresses' },
};

/** `--volatile-disk GiB...` as whole numbers (the controller checks the bounds again). */
export function volatileDisksOf(values: CommandContext['values']): number[] | undefined {
  const given = values['volatile-disk'] as string[] | undefined;
  if (!given) return undefined;
  if (given.length > MAX_VOLATILE_DISKS)
    throw new CliError(`at most ${MAX_VOLATILE_DISKS} --volatile-disk per VM`, EXIT.usage);
  return given.map((v) => {
    const gib = Number(v);
    if (!/^\d+$/.test(v) || gib < 1 || gib > MAX_VOLATILE_GIB)
      throw new CliError(
        `--volatile-disk must be a whole number of GiB from 1 to ${MAX_VOLATILE_GIB} (got "${v}")`,
        EXIT.usage,
      );
    return gib;
  });
}

/** `vm show`'s lines about the disks, in guest order: device, kind, size, image or serial. */
export function diskLines(disks: VmDiskView[] | undefined): string {
  if (!disks?.length) return '';
  const size = (d: VmDiskView) =>
    d.sizeMiB === undefined ? 'image size' : d.sizeMiB % 1024 === 0 ? `${d.sizeMiB / 1024} GiB` : `${d.sizeMiB} MiB`;
  const lines = disks.map(
    (d) =>
      `  ${d.device}  ${d.kind.padEnd(8)}  ${size(d).padEnd(10)}  ${d.image ?? (d.serial ? `serial ${d.serial}` : '')}`,
  );
  return `\ndisks:\n${lines.join('\n')}`;
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code}`, EXIT.usage);
  }
}

/** `K=V` into [K, V]: the value may hold `=`; the name must be a context variable name. */
function pair(text: string, where: string): [string, string] {
  const at = text.indexOf('=');
  if (at <= 0) throw new CliError(`${where}: expected K=V, got "${text}"`, EXIT.usage);
  const k = text.slice(0, at).trim();
  if (!/^[A-Z][A-Z0-9_]{0,63}$/.test(k))
    throw new CliError(`${where}: variable names are A-Z, 0-9 and _, starting with a letter (got "${k}")`, EXIT.usage);
  return [k, text.slice(at + 1)];
}

/** The `context` of a creation request from the options given (empty when none is). */
export function contextOf(values: CommandContext['values']): Record<string, unknown> {
  const c: Record<string, unknown> = {};
  if (values['key']) c['keys'] = values['key'];
  if (values['user-data']) c['userData'] = readText(String(values['user-data']), 'user data file');
  if (values['start-script']) c['startScript'] = readText(String(values['start-script']), 'start script');
  if (values['login-user']) c['loginUser'] = values['login-user'];
  if (values['context-method']) {
    const m = String(values['context-method']);
    if (m !== 'opennebula' && m !== 'nocloud')
      throw new CliError('--context-method is opennebula or nocloud', EXIT.usage);
    c['method'] = m;
  }
  const vars: Record<string, string> = {};
  if (values['context-file']) {
    const file = String(values['context-file']);
    readText(file, 'context file')
      .split('\n')
      .forEach((line, i) => {
        if (line.trim() === '' || line.trimStart().startsWith('#')) return;
        const [k, v] = pair(line.replace(/\r$/, ''), `${file}:${i + 1}`);
        vars[k] = v;
      });
  }
  for (const kv of (values['context'] as string[] | undefined) ?? []) {
    const [k, v] = pair(kv, '--context');
    vars[k] = v;
  }
  if (Object.keys(vars).length > 0) c['variables'] = vars;
  return c;
}

/** `vm show`'s lines about the context: method, login user, key fingerprints, sizes. */
export function contextLines(ctx: unknown): string {
  if (!ctx || typeof ctx !== 'object') return '';
  const c = ctx as {
    method: string;
    loginUser: string | null;
    keys: { name: string; type: string; fingerprint: string }[];
    userDataBytes: number;
    startScriptBytes: number;
    variables: string[];
  };
  const lines = [
    'context:',
    `  method      ${c.method}`,
    `  login user  ${c.loginUser ?? '-'}`,
    ...(c.keys.length > 0
      ? c.keys.map((k) => `  key         ${k.name} ${k.type} ${k.fingerprint}`)
      : ['  key         (none)']),
    `  user data   ${c.userDataBytes} bytes`,
    `  start script ${c.startScriptBytes} bytes`,
    `  variables   ${c.variables.length > 0 ? c.variables.join(' ') : '-'}`,
  ];
  return `\n${lines.join('\n')}`;
}
