// The seeded stream of operations the fault-injection suite sends through the REST API: create, delete,
// stop, start, volume attach and detach, snapshot. Which operation comes next and which VM or volume it
// names are drawn from the seed (VMs and volumes in creation order), so a seed replays the same stream
// as far as the answers allow; every answer is accepted (an operation may fail during a fault) and
// counted by outcome.
import { type Answer, call } from './api.ts';
import type { Rng } from './prng.ts';
import { VM_TYPE } from './site.ts';

export type OpKind = 'create' | 'delete' | 'stop' | 'start' | 'attach' | 'detach' | 'snapshot';

const WEIGHTS: [OpKind, number][] = [
  ['create', 26],
  ['delete', 14],
  ['stop', 12],
  ['start', 12],
  ['attach', 12],
  ['detach', 12],
  ['snapshot', 12],
];

export interface OpModel {
  /** Every VM id ever created (in order) and whether it has been asked to be deleted. */
  vms: { id: string; deleted: boolean }[];
  /** The volumes of the run. */
  volumes: string[];
  /** Outcomes by operation and class (2xx, 4xx, 5xx, none). */
  outcomes: Record<string, number>;
}

export function newModel(volumes: string[]): OpModel {
  return { vms: [], volumes, outcomes: {} };
}

function pickKind(rng: Rng, live: number, maxVms: number): OpKind {
  if (live === 0) return 'create';
  const total = WEIGHTS.reduce((s, [, w]) => s + w, 0);
  let x = rng.next() * total;
  let kind: OpKind = 'create';
  for (const [k, w] of WEIGHTS) {
    if (x < w) {
      kind = k;
      break;
    }
    x -= w;
  }
  return kind === 'create' && live >= maxVms ? 'delete' : kind;
}

const klass = (a: Answer) => (a.status === 0 ? 'none' : `${Math.floor(a.status / 100)}xx`);

/** Sends one operation drawn from `rng`; returns what it was, for the log. */
export async function runOp(
  base: () => string,
  rng: Rng,
  model: OpModel,
  n: number,
  opts: { maxVms: number },
): Promise<string> {
  const live = model.vms.filter((v) => !v.deleted);
  const kind = pickKind(rng, live.length, opts.maxVms);
  const vm = live.length ? rng.pick(live) : undefined;
  const volume = rng.pick(model.volumes);
  let a: Answer;
  let what: string = kind;
  switch (kind) {
    case 'create': {
      const withVolume = rng.chance(0.15);
      a = await call(base(), 'POST', '/v1/vms', {
        name: `f${n}`,
        type: VM_TYPE,
        image: 'guest',
        ...(withVolume ? { volumes: [volume] } : {}),
      });
      const id = a.status === 202 ? (a.body.items?.[0]?.id as string | undefined) : undefined;
      if (id) model.vms.push({ id, deleted: false });
      what = `create ${id ?? '-'}${withVolume ? ` with ${volume}` : ''}`;
      break;
    }
    case 'delete':
      a = await call(base(), 'DELETE', `/v1/vms/${vm!.id}`);
      // a delete that got no answer may still happen: the VM is no longer chosen either way
      vm!.deleted = true;
      what = `delete ${vm!.id}`;
      break;
    case 'stop':
      a = await call(base(), 'POST', `/v1/vms/${vm!.id}/stop`, { force: rng.chance(0.7) });
      what = `stop ${vm!.id}`;
      break;
    case 'start':
      a = await call(base(), 'POST', `/v1/vms/${vm!.id}/start`);
      what = `start ${vm!.id}`;
      break;
    case 'attach':
      a = await call(base(), 'POST', `/v1/volumes/${volume}/attach`, { vmId: vm!.id });
      what = `attach ${volume} to ${vm!.id}`;
      break;
    case 'detach':
      a = await call(base(), 'POST', `/v1/volumes/${volume}/detach`, {});
      what = `detach ${volume}`;
      break;
    case 'snapshot':
      a = await call(base(), 'POST', `/v1/vms/${vm!.id}/snapshots`, { name: `s${n}` });
      what = `snapshot ${vm!.id}`;
      break;
  }
  const key = `${kind}:${klass(a)}`;
  model.outcomes[key] = (model.outcomes[key] ?? 0) + 1;
  return `${what} → ${a.status}${a.status >= 400 || a.status === 0 ? ` ${a.body?.code ?? a.body?.error ?? ''}` : ''}`;
}
