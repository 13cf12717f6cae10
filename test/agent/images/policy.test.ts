// tier: unit
// The image policy's decisions: deny lists win, allow lists (any of checksum, URL prefix, endorser)
// must match when set (an endorser only from a verified signed entry), and refusals are audited.
import t from 'tap';
import { makeCache } from '../../helpers/image-cache.ts';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

t.test('deny lists win over allow lists; any allow list must then be matched', async (t) => {
  const { policy } = await makeCache(t, {
    policy: {
      allowEndorsers: ['Ops@Example.org'],
      allowUrlPrefixes: ['https://marketplace.example.org/'],
      denyChecksums: [B],
      denyEndorsers: ['eve@example.org'],
      denyUrlPrefixes: ['https://marketplace.example.org/quarantine/'],
    },
  });
  t.match(policy.decide({ sha256: A, endorser: 'ops@example.org' }), {
    allowed: false,
    reason: /a claimed endorser without a signed entry never matches/,
  });
  t.match(policy.decide({ sha256: A, url: 'https://marketplace.example.org/x.qcow2' }), { allowed: true });
  t.match(policy.decide({ sha256: B, endorser: 'ops@example.org' }), { allowed: false, reason: /deny list/ });
  t.match(policy.decide({ sha256: A, otherDigests: [B], endorser: 'ops@example.org' }), {
    allowed: false,
    reason: /checksum b+ is on the deny list/,
  });
  t.match(policy.decide({ sha256: A, url: 'https://marketplace.example.org/quarantine/x' }), {
    allowed: false,
    reason: /denied prefix/,
  });
  t.match(policy.decide({ sha256: A, endorser: 'eve@example.org', url: 'https://marketplace.example.org/x' }), {
    allowed: false,
  });
  t.match(policy.decide({ sha256: A, url: 'https://elsewhere.example.org/x' }), {
    allowed: false,
    reason: /matches no allow list/,
  });
});

t.test('without lists everything is allowed; a refusal throws after an audit record', async (t) => {
  const open = await makeCache(t);
  t.match(open.policy.decide({ sha256: A }), { allowed: true });
  const closed = await makeCache(t, { policy: { allowChecksums: [A.toUpperCase()] } });
  closed.policy.enforce({ sha256: A }, 'deploy', { actor: 'x' });
  t.throws(() => closed.policy.enforce({ sha256: B }, 'deploy', { actor: 'carol', vmId: 'vm-1' }), {
    code: 'STRATUS_ERR_IMAGE_POLICY',
  });
  t.match(closed.images.auditLog(), [{ actor: 'carol', vmId: 'vm-1', stage: 'deploy', sha256: B, decision: 'deny' }]);
});
