// nftables for per-port filtering on Linux bridges: one `bridge` family table (default `stratus`) whose
// prerouting chain jumps, through the verdict map `from_port`, to a chain per port for frames the port
// sends (`from-<dev>`), and whose postrouting chain jumps through `to_port` to a chain for frames going
// out of the port (`to-<dev>`). Applying a port's rules is one atomic `nft -f` transaction and
// idempotent; removing them tolerates what is already gone. The rules themselves are the caller's.

import { spawn } from 'node:child_process';
import { StratusError } from '../common/errors.ts';

const DEV = /^[A-Za-z0-9_.-]{1,15}$/;
const TABLE = /^[A-Za-z0-9_]{1,32}$/;

export class NftError extends StratusError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('STRATUS_ERR_NFT', message, { status: 500, details });
  }
}

/** Runs `nft` with a script on stdin (or plain arguments); resolves with stdout. */
export function nft(args: string[], script?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('nft', script === undefined ? args : [...args, '-f', '-'], {
      stdio: [script === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout!.on('data', (b) => (out += b));
    child.stderr!.on('data', (b) => (err += b));
    child.on('error', (e) => reject(new NftError(`cannot run nft: ${e.message}`)));
    child.on('close', (code) => {
      if (code === 0) resolve(out);
      else reject(new NftError(`nft ${args.join(' ')} failed: ${err.trim()}`, { code, script }));
    });
    if (script !== undefined) {
      child.stdin!.on('error', () => undefined); // nft exited early: its status says why
      child.stdin!.end(script);
    }
  });
}

export interface PortRules {
  /** Rule bodies for frames the port sends into the bridge (anti-spoofing). */
  fromPort: string[];
  /** Rule bodies for frames the bridge sends out of the port (inbound filtering). */
  toPort: string[];
}

let conntrack: Promise<boolean> | undefined;

/** Whether this kernel can track connections in the bridge family (nf_conntrack_bridge). */
export function bridgeConntrackSupported(): Promise<boolean> {
  conntrack ??= nft(
    ['-c'],
    'table bridge stratus_probe { chain c { type filter hook forward priority 0; ct state established accept; } }\n',
  ).then(
    () => true,
    () => false,
  );
  return conntrack;
}

export class NftBridgeFirewall {
  private base: Promise<void> | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly table = 'stratus') {
    if (!TABLE.test(table)) throw new NftError(`invalid nftables table name ${table}`);
  }

  /** One change at a time: nft transactions are atomic, but list-then-delete is not. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async tableExists(): Promise<boolean> {
    return nft(['list', 'table', 'bridge', this.table]).then(
      () => true,
      () => false,
    );
  }

  /** Creates the table, its maps and base chains unless they exist. */
  ensureBase(): Promise<void> {
    this.base ??= (async () => {
      if (await this.tableExists()) return;
      const t = this.table;
      await nft(
        [],
        `table bridge ${t} {
  map from_port { type ifname : verdict; }
  map to_port { type ifname : verdict; }
  chain prerouting { type filter hook prerouting priority filter; policy accept; iifname vmap @from_port; }
  chain postrouting { type filter hook postrouting priority filter; policy accept; oifname vmap @to_port; }
}
`,
      );
    })().catch((err) => {
      this.base = undefined;
      throw err;
    });
    return this.base;
  }

  /** Installs (or replaces) the rules of port `dev` in one transaction. */
  applyPort(dev: string, rules: PortRules): Promise<void> {
    checkDev(dev);
    for (const r of [...rules.fromPort, ...rules.toPort]) {
      if (/[\n\r;#]/.test(r)) throw new NftError('a rule must be one statement line', { rule: r });
    }
    return this.serial(async () => {
      await this.ensureBase();
      const t = `bridge ${this.table}`;
      const lines: string[] = [];
      for (const [dir, list, map] of [
        ['from', rules.fromPort, 'from_port'],
        ['to', rules.toPort, 'to_port'],
      ] as const) {
        lines.push(`add chain ${t} ${dir}-${dev}`, `flush chain ${t} ${dir}-${dev}`);
        for (const r of list) lines.push(`add rule ${t} ${dir}-${dev} ${r}`);
        lines.push(`add element ${t} ${map} { "${dev}" : jump ${dir}-${dev} }`);
      }
      const script = `${lines.join('\n')}\n`;
      await nft([], script).catch(async (err) => {
        // the table was removed behind our back (nft flush ruleset): make it again, once
        if (await this.tableExists()) throw err;
        this.base = undefined;
        await this.ensureBase();
        await nft([], script);
      });
    });
  }

  /** Removes the rules of port `dev`; nothing to remove is fine. */
  removePort(dev: string): Promise<void> {
    checkDev(dev);
    return this.serial(async () => {
      if (!(await this.tableExists())) return;
      const t = `bridge ${this.table}`;
      const ports = await this.listPortsNow();
      const lines: string[] = [];
      if (ports.from.has(dev)) lines.push(`delete element ${t} from_port { "${dev}" }`);
      if (ports.to.has(dev)) lines.push(`delete element ${t} to_port { "${dev}" }`);
      for (const c of await this.chains()) {
        if (c === `from-${dev}` || c === `to-${dev}`) lines.push(`delete chain ${t} ${c}`);
      }
      if (lines.length > 0) await nft([], `${lines.join('\n')}\n`);
    });
  }

  private async chains(): Promise<string[]> {
    const j = JSON.parse(await nft(['-j', 'list', 'chains', 'bridge'])) as {
      nftables: { chain?: { table: string; name: string } }[];
    };
    return j.nftables.flatMap((o) => (o.chain && o.chain.table === this.table ? [o.chain.name] : []));
  }

  private async listPortsNow(): Promise<{ from: Set<string>; to: Set<string> }> {
    const out = { from: new Set<string>(), to: new Set<string>() };
    if (!(await this.tableExists())) return out;
    for (const [map, set] of [
      ['from_port', out.from],
      ['to_port', out.to],
    ] as const) {
      const j = JSON.parse(await nft(['-j', 'list', 'map', 'bridge', this.table, map])) as {
        nftables: { map?: { elem?: [string, unknown][] } }[];
      };
      for (const o of j.nftables) for (const [k] of o.map?.elem ?? []) set.add(k);
    }
    return out;
  }

  /** Ports that have rules installed. */
  listPorts(): Promise<string[]> {
    return this.serial(async () => {
      const p = await this.listPortsNow();
      return [...new Set([...p.from, ...p.to])].sort();
    });
  }

  /** The installed rules of a port, as nft prints them (for checks and debugging). */
  async portRules(dev: string): Promise<PortRules> {
    checkDev(dev);
    const read = async (chain: string) => {
      const text = await nft(['list', 'chain', 'bridge', this.table, chain]).catch(() => '');
      return text
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !/^(table|chain|\}|type )/.test(l));
    };
    return { fromPort: await read(`from-${dev}`), toPort: await read(`to-${dev}`) };
  }

  /** Deletes the whole table (tests, uninstall). */
  async deleteTable(): Promise<void> {
    this.base = undefined;
    if (await this.tableExists()) await nft(['delete', 'table', 'bridge', this.table]);
  }
}

function checkDev(dev: string): void {
  if (!DEV.test(dev)) throw new NftError(`${JSON.stringify(dev)} is not a valid interface name`, { dev });
}
