// Volume test plumbing: the controller's volume feature over a temp database and a private tgtd, with
// its VolumeHosts port wired to a real agent's local API (the HTTP twin of the MQTT volume.* commands),
// and small helpers to read a guest's console.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { StratusError } from '../../common/errors.ts';
import { type Db, openDatabase } from '../../common/sqlite.ts';
import { VolumesConfigSchema } from '../../controller/volumes/config.ts';
import { VolumeFeature } from '../../controller/volumes/feature.ts';
import type { VmPlacement, VolumeHosts } from '../../controller/volumes/ports.ts';
import { Value } from '@sinclair/typebox/value';
import type { AgentHandle } from './agent-process.ts';
import { testIqnPrefix, type TgtdHandle } from './tgtd.ts';
import { waitFor } from './wait.ts';

export const HOST = 'test-host';

/** VolumeHosts over an agent's local API; VMs are registered by the test (`vms`). */
export function agentApiHosts(agent: () => AgentHandle, vms: Map<string, VmPlacement>): VolumeHosts {
  const call = async (method: string, path: string, body?: unknown) => {
    const r = await agent().request(method, path, body);
    if (r.status >= 300) {
      const b = r.body as { code?: string; title?: string; details?: Record<string, unknown> };
      throw new StratusError(b.code ?? 'STRATUS_ERR_AGENT', b.title ?? `agent answered ${r.status}`, {
        status: r.status,
        details: b.details ?? {},
      });
    }
    return r.body;
  };
  return {
    vm: (id) => vms.get(id),
    initiatorName: async () => (await call('GET', '/v1/host/iscsi')).initiatorName,
    attach: (_host, vmId, attachment) => call('POST', `/v1/vms/${vmId}/volumes`, attachment),
    detach: async (_host, vmId, volumeId) => {
      await call('DELETE', `/v1/vms/${vmId}/volumes/${volumeId}`);
    },
  };
}

export interface VolumeWorld {
  dir: string;
  dbPath: string;
  db: Db;
  feature: VolumeFeature;
  iqnPrefix: string;
  /** Stops the feature and closes the database (a controller going away). */
  stop: () => Promise<void>;
  /** A new feature on the same database file (a controller restart). */
  restart: () => Promise<VolumeWorld>;
  cleanup: () => Promise<void>;
}

export async function startVolumeWorld(opts: {
  tgtd: TgtdHandle;
  hosts: VolumeHosts;
  config?: Record<string, unknown>;
  dir?: string;
  iqnPrefix?: string;
}): Promise<VolumeWorld> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'stratus-volumes-'));
  const iqnPrefix = opts.iqnPrefix ?? testIqnPrefix();
  const config = Value.Default(VolumesConfigSchema, {
    iscsi_portal: opts.tgtd.portal,
    iqn_prefix: iqnPrefix,
    tgt_control_port: opts.tgtd.controlPort,
    backing_dir: join(dir, 'backing'),
    file_dir: join(dir, 'shared'),
    tgtd_check_interval_s: 1,
    ...opts.config,
  }) as import('../../controller/volumes/config.ts').VolumesConfig;
  const dbPath = join(dir, 'controller.db');
  const db = openDatabase(dbPath);
  const log = pino({ level: process.env['STRATUS_TEST_LOG'] ?? 'silent' });
  const feature = new VolumeFeature({ db, log, config, hosts: opts.hosts });
  // as the daemon does: settle what a restart interrupted, then start
  await feature.recover();
  await feature.start();
  let stopped = false;
  const world: VolumeWorld = {
    dir,
    dbPath,
    db,
    feature,
    iqnPrefix,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await feature.stop();
      db.close();
    },
    restart: async () => {
      await world.stop();
      return startVolumeWorld({ ...opts, dir, iqnPrefix });
    },
    cleanup: async () => {
      await world.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return world;
}

/** The console log of a VM as the agent exposes it. */
export async function consoleOf(agent: AgentHandle, vmId: string): Promise<string> {
  const r = await agent.request('GET', `/v1/vms/${vmId}/console`);
  return typeof r.body === 'string' ? r.body : '';
}

/** Waits for a console line matching `re` (after `from` characters) and returns its match. */
export async function waitConsole(
  agent: AgentHandle,
  vmId: string,
  re: RegExp,
  opts: { from?: number; timeoutMs?: number } = {},
): Promise<RegExpMatchArray> {
  return waitFor(
    `console of ${vmId} to show ${re}`,
    async () => (await consoleOf(agent, vmId)).slice(opts.from ?? 0).match(re) ?? undefined,
    opts.timeoutMs ?? 90_000,
    200,
  );
}
