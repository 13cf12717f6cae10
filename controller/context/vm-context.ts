// The context each VM was created with (table `vm_context`, feature `vm-context`): the SSH public keys
// resolved from the owner's key names when the VM was created (a key deleted later stays on its VMs),
// user data, start script, login user, context method and extra variables. The network deploy hook
// builds the VM's context CD-ROM from it; `vm show` gets a summary without the contents.

import { ValidationError } from '../../common/errors.ts';
import { allForIds, type Db, migrate } from '../../common/sqlite.ts';
import type { ContextFlavour, ContextRequest, VmContextInput, VmContextView } from '../../protocol/context.ts';
import type { Principal } from '../auth/users.ts';
import type { KeyStore } from '../keys/store.ts';
import { checkUserData } from './user-data.ts';

const MIGRATIONS = [
  `CREATE TABLE vm_context (
     vm_id TEXT PRIMARY KEY,
     context TEXT NOT NULL
   )`,
  // the summary of views, kept beside the context so that a list of VMs does not parse user data and
  // start scripts of up to 256 KiB each (rows from before it: NULL, summarized from the context on read)
  'ALTER TABLE vm_context ADD COLUMN summary TEXT',
];

/** What is stored per VM. */
export interface VmContextRecord {
  method: ContextFlavour;
  loginUser?: string;
  keys: { name: string; type: string; fingerprint: string; publicKey: string }[];
  userData?: string;
  startScript?: string;
  variables: Record<string, string>;
}

/** The part of a context request that comes from the VM's creation (the deploy hook adds the rest). */
export type VmContextRequest = Pick<ContextRequest, 'flavour' | 'sshPublicKeys' | 'variables'> &
  Partial<Pick<ContextRequest, 'username' | 'userData' | 'startScript'>>;

export class VmContextStore {
  constructor(
    private readonly db: Db,
    private readonly keys: KeyStore,
    /** The site's context method ([network] context_flavour). */
    private readonly siteMethod: () => ContextFlavour,
  ) {
    migrate(db, 'vm-context', MIGRATIONS);
  }

  /**
   * Checks a creation request's context and resolves it for its owner: named keys (404 if one is not
   * theirs), or their default key; user data that cloud-init can run. Throws before anything is created.
   */
  resolve(input: VmContextInput | undefined, who: Principal): VmContextRecord {
    const i = input ?? {};
    const named = [...new Set(i.keys ?? [])];
    const keys =
      named.length > 0
        ? named.map((n) => this.keys.get(who.id, n))
        : [this.keys.defaultKey(who.id)].filter((k) => k !== undefined);
    if (i.userData !== undefined) checkUserData(i.userData);
    for (const k of Object.keys(i.variables ?? {})) {
      if (!/^[A-Z][A-Z0-9_]{0,63}$/.test(k))
        throw new ValidationError(`invalid context variable name ${k}: use A-Z, 0-9 and _, starting with a letter`, {
          variable: k,
        });
    }
    if (i.startScript !== undefined && i.startScript.trim() === '')
      throw new ValidationError('the start script is empty');
    return {
      method: i.method ?? this.siteMethod(),
      ...(i.loginUser ? { loginUser: i.loginUser } : {}),
      keys: keys.map((k) => ({ name: k.name, type: k.type, fingerprint: k.fingerprint, publicKey: k.publicKey })),
      ...(i.userData !== undefined ? { userData: i.userData } : {}),
      ...(i.startScript !== undefined ? { startScript: i.startScript } : {}),
      variables: i.variables ?? {},
    };
  }

  /** Stores the context of newly created VMs (inside their creation's transaction). */
  save(vmIds: string[], ctx: VmContextRecord): void {
    const ins = this.db.prepare('INSERT OR REPLACE INTO vm_context (vm_id, context, summary) VALUES (?, ?, ?)');
    const json = JSON.stringify(ctx);
    const summary = JSON.stringify(summarize(ctx));
    for (const id of vmIds) ins.run(id, json, summary);
  }

  get(vmId: string): VmContextRecord | undefined {
    const r = this.db.prepare('SELECT context FROM vm_context WHERE vm_id = ?').get(vmId) as
      | { context: string }
      | undefined;
    return r && (JSON.parse(r.context) as VmContextRecord);
  }

  /** What the context CD-ROM of the VM carries besides its host name and NICs. */
  request(vmId: string): VmContextRequest | undefined {
    const c = this.get(vmId);
    if (!c) return undefined;
    return {
      flavour: c.method,
      sshPublicKeys: c.keys.map((k) => k.publicKey),
      variables: c.variables,
      ...(c.loginUser ? { username: c.loginUser } : {}),
      ...(c.userData !== undefined ? { userData: c.userData } : {}),
      ...(c.startScript !== undefined ? { startScript: c.startScript } : {}),
    };
  }

  /** The summary `vm show` prints: fingerprints, sizes and variable names, never contents. */
  view(vmId: string): VmContextView | undefined {
    return this.views([vmId]).get(vmId);
  }

  /** The summaries of many VMs in one query; VMs created together share one summary object. */
  views(vmIds: readonly string[]): Map<string, VmContextView> {
    const rows = allForIds<{ vm_id: string; summary: string | null; context: string | null }>(
      this.db,
      `SELECT vm_id, summary, CASE WHEN summary IS NULL THEN context END AS context
       FROM vm_context WHERE vm_id IN (SELECT value FROM json_each(?))`,
      vmIds,
    );
    const parsed = new Map<string, VmContextView>();
    const out = new Map<string, VmContextView>();
    for (const r of rows) {
      if (r.summary === null) {
        out.set(r.vm_id, summarize(JSON.parse(r.context!) as VmContextRecord));
        continue;
      }
      let v = parsed.get(r.summary);
      if (!v) {
        v = JSON.parse(r.summary) as VmContextView;
        parsed.set(r.summary, v);
      }
      out.set(r.vm_id, v);
    }
    return out;
  }

  remove(vmId: string): void {
    this.db.prepare('DELETE FROM vm_context WHERE vm_id = ?').run(vmId);
  }
}

function summarize(c: VmContextRecord): VmContextView {
  return {
    method: c.method,
    loginUser: c.loginUser ?? null,
    keys: c.keys.map((k) => ({ name: k.name, type: k.type, fingerprint: k.fingerprint })),
    userDataBytes: c.userData === undefined ? 0 : Buffer.byteLength(c.userData, 'utf8'),
    startScriptBytes: c.startScript === undefined ? 0 : Buffer.byteLength(c.startScript, 'utf8'),
    variables: Object.keys(c.variables).sort(),
  };
}
