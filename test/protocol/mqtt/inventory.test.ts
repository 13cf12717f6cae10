// tier: unit
import t from 'tap';
import { decode, encode, HostInventory, specHash } from '../../../protocol/mqtt/index.ts';

const spec = {
  id: '3f1c2a9e-1b2c-4d5e-8f90-1234567890ab',
  name: 'web',
  vcpus: 1,
  memoryMiB: 64,
  disks: [],
  nics: [],
};

t.test('the spec hash ignores key order and defaults spelled out, and changes with the spec', async (t) => {
  const h = specHash(spec);
  t.match(h, /^[0-9a-f]{64}$/);
  const reordered = Object.fromEntries(Object.entries(spec).reverse());
  t.equal(specHash(reordered), h, 'key order does not matter');
  t.equal(specHash({ ...spec, cdroms: [] }), h, 'a default written out hashes like the default');
  t.not(specHash({ ...spec, memoryMiB: 128 }), h, 'a different spec has a different hash');
});

t.test('an inventory with VMs and unclaimed domains decodes; one without `complete` does not', async (t) => {
  const inv = {
    v: 1,
    ts: 1,
    host: 'hv-1',
    session: 2,
    seq: 7,
    complete: true,
    generation: 3,
    vms: [
      {
        vm: spec.id,
        name: 'web',
        state: 'running',
        desired: 'running',
        key: `deploy:${spec.id}:1`,
        specHash: specHash(spec),
        createdAt: 1,
      },
    ],
    unclaimed: [{ vm: '00000000-0000-4000-8000-000000000001', name: 'stratus-x', state: 'shutoff', removeAt: 9 }],
  };
  t.same(decode(HostInventory, encode(inv)), inv);
  const { complete: _, ...partial } = inv;
  t.throws(() => decode(HostInventory, encode(partial)), { code: 'STRATUS_ERR_MALFORMED_MESSAGE' });
});
