// Users' SSH keys and each VM's context as one controller feature: the key store and its /v1/keys
// routes, the per-VM context store, the part of VM creation it owns (`context`: keys resolved for the
// owner, user data checked) and the context summary `vm show` prints. The network deploy hook reads
// `contexts.request(vm)` to build each VM's context CD-ROM.

import type { Router } from 'express';
import type { Db } from '../../common/sqlite.ts';
import type { ContextFlavour } from '../../protocol/context.ts';
import { VmContextStore } from '../context/vm-context.ts';
import type { ControllerFeature } from '../feature.ts';
import type { VmViewExtra } from '../vms/routes.ts';
import type { VmCreateExtension } from '../vms/service.ts';
import { keyRoutes } from './routes.ts';
import { KeyStore } from './store.ts';

export class KeysFeature implements ControllerFeature {
  readonly name = 'keys';
  readonly keys: KeyStore;
  readonly contexts: VmContextStore;
  readonly routes: readonly Router[];
  /** Checks and stores the `context` of a creation request. */
  readonly createExtension: VmCreateExtension;
  /** `context` in a VM's view: method, login user, key fingerprints, sizes. */
  readonly viewExtra: VmViewExtra;

  constructor(d: { db: Db; siteMethod: () => ContextFlavour }) {
    this.keys = new KeyStore(d.db);
    this.contexts = new VmContextStore(d.db, this.keys, d.siteMethod);
    this.routes = [keyRoutes(this.keys)];
    this.createExtension = {
      check: (input, who) => {
        const ctx = this.contexts.resolve(input.context, who);
        return (vms) =>
          this.contexts.save(
            vms.map((v) => v.id),
            ctx,
          );
      },
    };
    this.viewExtra = (vms) => {
      const views = this.contexts.views(vms.map((v) => v.id));
      return (vm) => {
        const context = views.get(vm.id);
        return context ? { context } : {};
      };
    };
  }
}
