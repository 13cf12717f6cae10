// Schemas of users' SSH key pairs (REST /v1/keys): the public half only. A user adds OpenSSH public
// keys by name, marks one as the default that VMs get when their creation names none, and lists them
// with their type and fingerprint (as `ssh-keygen -lf` prints it).

import { type Static, Type } from '@sinclair/typebox';

export const KeyName = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._@-]*$',
  description: 'Letters, digits, ".", "_", "@" and "-"; starts with a letter or digit',
  errorMessage: 'must be 1-64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit',
});

export const AddKeyRequest = Type.Object(
  {
    name: KeyName,
    publicKey: Type.String({
      minLength: 1,
      maxLength: 16_384,
      description: 'One OpenSSH public key line: ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa (>= 2048 bits)',
    }),
    default: Type.Optional(Type.Boolean({ description: "Make it the user's default key (the first key always is)" })),
  },
  { additionalProperties: false },
);
export type AddKeyRequest = Static<typeof AddKeyRequest>;

export const SshKeyView = Type.Object({
  name: KeyName,
  type: Type.Union([Type.Literal('ed25519'), Type.Literal('ecdsa'), Type.Literal('rsa')]),
  bits: Type.Integer(),
  fingerprint: Type.String({ description: 'SHA256:<base64>, as ssh-keygen -lf prints it' }),
  comment: Type.String(),
  publicKey: Type.String({ description: 'The public key line (public: safe to show)' }),
  default: Type.Boolean(),
  createdAt: Type.Integer(),
});
export type SshKeyView = Static<typeof SshKeyView>;
