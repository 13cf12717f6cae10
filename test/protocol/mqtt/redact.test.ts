// What the agent publishes carries no secret: capability-URL tokens are replaced, secret fields dropped.
import t from 'tap';
import { redactSecrets } from '../../../protocol/mqtt/redact.ts';

t.test("a deploy reply's spec loses the context ISO token and CHAP secrets; the rest is kept", async (t) => {
  const view = {
    id: 'vm-1',
    spec: {
      context: { url: 'http://ctl:8480/v1/context/vm-1.iso?token=S3CR3T-abc_def', sha256: 'a'.repeat(64) },
      disks: [{ source: { url: 'https://ctl/v1/images/x/content?token=T0K&x=1' } }],
      volumes: [{ chap: { username: 'u', secret: 'chap-secret-123' } }],
    },
    password: 'p',
    state: 'running',
  };
  const out = redactSecrets(view);
  const text = JSON.stringify(out);
  for (const s of ['S3CR3T', 'T0K', 'chap-secret-123', '"password"']) t.notMatch(text, s, `no ${s}`);
  t.equal(out.spec.context.url, 'http://ctl:8480/v1/context/vm-1.iso?token=redacted');
  t.equal(out.spec.disks[0]!.source.url, 'https://ctl/v1/images/x/content?token=redacted&x=1');
  t.same(out.spec.volumes[0]!.chap, { username: 'u' });
  t.equal(out.state, 'running');
  t.equal(view.spec.context.url.includes('S3CR3T'), true, 'the original is not modified');
});
