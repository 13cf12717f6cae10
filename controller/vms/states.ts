// The VM state machine of the controller: which transitions are allowed. Every transition is recorded
// with a timestamp and a reason (vm_events), so `stratus vm show` can tell a VM's story.
//
// Hosts are the truth for what runs (controller/vms/reconciler.ts): a VM a host reports is adopted
// from pending, failed or lost; a VM its host no longer has becomes `lost` (never silently redeployed).

import { StratusError } from '../../common/errors.ts';

export const VM_STATES = [
  'pending',
  'scheduled',
  'deploying',
  'running',
  'stopped',
  'unknown',
  'failed',
  'lost',
  'deleted',
] as const;
export type VmState = (typeof VM_STATES)[number];

const allowed: Record<VmState, readonly VmState[]> = {
  // pending, failed and lost VMs go to running/stopped when a host reports them (adoption)
  pending: ['scheduled', 'running', 'stopped', 'failed', 'deleted'],
  scheduled: ['deploying', 'pending', 'running', 'stopped', 'failed', 'deleted'],
  deploying: ['running', 'stopped', 'pending', 'failed', 'unknown', 'lost', 'deleted'],
  running: ['stopped', 'unknown', 'failed', 'lost', 'deleted'],
  stopped: ['running', 'unknown', 'failed', 'lost', 'deleted'],
  unknown: ['running', 'stopped', 'failed', 'lost', 'deleted'],
  failed: ['running', 'stopped', 'deleted'],
  lost: ['running', 'stopped', 'failed', 'deleted'],
  deleted: [],
};

/**
 * States that hold capacity on a host (counted by the scheduler and by quotas). A `lost` VM holds no
 * host capacity but still counts against its owner's quota (store.ts) and keeps its leases.
 */
export const HOLDS_CAPACITY: ReadonlySet<VmState> = new Set([
  'scheduled',
  'deploying',
  'running',
  'stopped',
  'unknown',
]);

export class InvalidTransitionError extends StratusError {
  constructor(id: string, from: VmState, to: VmState) {
    super('STRATUS_ERR_VM_STATE', `VM ${id} cannot go from ${from} to ${to}`, {
      status: 409,
      details: { id, from, to },
    });
  }
}

export function canTransition(from: VmState, to: VmState): boolean {
  return from === to || allowed[from].includes(to);
}
