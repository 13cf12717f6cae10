// tgtd (the Linux SCSI target daemon) through `tgtadm --lld iscsi`: targets, logical units, CHAP
// accounts and initiator ACLs, and a parsed view of what tgtd holds now. tgtd keeps all of this in
// memory only, so callers re-apply their state after a restart. No policy here.

import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { StratusError } from '../common/errors.ts';

export class TgtadmError extends StratusError {
  readonly exitCode: number | undefined;
  constructor(args: string[], exitCode: number | undefined, stderr: string) {
    const reason = stderr.trim().replace(/^tgtadm: /, '') || `exit status ${exitCode}`;
    super('STRATUS_ERR_TGTADM', `tgtadm ${args.slice(0, 4).join(' ')} failed: ${reason}`, {
      status: 502,
      details: { args: redact(args), exitCode, stderr: stderr.trim().slice(0, 2000) },
    });
    this.exitCode = exitCode;
  }

  /** tgtd is not running (or its control socket is gone). */
  get unreachable(): boolean {
    // 107: ENOTCONN on the control socket; ENOENT: tgtadm itself is not installed
    return this.exitCode === 107 || /not connected|connect to the tgt daemon|No such file|ENOENT/i.test(this.message);
  }
  /** The object (target, account, ACL rule) already exists. */
  get exists(): boolean {
    return /already exists/.test(this.message);
  }
  /** The object does not exist. */
  get missing(): boolean {
    return /can't find|does not exist/.test(this.message);
  }
}

/** Passwords never reach logs or error details. */
function redact(args: string[]): string[] {
  return args.map((a, i) => (args[i - 1] === '--password' ? '***' : a));
}

export interface TgtLun {
  lun: number;
  type: string;
  path: string | null;
  readonly: boolean;
  sizeMb: number;
}

export interface TgtTarget {
  tid: number;
  iqn: string;
  luns: TgtLun[];
  /** Incoming CHAP accounts bound to the target. */
  accounts: string[];
  /** ACL entries: initiator addresses and initiator names (or `ALL`). */
  acl: string[];
  /** Connected initiators (I_T nexus). */
  sessions: { initiator: string; address: string | null }[];
}

/** Parses `tgtadm --op show --mode target`. */
export function parseTargets(text: string): TgtTarget[] {
  const out: TgtTarget[] = [];
  let t: TgtTarget | undefined;
  let section = '';
  let lun: TgtLun | undefined;
  for (const line of text.split('\n')) {
    const head = /^Target (\d+): (\S+)/.exec(line);
    if (head) {
      t = { tid: Number(head[1]), iqn: head[2]!, luns: [], accounts: [], acl: [], sessions: [] };
      out.push(t);
      section = '';
      continue;
    }
    if (!t) continue;
    const s = line.trim();
    if (/^[A-Za-z_ ]+information:$/.test(s)) {
      section = s;
      continue;
    }
    if (section === 'LUN information:') {
      const head = /^LUN: (\d+)$/.exec(s);
      if (head) {
        lun = { lun: Number(head[1]), type: '', path: null, readonly: false, sizeMb: 0 };
        t.luns.push(lun);
        continue;
      }
      const [key, value] = [s.slice(0, s.indexOf(':')), s.slice(s.indexOf(':') + 1).trim()];
      if (!lun) continue;
      if (key === 'Type') lun.type = value;
      else if (key === 'Size') lun.sizeMb = Number.parseInt(value, 10) || 0;
      else if (key === 'Readonly') lun.readonly = value === 'Yes';
      else if (key === 'Backing store path') lun.path = value === 'None' ? null : value;
    } else if (section === 'Account information:' && s) {
      if (!s.endsWith('(outgoing)')) t.accounts.push(s);
    } else if (section === 'ACL information:' && s) {
      t.acl.push(s);
    } else if (section === 'I_T nexus information:') {
      const m = /^Initiator: (\S+)/.exec(s);
      if (m) t.sessions.push({ initiator: m[1]!, address: null });
      const a = /^IP Address: (\S+)/.exec(s);
      const last = t.sessions[t.sessions.length - 1];
      if (a && last && last.address === null) last.address = a[1]!;
    }
  }
  return out;
}

/**
 * Identity of the running tgtd instance: its control socket (/var/run/tgtd/socket.<port>) is created
 * anew at each start, so a changed inode or change time means tgtd restarted (and forgot its targets).
 * Null when there is no socket.
 */
export async function tgtdInstanceId(controlPort = 0): Promise<string | null> {
  try {
    const s = await stat(`/var/run/tgtd/socket.${controlPort}`);
    return `${s.ino}:${s.ctimeMs}`;
  } catch {
    return null;
  }
}

export interface TgtadmOptions {
  /** tgtd's management port (`tgtd -C N`, socket /var/run/tgtd/socket.N); 0 is tgtd's default. */
  controlPort?: number;
  timeoutMs?: number;
}

export class Tgtadm {
  readonly controlPort: number;
  private readonly base: string[];
  private readonly timeoutMs: number;

  constructor(opts: TgtadmOptions = {}) {
    this.controlPort = opts.controlPort ?? 0;
    this.base = ['-C', String(this.controlPort), '--lld', 'iscsi'];
    this.timeoutMs = opts.timeoutMs ?? 15_000;
  }

  /** See tgtdInstanceId. */
  instanceId(): Promise<string | null> {
    return tgtdInstanceId(this.controlPort);
  }

  private run(args: string[]): Promise<string> {
    const argv = [...this.base, ...args];
    return new Promise((resolve, reject) => {
      execFile('tgtadm', argv, { timeout: this.timeoutMs, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (!err) resolve(stdout);
        else {
          const code = typeof err.code === 'number' ? err.code : undefined;
          reject(new TgtadmError(args, code, stderr || err.message));
        }
      });
    });
  }

  /** Runs a change that may already be in place; "already exists" is success. */
  private async ensure(args: string[]): Promise<void> {
    try {
      await this.run(args);
    } catch (err) {
      if (!(err instanceof TgtadmError && err.exists)) throw err;
    }
  }

  /** Runs a removal; "does not exist" is success. */
  private async remove(args: string[]): Promise<void> {
    try {
      await this.run(args);
    } catch (err) {
      if (!(err instanceof TgtadmError && err.missing)) throw err;
    }
  }

  /** True when tgtd answers on its control socket. */
  async ping(): Promise<boolean> {
    try {
      await this.run(['--mode', 'sys', '--op', 'show']);
      return true;
    } catch (err) {
      if (err instanceof TgtadmError && err.unreachable) return false;
      throw err;
    }
  }

  async targets(): Promise<TgtTarget[]> {
    return parseTargets(await this.run(['--mode', 'target', '--op', 'show']));
  }

  async accounts(): Promise<string[]> {
    const text = await this.run(['--mode', 'account', '--op', 'show']);
    return text
      .split('\n')
      .slice(1)
      .map((l) => l.trim())
      .filter(Boolean);
  }

  newTarget(tid: number, iqn: string): Promise<string> {
    return this.run(['--mode', 'target', '--op', 'new', '--tid', String(tid), '--targetname', iqn]);
  }

  /** Sets an iSCSI negotiation parameter of a target (MaxRecvDataSegmentLength, MaxBurstLength, ...). */
  async setTargetParam(tid: number, name: string, value: string | number): Promise<void> {
    await this.run([
      '--mode',
      'target',
      '--op',
      'update',
      '--tid',
      String(tid),
      '--name',
      name,
      '--value',
      String(value),
    ]);
  }

  /** Deletes a target and its LUNs; `force` also drops connected sessions. */
  deleteTarget(tid: number, force = false): Promise<void> {
    return this.remove(['--mode', 'target', '--op', 'delete', ...(force ? ['--force'] : []), '--tid', String(tid)]);
  }

  async newLun(tid: number, lun: number, backingStore: string, opts: { readonly?: boolean } = {}): Promise<void> {
    const t = ['--tid', String(tid), '--lun', String(lun)];
    await this.run(['--mode', 'logicalunit', '--op', 'new', ...t, '--backing-store', backingStore]);
    if (opts.readonly) await this.run(['--mode', 'logicalunit', '--op', 'update', ...t, '--params', 'readonly=1']);
  }

  async newAccount(user: string, password: string): Promise<void> {
    await this.ensure(['--mode', 'account', '--op', 'new', '--user', user, '--password', password]);
  }

  deleteAccount(user: string): Promise<void> {
    return this.remove(['--mode', 'account', '--op', 'delete', '--user', user]);
  }

  bindAccount(tid: number, user: string): Promise<void> {
    return this.ensure(['--mode', 'account', '--op', 'bind', '--tid', String(tid), '--user', user]);
  }

  unbindAccount(tid: number, user: string): Promise<void> {
    return this.remove(['--mode', 'account', '--op', 'unbind', '--tid', String(tid), '--user', user]);
  }

  /** Allows the initiator with this iSCSI name to see and log in to the target. */
  bindInitiator(tid: number, name: string): Promise<void> {
    return this.ensure(['--mode', 'target', '--op', 'bind', '--tid', String(tid), '--initiator-name', name]);
  }

  unbindInitiator(tid: number, name: string): Promise<void> {
    return this.remove(['--mode', 'target', '--op', 'unbind', '--tid', String(tid), '--initiator-name', name]);
  }

  /** Allows initiators from this address (or `ALL`). */
  bindAddress(tid: number, address: string): Promise<void> {
    return this.ensure(['--mode', 'target', '--op', 'bind', '--tid', String(tid), '--initiator-address', address]);
  }

  unbindAddress(tid: number, address: string): Promise<void> {
    return this.remove(['--mode', 'target', '--op', 'unbind', '--tid', String(tid), '--initiator-address', address]);
  }
}
