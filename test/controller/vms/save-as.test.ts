// Save-as through the controller: a running VM's disk becomes a new image (live block copy on the
// agent, uploaded to the controller), and a new VM booted from it sees the first VM's data. The saved
// image has a Marketplace entry signed by the site key, valid for the days the admin configured
// ([marketplace] saved_image_valid_days), that launches of it carry to the agent.
import t from 'tap';
import { marketplaceId } from '../../../protocol/marketplace.ts';
import { uploadTestGuest } from '../../helpers/cloud-images.ts';
import { startController } from '../../helpers/controller-process.ts';
import { waitFor } from '../../helpers/wait.ts';

t.test('save-as of a running VM gives an image from which a new VM boots with the first VM data', async (t) => {
  const c = await startController({ extraToml: '[marketplace]\nsaved_image_valid_days = 30\n' });
  t.teardown(() => c.cleanup());
  const agent = await c.agent('hv-save');
  await uploadTestGuest(c, 'saveguest', 'stratus.dhcp=0 stratus.marker_write=golden-marker');
  const consoleOf = (id: string) => agent.request('GET', `/v1/vms/${id}/console`).then((r) => String(r.body));
  const vm1 = JSON.parse(
    (await c.cli(['vm', 'create', 'src', '--type', 'm1.small', '--image', 'saveguest', '--wait', '--json'])).stdout,
  ).items[0];
  await waitFor(
    'the marker written',
    async () => ((await consoleOf(vm1.id)).includes('STRATUS-MARKER-WRITTEN golden-marker') ? true : undefined),
    90_000,
    250,
  );

  const saved = await c.cli(['vm', 'save-as', vm1.id, '--name', 'golden', '--json']);
  t.equal(saved.code, 0, saved.stderr);
  const img = JSON.parse(saved.stdout);
  t.match(img, { name: 'golden', state: 'available', format: 'qcow2', stored: true });
  t.match(img.sha256, /^[0-9a-f]{64}$/);
  t.ok(img.kernelImage, 'boots like its source: kernel inherited');

  // signed by the site key, valid for the configured 30 days (StratusLab's saved images expired after two)
  t.equal(img.endorser, 'stratus@test', 'the site endorses what it saved');
  const entryId = marketplaceId(img.sha256);
  const market = await c.request('GET', `/v1/marketplace/${entryId}`);
  t.equal(market.status, 200, JSON.stringify(market.body));
  const item = market.body.items[0];
  t.match(item, { status: 'valid', entry: { endorser: { email: 'stratus@test' }, tags: ['saved'], format: 'qcow2' } });
  t.notOk(item.refused, 'the site trusts its own key');
  t.equal(
    (Date.parse(item.entry.validUntil) - Date.parse(item.entry.created)) / 86_400_000,
    30,
    'valid for saved_image_valid_days',
  );
  t.equal(img.expiresAt, item.entry.validUntil, 'the image shows the expiry of its entry');
  t.notOk('title' in item.entry, 'a private image is not named in the Marketplace');

  const vm2 = JSON.parse(
    (await c.cli(['vm', 'create', 'copy', '--type', 'm1.small', '--image', 'golden', '--wait', '--json'])).stdout,
  ).items[0];
  await waitFor(
    'the first VM marker in the copy',
    async () => ((await consoleOf(vm2.id)).includes('STRATUS-MARKER-FOUND golden-marker') ? true : undefined),
    90_000,
    250,
  );
  t.pass('the new VM found the marker the first one wrote');

  const bob = (await c.request('POST', '/v1/users', { name: 'bob' })).body.token as string;
  t.equal((await c.request('POST', `/v1/vms/${vm1.id}/save-as`, { name: 'stolen' }, bob)).status, 403);
  t.notOk(
    (await c.request('GET', '/v1/images')).body.items.some((i: { name: string }) => i.name === 'stolen'),
    'nothing half-made',
  );
  const forged = await fetch(`${c.url}/v1/images/${img.id}/content?host=test-host&exp=9999999999&token=forged`, {
    method: 'PUT',
    body: 'x',
  });
  t.equal(forged.status, 403, 'the upload URL needs its token');
});
