// LVM logical volumes (the iSCSI LUNs of a volume group, as StratusLab's persistent disk service used):
// create, remove, list with JSON reports from the lvm tools. Argument arrays only. No policy here.

import { execFile } from 'node:child_process';
import { StratusError } from '../common/errors.ts';

export class LvmError extends StratusError {
  constructor(action: string, target: string, stderr: string) {
    const reason = stderr.trim().split('\n').pop()?.trim() ?? '';
    super('STRATUS_ERR_LVM', `lvm ${action} ${target} failed: ${reason}`, {
      status: 502,
      details: { action, target, stderr: stderr.trim().slice(0, 2000) },
    });
  }
}

function lvm(action: string, target: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    // LVM_SUPPRESS_FD_WARNINGS: Node's inherited descriptors are not leaks worth a warning on stderr
    const env = { ...process.env, LVM_SUPPRESS_FD_WARNINGS: '1' };
    execFile('lvm', [action, ...args], { timeout: 120_000, env }, (err, stdout, stderr) => {
      if (!err) resolve(stdout);
      else reject(new LvmError(action, target, stderr || err.message));
    });
  });
}

export interface LogicalVolume {
  vg: string;
  name: string;
  path: string;
  sizeBytes: number;
}

/** Names LVM accepts and that cannot be mistaken for an option. */
const SAFE_NAME = /^[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}$/;

function checkName(what: string, name: string): void {
  if (!SAFE_NAME.test(name)) throw new LvmError('check', name, `invalid ${what} name ${JSON.stringify(name)}`);
}

export async function volumeGroupExists(vg: string): Promise<boolean> {
  checkName('volume group', vg);
  try {
    await lvm('vgs', vg, ['--noheadings', '-o', 'vg_name', vg]);
    return true;
  } catch {
    return false;
  }
}

/** A new logical volume of `sizeBytes` (rounded up by LVM to its extent size), wiped of old signatures. */
export async function createLv(vg: string, name: string, sizeBytes: number): Promise<LogicalVolume> {
  checkName('volume group', vg);
  checkName('logical volume', name);
  await lvm('lvcreate', `${vg}/${name}`, ['-y', '-W', 'y', '-Z', 'y', '-L', `${sizeBytes}b`, '-n', name, vg]);
  const lv = await getLv(vg, name);
  if (!lv) throw new LvmError('lvcreate', `${vg}/${name}`, 'created but not listed');
  return lv;
}

export async function removeLv(vg: string, name: string): Promise<void> {
  checkName('volume group', vg);
  checkName('logical volume', name);
  if (!(await getLv(vg, name))) return;
  await lvm('lvremove', `${vg}/${name}`, ['-f', `${vg}/${name}`]);
}

export async function getLv(vg: string, name: string): Promise<LogicalVolume | undefined> {
  return (await listLvs(vg)).find((l) => l.name === name);
}

export async function listLvs(vg: string): Promise<LogicalVolume[]> {
  checkName('volume group', vg);
  const out = await lvm('lvs', vg, [
    '--reportformat',
    'json',
    '--units',
    'b',
    '--nosuffix',
    '-o',
    'vg_name,lv_name,lv_size',
    vg,
  ]);
  const j = JSON.parse(out) as { report: { lv: { vg_name: string; lv_name: string; lv_size: string }[] }[] };
  return (j.report[0]?.lv ?? []).map((l) => ({
    vg: l.vg_name,
    name: l.lv_name,
    path: `/dev/${l.vg_name}/${l.lv_name}`,
    sizeBytes: Number(l.lv_size),
  }));
}
