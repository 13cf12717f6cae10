// The site's images as the REST API shows and takes them (/v1/images): registration by URL and sha256,
// upload queries, metadata, and the image view. Shared by the controller's routes and the CLI. How an
// agent names an image to fetch (ImageRef) is in image.ts.

import { type Static, Type } from '@sinclair/typebox';
import { Sha256 } from './image.ts';

export const ImageFormat = Type.Union([
  Type.Literal('qcow2'),
  Type.Literal('raw'),
  Type.Literal('kernel'),
  Type.Literal('ramdisk'),
]);
export const ImageName = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._ -]*$' });

export const ImageMetadata = {
  os: Type.Optional(Type.String({ maxLength: 64 })),
  arch: Type.Optional(Type.String({ maxLength: 16, pattern: '^[a-z0-9_]+$' })),
  endorser: Type.Optional(Type.String({ maxLength: 256, description: 'Who vouches for the image (e-mail or DN)' })),
  expiresAt: Type.Optional(
    Type.String({ format: 'date-time', maxLength: 40, description: 'ISO 8601; expired images cannot be launched' }),
  ),
  visibility: Type.Optional(Type.Union([Type.Literal('public'), Type.Literal('private')], { default: 'private' })),
  kernelImage: Type.Optional(Type.String({ maxLength: 64, description: 'Image id of the kernel for direct boot' })),
  ramdiskImage: Type.Optional(Type.String({ maxLength: 64, description: 'Image id of the initrd for direct boot' })),
  cmdline: Type.Optional(Type.String({ maxLength: 2048, pattern: '^[^\\x00-\\x1f]*$' })),
};

export const RegisterImageRequest = Type.Object(
  {
    name: ImageName,
    url: Type.String({ pattern: '^https?://', maxLength: 2048, errorMessage: 'must be an http(s) URL' }),
    sha256: Sha256,
    format: ImageFormat,
    ...ImageMetadata,
  },
  { additionalProperties: false },
);
export type RegisterImageRequest = Static<typeof RegisterImageRequest>;

export const UploadImageQuery = Type.Object(
  { name: ImageName, format: ImageFormat, sha256: Type.Optional(Sha256), ...ImageMetadata },
  { additionalProperties: false },
);

export const Image = Type.Object({
  id: Type.String(),
  name: Type.String(),
  owner: Type.String(),
  visibility: Type.String(),
  state: Type.Union([Type.Literal('available'), Type.Literal('uploading'), Type.Literal('error')]),
  sha256: Type.Union([Type.String(), Type.Null()]),
  format: Type.String(),
  sizeBytes: Type.Union([Type.Integer(), Type.Null()]),
  virtualSize: Type.Optional(
    Type.Integer({ description: 'The disk size its header declares, when the controller inspected it' }),
  ),
  sourceUrl: Type.Union([Type.String(), Type.Null()]),
  stored: Type.Boolean({ description: 'The controller holds the content and serves it to agents' }),
  os: Type.Optional(Type.String()),
  arch: Type.Optional(Type.String()),
  endorser: Type.Optional(Type.String()),
  expiresAt: Type.Optional(Type.String()),
  kernelImage: Type.Optional(Type.String()),
  ramdiskImage: Type.Optional(Type.String()),
  cmdline: Type.Optional(Type.String()),
  createdAt: Type.Integer(),
});
export type Image = Static<typeof Image>;
