// The VM state machine of the controller: which transitions are allowed. Every transition is recorded
// with a timestamp and a reason (vm_events), so `stratus vm show` can tell a VM's story.

import { StratusError } from '../../common/errors.ts';

export const VM_STATES = [
  'pending',
  'scheduled',
  'deploying',
  'running',
  'stopped',
  'unknown',
  'failed',
  'deleted',
] as const;
export type VmState = (typeof VM_STATES)[number];

const allowed: Record<VmState, readonly VmState[]> = {
  pending: ['scheduled', 'failed', 'deleted'],
  scheduled: ['deploying', 'pending', 'failed', 'deleted'],
  deploying: ['running', 'stopped', 'pending', 'failed', 'unknown', 'deleted'],
  running: ['stopped', 'unknown', 'failed', 'deleted'],
  stopped: ['running', 'unknown', 'failed', 'deleted'],
  unknown: ['running', 'stopped', 'failed', 'deleted'],
  failed: ['deleted'],
  deleted: [],
};

/** States that hold capacity on a host (counted by the scheduler and by quotas). */
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
