// The [volumes] section of the controller configuration: where volumes live (tgtd and its backing
// store, or a filesystem every host mounts), how agents reach the iSCSI portal, the default quotas and
// how often tgtd is watched. Mounted into controller/config.ts as `volumes`.

import { type Static, Type } from '@sinclair/typebox';

const S = (def: string, description: string, extra: object = {}) =>
  Type.String({ default: def, description, ...extra });
const I = (def: number, description: string, min = 0, max = 86_400) =>
  Type.Integer({ default: def, description, minimum: min, maximum: max });

export const VolumesConfigSchema = Type.Object(
  {
    default_backend: Type.Union([Type.Literal('iscsi'), Type.Literal('file')], {
      default: 'iscsi',
      description: 'Backend of volumes created without one: iscsi (tgtd on this host) or file (shared filesystem)',
    }),
    iscsi_portal: S('127.0.0.1:3260', "Address:port of this host's tgtd as agents reach it (given to agents)"),
    iqn_prefix: S('iqn.2024-01.org.stratus-cloud', 'Prefix of target names: <prefix>:volume-<uuid>', {
      pattern: '^iqn\\.[0-9]{4}-[0-9]{2}\\.[a-z0-9][a-z0-9.-]*$',
    }),
    tgt_control_port: I(0, 'tgtd management port (tgtd -C N); 0 is the default instance', 0, 65_535),
    backing_dir: S('/var/lib/stratus/volumes', 'Directory of the sparse files behind iSCSI LUNs (no volume group)'),
    volume_group: S('', 'LVM volume group for iSCSI LUNs; empty uses files in backing_dir'),
    file_dir: S('/var/lib/stratus/shared-volumes', 'file backend: directory on a filesystem mounted by every host'),
    file_format: Type.Union([Type.Literal('qcow2'), Type.Literal('raw')], {
      default: 'qcow2',
      description: 'file backend: image format when the request names none',
    }),
    default_max_volumes: I(10, 'Volumes per user unless a quota says otherwise', 0, 1_000_000),
    default_max_gib: I(500, 'GiB per user (all volumes) unless a quota says otherwise', 0, 1 << 30),
    tgtd_check_interval_s: I(2, 'Seconds between checks that tgtd is up and holds every target', 1, 3600),
    tgtd_full_check_interval_s: I(60, 'Seconds between full comparisons of tgtd targets with the database', 5, 86_400),
  },
  { description: 'Persistent volumes: tgtd iSCSI targets or shared files, quotas' },
);
export type VolumesConfig = Static<typeof VolumesConfigSchema>;
