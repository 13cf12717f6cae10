// tier: unit
// The image policy with signed Marketplace entries: a verified entry's endorser and id match the allow
// lists, and a tampered field, an expired entry, an entry for another image, an unknown key, a key left
// out of the agent's own allowed_signers file, and require_signed without an entry are each refused
// with the rule named.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { buildEntry, signEntry } from '../../../common/marketplace-sign.ts';
import { parseOpensshPrivateKey } from '../../../common/openssh-private-key.ts';
import { fingerprintOf } from '../../../common/sshsig.ts';
import type { MarketplaceProof } from '../../../protocol/image.ts';
import { makeCache } from '../../helpers/image-cache.ts';

const dir = mkdtempSync(join(tmpdir(), 'stratus-policy-signed-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const mk = (n: string) => {
  execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-C', n, '-f', join(dir, n)]);
  return {
    priv: parseOpensshPrivateKey(readFileSync(join(dir, n), 'utf8')),
    pub: readFileSync(join(dir, `${n}.pub`), 'utf8'),
  };
};
const ops = mk('ops');
const other = mk('other');
const digests = {
  bytes: 10,
  sha256: 'a'.repeat(64),
  sha512: 'b'.repeat(128),
  sha1: 'c'.repeat(40),
  md5: 'd'.repeat(32),
};

function proof(
  over: Partial<ReturnType<typeof buildEntry>> = {},
  key = ops.priv,
  days = 10,
  now?: Date,
): MarketplaceProof {
  const entry = {
    ...buildEntry(digests, key.publicBlob, {
      email: 'ops@example.org',
      format: 'qcow2',
      validDays: days,
      ...(now ? { now } : {}),
    }),
    ...over,
  };
  return {
    entry,
    signature: signEntry(entry, key),
    trust: { email: 'ops@example.org', fingerprint: fingerprintOf(ops.priv.publicBlob) },
  };
}

t.test('a verified entry is allowed by its signed endorser or id; refusals name the rule', async (t) => {
  const { policy } = await makeCache(t, { policy: { allowEndorsers: ['ops@example.org'] } });
  const good = proof();
  t.match(policy.decide({ sha256: digests.sha256, marketplace: good }), {
    allowed: true,
    reason: /signed endorser ops@example.org/,
  });
  t.match(policy.decide({ sha256: digests.sha256, marketplace: { ...good, entry: { ...good.entry, os: 'x' } } }), {
    allowed: false,
    reason: /rule: signature/,
  });
  t.match(
    policy.decide({
      sha256: digests.sha256,
      marketplace: proof({}, ops.priv, 1, new Date(Date.now() - 3 * 86_400_000)),
    }),
    { allowed: false, reason: /rule: expired/ },
  );
  t.match(policy.decide({ sha256: 'e'.repeat(64), marketplace: good }), {
    allowed: false,
    reason: /rule: image-mismatch/,
  });
  const byOther = proof({}, other.priv);
  t.match(policy.decide({ sha256: digests.sha256, marketplace: byOther }), {
    allowed: false,
    reason: /rule: key-mismatch|rule: unknown-endorser/,
  });
  t.match(policy.decide({ sha256: digests.sha256, marketplace: proof({ deprecated: 'old' }) }), {
    allowed: false,
    reason: /rule: deprecated/,
  });

  const byId = await makeCache(t, { policy: { allowIds: [good.entry.id], denyEndorsers: ['eve@example.org'] } });
  t.match(byId.policy.decide({ sha256: digests.sha256, marketplace: good }), {
    allowed: true,
    reason: /Marketplace id/,
  });
  const denyId = await makeCache(t, { policy: { denyIds: [good.entry.id] } });
  t.match(denyId.policy.decide({ sha256: digests.sha256, marketplace: good }), {
    allowed: false,
    reason: /Marketplace id is on the deny list/,
  });
});

t.test("the agent's own allowed_signers file overrides the controller's word; require_signed", async (t) => {
  let signers = `ops@example.org ${other.pub}`;
  const { policy } = await makeCache(t, { policy: { allowedSigners: () => signers, requireSigned: true } });
  t.match(policy.decide({ sha256: digests.sha256, marketplace: proof() }), {
    allowed: false,
    reason: /rule: unknown-endorser/,
  });
  signers = `ops@example.org ${ops.pub}`;
  t.match(
    policy.decide({ sha256: digests.sha256, marketplace: proof() }),
    { allowed: true },
    'a changed file applies at the next check',
  );
  t.match(policy.decide({ sha256: digests.sha256 }), { allowed: false, reason: /rule: require_signed/ });
});
