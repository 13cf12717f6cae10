// Host enrolment: the one-time join token an admin gets from `stratus host add NAME`, and the
// exchange `stratus-agent join URL TOKEN` makes with it (POST /v1/join). The token carries the
// SHA-256 fingerprint of the site CA, so that the agent can pin the controller's certificate before
// it trusts anything the controller sends (as kubeadm's discovery token CA hash does).
//
//   stj1.<64 hex: SHA-256 of the site CA certificate (DER)>.<43 base64url: the secret>

import { type Static, Type } from '@sinclair/typebox';
import { HostId } from './mqtt/topics.ts';

const TOKEN_RE = /^stj1\.([0-9a-f]{64})\.([A-Za-z0-9_-]{43})$/;

export function formatJoinToken(caFingerprint: string, secret: string): string {
  return `stj1.${caFingerprint}.${secret}`;
}

/** The parts of a join token, or undefined when it is not one. */
export function parseJoinToken(token: string): { caFingerprint: string; secret: string } | undefined {
  const m = TOKEN_RE.exec(token.trim());
  return m ? { caFingerprint: m[1]!, secret: m[2]! } : undefined;
}

export const JoinToken = Type.String({
  minLength: 1,
  maxLength: 256,
  description: 'The one-time join token of `stratus host add`',
});

export const HostEnrolRequest = Type.Object(
  {
    name: HostId,
    ttlS: Type.Optional(
      Type.Integer({ minimum: 60, maximum: 7 * 86_400, description: 'Seconds the join token stays valid' }),
    ),
  },
  { additionalProperties: false },
);
export type HostEnrolRequest = Static<typeof HostEnrolRequest>;

export const HostEnrolment = Type.Object({
  name: HostId,
  token: Type.String({ description: 'One-time join token (shown once; only its hash is kept)' }),
  expiresAt: Type.Integer({ description: 'ms since the epoch' }),
  caFingerprint: Type.String({ description: 'SHA-256 of the site CA certificate (hex)' }),
  command: Type.String({ description: 'What to run on the host' }),
});
export type HostEnrolment = Static<typeof HostEnrolment>;

export const JoinRequest = Type.Object(
  {
    token: JoinToken,
    hostId: Type.Optional({
      ...HostId,
      description: "The joining agent's host_id: refused (and the token kept) when the token is for another host",
    }),
  },
  { additionalProperties: false },
);
export type JoinRequest = Static<typeof JoinRequest>;

export const JoinResponse = Type.Object({
  hostId: HostId,
  mqtt: Type.Object({
    url: Type.String({ description: 'Broker URL for this host (mqtts:// off loopback)' }),
    username: Type.String(),
    password: Type.String({ description: "The host's broker password (given once)" }),
  }),
  api: Type.Object({ url: Type.String({ description: 'Controller API URL (image and context downloads)' }) }),
  ca: Type.String({ description: 'Site CA certificate (PEM)' }),
  caFingerprint: Type.String({ description: 'SHA-256 of the site CA certificate (hex)' }),
});
export type JoinResponse = Static<typeof JoinResponse>;
