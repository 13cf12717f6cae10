// `stratus-agent join URL TOKEN` and the packaged first start ([join] url and token): the agent pins
// the site CA by the fingerprint in the token, redeems the token at POST /v1/join (over a connection
// verified against that CA), checks the CA it is given, and stores its credentials (credentials.ts).

import { StratusError, ValidationError } from '../../common/errors.ts';
import { pinnedCa, postJson } from '../../drivers/pinned-tls.ts';
import { parseJoinToken, type JoinResponse } from '../../protocol/enrolment.ts';
import { fingerprintOf } from '../../protocol/fingerprint.ts';
import { type StoredCredentials, writeCredentials } from './credentials.ts';

export class JoinError extends StratusError {
  constructor(message: string, status = 502, details: Record<string, unknown> = {}) {
    super('STRATUS_ERR_JOIN', message, { status, details });
  }
}

export async function joinSite(o: {
  url: string;
  token: string;
  hostId: string;
  stateDir: string;
}): Promise<StoredCredentials> {
  const parsed = parseJoinToken(o.token);
  if (!parsed)
    throw new ValidationError('not a join token (it starts with "stj1."; `stratus host add NAME` prints one)');
  let base: URL;
  try {
    base = new URL(o.url);
  } catch {
    throw new ValidationError(`"${o.url}" is not a URL (the controller's API, e.g. https://controller:8480)`);
  }
  if (base.protocol !== 'https:' && base.protocol !== 'http:') throw new ValidationError('the URL must be https://');
  const ca = base.protocol === 'https:' ? await pinnedCa(base, parsed.caFingerprint) : undefined;
  const r = await postJson(new URL('/v1/join', base), { token: o.token, hostId: o.hostId }, ca);
  if (r.status !== 200) {
    const p = r.body as { title?: string; code?: string };
    throw new JoinError(`the controller refused the join: ${p?.title ?? r.status}`, r.status, { code: p?.code });
  }
  const a = r.body as JoinResponse;
  if (fingerprintOf(a.ca) !== parsed.caFingerprint) {
    throw new JoinError('the site CA the controller sent is not the one of the join token: credentials not stored');
  }
  const creds: StoredCredentials = {
    hostId: a.hostId,
    mqtt: a.mqtt,
    apiUrl: a.api.url,
    caFingerprint: parsed.caFingerprint,
    joinedAt: Date.now(),
  };
  writeCredentials(o.stateDir, creds, a.ca);
  return creds;
}
