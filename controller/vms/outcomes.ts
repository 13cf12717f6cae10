// What a failed deploy means, from the agent's typed error (STRATUS_ERR_* code and HTTP-like status):
//
// - `refused`: deterministic; the same spec fails on every host (an image the agent refuses, a spec
//   that does not validate). The VM fails at once with the reason; retrying elsewhere cannot help.
// - `unknown`: the command may have run, or may still run (no answer by the deadline, the agent or
//   libvirtd restarted under it, the host unreachable after the command was sent). The VM stays on that
//   host, nothing is released, and the deploy is resent there with the same key, or the host's report
//   settles it (reconciler.ts). Never a reason to deploy on a second host.
// - `not-sent`: the command never left the controller (the host was already down): nothing to undo,
//   the VM can be placed again anywhere.
// - `host`: the host answered that the deploy failed there and was undone (disk full, download failed,
//   a libvirt error): the host is excluded for this VM for a while and the VM goes back to the scheduler.

import type { StratusError } from '../../common/errors.ts';

export type DeployOutcome = 'refused' | 'unknown' | 'not-sent' | 'host';

/** Errors that say the same deploy would fail anywhere. */
const REFUSALS = new Set([
  'STRATUS_ERR_VALIDATION',
  'STRATUS_ERR_IMAGE_REFUSED',
  'STRATUS_ERR_IMAGE_POLICY',
  'STRATUS_ERR_IMAGE_CHECKSUM',
  'STRATUS_ERR_MALFORMED_MESSAGE',
]);

/** Errors after which the command's effect is not known (it may have run or may still run). */
const UNKNOWN = new Set([
  'STRATUS_ERR_DEADLINE_EXCEEDED',
  'STRATUS_ERR_COMMAND_INTERRUPTED',
  'STRATUS_ERR_NOT_READY',
  'STRATUS_ERR_AGENT_STOPPING',
  'STRATUS_ERR_LIBVIRT_DISCONNECTED',
  'STRATUS_ERR_LIBVIRT_CLOSED',
  'STRATUS_ERR_LIBVIRT_WORKER',
  'STRATUS_ERR_AGENT_OUTCOME_UNKNOWN',
]);

/** Transient 4xx answers that say nothing about the spec. */
const TRANSIENT_4XX = new Set([404, 408, 409, 423, 425, 429]);

export function classifyDeployError(e: StratusError, sent: boolean): DeployOutcome {
  if (e.code === 'STRATUS_ERR_HOST_UNAVAILABLE') return sent ? 'unknown' : 'not-sent';
  if (UNKNOWN.has(e.code) || e.status === 503 || e.status === 504) return 'unknown';
  if (REFUSALS.has(e.code)) return 'refused';
  if (e.status >= 400 && e.status < 500 && !TRANSIENT_4XX.has(e.status) && e.code !== 'STRATUS_ERR_UNKNOWN_COMMAND')
    return 'refused';
  return 'host';
}
