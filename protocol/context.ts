// Schemas of contextualization: what a VM's context CD-ROM carries (hostname, user, SSH keys, a start
// script, user data, extra variables) and in which flavour: OpenNebula (`CONTEXT`, context.sh) or
// NoCloud (`cidata`, meta-data + user-data + network-config v2). The NICs' addresses come from IPAM.

import { type Static, Type } from '@sinclair/typebox';
import { Uuid } from './ids.ts';

/** No NUL: a value must be representable in a shell word and in YAML. */
const Text = (maxLength: number, description: string) =>
  Type.String({ maxLength, pattern: '^[^\\x00]*$', description, errorMessage: 'must not contain NUL characters' });

export const ContextFlavour = Type.Union([Type.Literal('opennebula'), Type.Literal('nocloud')], {
  default: 'opennebula',
  description: 'opennebula: volume CONTEXT with context.sh; nocloud: volume cidata for cloud-init',
});
export type ContextFlavour = Static<typeof ContextFlavour>;

export const ContextRequest = Type.Object(
  {
    vmId: Uuid,
    flavour: ContextFlavour,
    hostname: Type.String({
      minLength: 1,
      maxLength: 63,
      pattern: '^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$',
      errorMessage: 'must be a host name: letters, digits and inner dashes, at most 63',
    }),
    setHostname: Type.Boolean({ default: true, description: 'Ask the guest to set its host name' }),
    username: Type.Optional(
      Type.String({ pattern: '^[a-z_][a-z0-9_-]{0,31}$', errorMessage: 'must be a Unix user name' }),
    ),
    sshPublicKeys: Type.Array(Text(16_384, 'An OpenSSH public key'), { maxItems: 32, default: [] }),
    startScript: Type.Optional(Text(262_144, 'Script the guest runs at boot (sent base64-encoded)')),
    userData: Type.Optional(Text(262_144, 'cloud-init user data (#cloud-config or a script)')),
    swapDevice: Type.Optional(
      Type.String({
        maxLength: 255,
        pattern: '^/dev/[A-Za-z0-9/_.:-]+$',
        description:
          "A blank disk for the guest's swap: cloud-init makes it a swap area (fs_setup) and enables it (mounts)",
      }),
    ),
    /** How the guest configures its NICs: static addresses from the context, or DHCP. */
    addressing: Type.Union([Type.Literal('static'), Type.Literal('dhcp')], { default: 'static' }),
    variables: Type.Record(
      Type.String({ pattern: '^[A-Z][A-Z0-9_]{0,63}$' }),
      Text(65_536, 'Extra OpenNebula context variable'),
      { default: {}, description: 'Extra variables (OpenNebula flavour: in context.sh; NoCloud: in meta-data)' },
    ),
  },
  { additionalProperties: false, $id: 'ContextRequest' },
);
export type ContextRequest = Static<typeof ContextRequest>;

/** In a VM spec: the context CD-ROM the agent downloads, checks and attaches as the last CD-ROM. */
export const ContextRef = Type.Object(
  {
    url: Type.String({
      maxLength: 4096,
      pattern: '^https?://[^\\s]+$',
      description: 'Where the agent downloads the ISO (the controller URL with the per-VM token)',
    }),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'SHA-256 of the ISO' }),
  },
  { additionalProperties: false, description: 'Context CD-ROM to download and attach' },
);
export type ContextRef = Static<typeof ContextRef>;

/** One NIC as the context describes it (filled from IPAM). */
export interface ContextNic {
  mac: string;
  ipv4?: string | undefined;
  prefix4?: number | undefined;
  gateway4?: string | undefined;
  dns4?: string[] | undefined;
  ipv6?: string | undefined;
  prefix6?: number | undefined;
  gateway6?: string | undefined;
  dns6?: string[] | undefined;
  network?: string | undefined;
}

export interface ContextIso {
  vmId: string;
  flavour: ContextFlavour;
  label: 'CONTEXT' | 'cidata';
  size: number;
  sha256: string;
  /** Path on the controller (where agents download it from through the authenticated URL). */
  path: string;
  /** URL path relative to the API root, with the per-VM token: only returned when the ISO is built. */
  url?: string;
}

/** The context method of one VM (no default here: the site's [network] context_flavour applies). */
export const ContextMethod = Type.Union([Type.Literal('opennebula'), Type.Literal('nocloud')], {
  description: 'opennebula: CONTEXT CD-ROM with context.sh; nocloud: cidata CD-ROM for cloud-init',
});

/** What a user asks of a VM's context at creation (POST /v1/vms, `context`). */
export const VmContextInput = Type.Object(
  {
    keys: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
        maxItems: 32,
        description: "Names of the user's SSH keys to install; without it, the user's default key (if any)",
      }),
    ),
    userData: Type.Optional(
      Text(262_144, 'cloud-init user data: #cloud-config, a script (#!) or MIME multipart; at most 256 KiB'),
    ),
    startScript: Type.Optional(Text(262_144, 'Script the guest runs at boot (START_SCRIPT_BASE64)')),
    loginUser: Type.Optional(
      Type.String({
        pattern: '^[a-z_][a-z0-9_-]{0,31}$',
        errorMessage: 'must be a Unix user name',
        description: 'User created with the keys and sudo (USERNAME); `stratus vm ssh` logs in as it',
      }),
    ),
    method: Type.Optional(ContextMethod),
    variables: Type.Optional(
      Type.Record(Type.String({ pattern: '^[A-Z][A-Z0-9_]{0,63}$' }), Text(65_536, 'Extra context variable'), {
        description: 'Extra variables (OpenNebula: in context.sh; NoCloud: in meta-data, lower-cased)',
      }),
    ),
  },
  { additionalProperties: false },
);
export type VmContextInput = Static<typeof VmContextInput>;

/** A VM's context as `vm show` reports it: key fingerprints and sizes, never the contents. */
export const VmContextView = Type.Object({
  method: ContextMethod,
  loginUser: Type.Union([Type.String(), Type.Null()]),
  keys: Type.Array(Type.Object({ name: Type.String(), type: Type.String(), fingerprint: Type.String() })),
  userDataBytes: Type.Integer(),
  startScriptBytes: Type.Integer(),
  variables: Type.Array(Type.String(), { description: 'Names of the extra variables (values are not shown)' }),
});
export type VmContextView = Static<typeof VmContextView>;
