// open-iscsi through `iscsiadm` (the host's own initiator, for the "host" attach mode): node records
// with CHAP settings, login and logout, the list of sessions, the block device of a session's LUN (from
// sysfs, so no udev is needed), and the host's initiator name. No policy here.

import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { StratusError } from '../common/errors.ts';

/** iscsiadm exit statuses (iscsi_err.h) the callers care about. */
export const ISCSI_ERR_NO_OBJS_FOUND = 21;
export const ISCSI_ERR_SESS_EXISTS = 15;
export const ISCSI_ERR_LOGIN_AUTH_FAILED = 24;

export class IscsiadmError extends StratusError {
  readonly exitCode: number | undefined;
  constructor(args: string[], exitCode: number | undefined, stderr: string) {
    const lines = stderr
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('iscsiadm:'));
    const reason = (lines[lines.length - 1] ?? stderr.trim()).replace(/^iscsiadm: /, '') || `exit status ${exitCode}`;
    super('STRATUS_ERR_ISCSIADM', `iscsiadm ${args.slice(0, 2).join(' ')} failed: ${reason}`, {
      status: 502,
      details: { args: redact(args), exitCode, stderr: stderr.trim().slice(0, 2000) },
    });
    this.exitCode = exitCode;
  }
}

function redact(args: string[]): string[] {
  return args.map((a, i) => (args[i - 2] === '-n' && /password/.test(args[i - 1] ?? '') ? '***' : a));
}

function iscsiadm(args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('iscsiadm', args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (!err) resolve(stdout);
      else reject(new IscsiadmError(args, typeof err.code === 'number' ? err.code : undefined, stderr || err.message));
    });
  });
}

async function tolerateMissing(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (!(err instanceof IscsiadmError && err.exitCode === ISCSI_ERR_NO_OBJS_FOUND)) throw err;
  }
}

export interface NodeRef {
  iqn: string;
  /** host:port */
  portal: string;
}

const node = (n: NodeRef) => ['-m', 'node', '-T', n.iqn, '-p', n.portal];

/** Creates the node record (never started automatically at boot) with CHAP credentials. */
export async function createNode(n: NodeRef, chap?: { username: string; password: string }): Promise<void> {
  await iscsiadm([...node(n), '-o', 'new']);
  const set = (name: string, value: string) => iscsiadm([...node(n), '-o', 'update', '-n', name, '-v', value]);
  await set('node.startup', 'manual');
  if (chap) {
    await set('node.session.auth.authmethod', 'CHAP');
    await set('node.session.auth.username', chap.username);
    await set('node.session.auth.password', chap.password);
  }
}

export async function deleteNode(n: NodeRef): Promise<void> {
  await tolerateMissing(iscsiadm([...node(n), '-o', 'delete']));
}

export async function login(n: NodeRef): Promise<void> {
  try {
    await iscsiadm([...node(n), '--login']);
  } catch (err) {
    if (!(err instanceof IscsiadmError && err.exitCode === ISCSI_ERR_SESS_EXISTS)) throw err;
  }
}

/** Logs out of every session to this target and portal; none is not an error. */
export async function logout(n: NodeRef): Promise<void> {
  await tolerateMissing(iscsiadm([...node(n), '--logout']));
}

export interface IscsiSession {
  sid: number;
  portal: string;
  iqn: string;
}

export async function sessions(): Promise<IscsiSession[]> {
  let out = '';
  try {
    out = await iscsiadm(['-m', 'session']);
  } catch (err) {
    if (err instanceof IscsiadmError && err.exitCode === ISCSI_ERR_NO_OBJS_FOUND) return [];
    throw err;
  }
  const list: IscsiSession[] = [];
  for (const line of out.split('\n')) {
    // tcp: [3] 192.0.2.10:3260,1 iqn.2024-01.org.example:vol (non-flash)
    const m = /^\S+: \[(\d+)\] (\S+?),\d+ (\S+)/.exec(line);
    if (m) list.push({ sid: Number(m[1]), portal: m[2]!, iqn: m[3]! });
  }
  return list;
}

/**
 * The block device (/dev/sdX) of `lun` in the session to this target and portal, read from sysfs:
 * /sys/class/iscsi_session/session<sid>/device/target<h:c:t>/<h:c:t:lun>/block/<dev>. Null while the
 * kernel has not scanned the LUN yet.
 */
export async function sessionBlockDevice(n: NodeRef, lun: number): Promise<string | null> {
  const s = (await sessions()).find((x) => x.iqn === n.iqn && x.portal === n.portal);
  if (!s) return null;
  const dev = `/sys/class/iscsi_session/session${s.sid}/device`;
  try {
    for (const t of (await readdir(dev)).filter((e) => e.startsWith('target'))) {
      for (const u of (await readdir(`${dev}/${t}`)).filter((e) => e.endsWith(`:${lun}`))) {
        const blocks = await readdir(`${dev}/${t}/${u}/block`);
        if (blocks[0]) return `/dev/${blocks[0]}`;
      }
    }
  } catch {
    // not scanned yet
  }
  return null;
}

/** The host's initiator name from /etc/iscsi/initiatorname.iscsi, or null when open-iscsi is not set up. */
export async function hostInitiatorName(path = '/etc/iscsi/initiatorname.iscsi'): Promise<string | null> {
  try {
    const text = await readFile(path, 'utf8');
    const m = /^\s*InitiatorName\s*=\s*(\S+)/m.exec(text);
    return m ? m[1]! : null;
  } catch {
    return null;
  }
}
