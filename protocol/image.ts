// Image schemas: how a VM spec or a prefetch names an image (its sha256, where to fetch it, what it
// should be), the requests of the image, snapshot, save-as and import endpoints, and what they return.

import { type Static, Type } from '@sinclair/typebox';
import { Email, KeyFingerprint, MarketplaceEntry } from './marketplace.ts';
import { Uuid } from './ids.ts';

const hex = (n: number, what: string) =>
  Type.String({
    pattern: `^[0-9a-f]{${n}}$`,
    description: `${what} digest, lower-case hex`,
    errorMessage: `must be ${n} lower-case hex digits (a ${what} digest)`,
  });

export const Sha256 = hex(64, 'sha256');

export const ImageFormat = Type.Union([Type.Literal('qcow2'), Type.Literal('raw')], {
  description: 'Disk image format',
  errorMessage: 'must be qcow2 or raw',
});
export type ImageFormat = Static<typeof ImageFormat>;

export const ImageUrl = Type.String({
  maxLength: 4096,
  pattern: '^https?://[^\\x00-\\x20]+$',
  description: 'HTTP(S) URL of the image; .gz and .xz are decompressed, .ova bundles unpacked',
  errorMessage: 'must be an http:// or https:// URL without spaces',
});

export const Endorser = Type.String({
  minLength: 1,
  maxLength: 256,
  pattern: '^[^\\x00-\\x1f]+$',
  description: 'Who vouches for the image (Marketplace metadata: the endorser e-mail or DN)',
});

/**
 * The signed Marketplace entry that vouches for an image, as the controller sends it with a deploy:
 * the entry, its SSH signature, and the key the site trust store holds for the endorser at deploy time.
 * The agent verifies the signature, the expiry and that the entry is for this image itself, before
 * every use of the image, cached or not (agent/images/policy.ts).
 */
export const MarketplaceProof = Type.Object(
  {
    entry: MarketplaceEntry,
    signature: Type.String({ maxLength: 16384 }),
    trust: Type.Object({ email: Email, fingerprint: KeyFingerprint }, { additionalProperties: false }),
  },
  { additionalProperties: false },
);
export type MarketplaceProof = Static<typeof MarketplaceProof>;

/** An image: its sha256 (required), and what is needed to fetch and trust it when it is not cached. */
export const ImageRef = Type.Object(
  {
    sha256: Sha256,
    url: Type.Optional(ImageUrl),
    format: Type.Optional(ImageFormat),
    sha512: Type.Optional(hex(128, 'sha512')),
    sha1: Type.Optional(hex(40, 'sha1')),
    md5: Type.Optional(hex(32, 'md5')),
    endorser: Type.Optional(Endorser),
    name: Type.Optional(Type.String({ maxLength: 256, pattern: '^[^\\x00-\\x1f]*$' })),
    marketplace: Type.Optional(MarketplaceProof),
  },
  {
    additionalProperties: false,
    description: 'sha256 of the file at url (or of a cached image); every digest given is verified while downloading',
  },
);
export type ImageRef = Static<typeof ImageRef>;

export const SnapshotName = Type.String({
  minLength: 1,
  maxLength: 63,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
  errorMessage: 'must be 1-63 letters, digits, ".", "-" or "_", starting with a letter or digit',
});

export const CreateSnapshotRequest = Type.Object(
  {
    name: Type.Optional(SnapshotName),
    description: Type.Optional(Type.String({ maxLength: 1024, pattern: '^[^\\x00-\\x08\\x0b-\\x1f]*$' })),
  },
  { additionalProperties: false },
);

export const RevertSnapshotRequest = Type.Object(
  {
    state: Type.Optional(
      Type.Union([Type.Literal('snapshot'), Type.Literal('running'), Type.Literal('stopped')], {
        description: 'State after revert: as the snapshot was (default), or forced running/stopped',
      }),
    ),
  },
  { additionalProperties: false },
);

export const SaveAsRequest = Type.Object(
  {
    disk: Type.Integer({ minimum: 0, maximum: 15, default: 0, description: 'Index of the disk in the VM spec' }),
    name: Type.Optional(Type.String({ maxLength: 256, pattern: '^[^\\x00-\\x1f]*$' })),
  },
  { additionalProperties: false },
);

export const ImportQuery = Type.Object({ endorser: Type.Optional(Endorser) }, { additionalProperties: false });

const nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

/** An image in a host's cache, as listed and published (inventory). */
export const ImageView = Type.Object({
  sha256: Sha256,
  format: ImageFormat,
  virtualSize: Type.Integer({ minimum: 0 }),
  sizeBytes: Type.Integer({ minimum: 0 }),
  sourceUrl: nullable(Type.String()),
  sourceSha256: nullable(Type.String({ description: 'sha256 of the file as published, when it was transformed' })),
  endorser: nullable(Type.String()),
  name: nullable(Type.String()),
  origin: Type.Union([Type.Literal('download'), Type.Literal('save-as'), Type.Literal('import')]),
  addedAt: Type.Integer(),
  lastUsedAt: Type.Integer(),
  users: Type.Integer({ minimum: 0, description: 'Instance disks (and deploys in progress) using it as their base' }),
});
export type ImageView = Static<typeof ImageView>;

/** A VM snapshot as an agent lists it. */
export const SnapshotView = Type.Object({
  vm: Uuid,
  name: Type.String(),
  description: Type.String(),
  state: Type.String({ description: 'The VM state when taken: running snapshots hold memory too, shutoff ones disks' }),
  createdAt: Type.Integer(),
  current: Type.Boolean(),
});
export type SnapshotView = Static<typeof SnapshotView>;
