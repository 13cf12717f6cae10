// tier: unit
import t from 'tap';
import { ValidationError } from '../../common/errors.ts';
import { validate } from '../../common/validate.ts';
import { ContextRequest } from '../../protocol/context.ts';
import { VmSpec } from '../../protocol/vm-spec.ts';

const good = { id: '3f1c2a9e-1b2c-4d5e-8f90-1234567890ab', name: 'vm-1', vcpus: 1, memoryMiB: 128 };

t.test('defaults are filled in without changing the caller object', async (t) => {
  const input = { ...good };
  const v = validate(VmSpec, input);
  t.same(v.disks, []);
  t.same(v.nics, []);
  t.notOk('disks' in input, 'input untouched');
});

t.test('every bad field is named in one readable message', async (t) => {
  const err = t.throws(() => validate(VmSpec, { ...good, memoryMiB: -5, name: 'a<b>&"c', extra: 1 }, 'VM spec'));
  t.ok(err instanceof ValidationError);
  const e = err as ValidationError;
  t.equal(e.status, 400);
  t.equal(e.code, 'STRATUS_ERR_VALIDATION');
  t.match(e.message, /invalid VM spec/);
  t.match(e.message, /\/memoryMiB: must be an integer from 16/);
  t.match(e.message, /\/name: must be 1-63 letters/);
});

t.test('MAC addresses, bridges and paths are constrained', async (t) => {
  t.throws(() => validate(VmSpec, { ...good, nics: [{ bridge: 'br0; rm -rf /', mac: '52:54:00:00:00:01' }] }));
  t.throws(() => validate(VmSpec, { ...good, nics: [{ bridge: 'br0', mac: 'not-a-mac' }] }));
  t.throws(() => validate(VmSpec, { ...good, disks: [{ path: 'relative/disk.qcow2', format: 'qcow2' }] }));
  t.throws(() => validate(VmSpec, { ...good, boot: { kernel: '/k', cmdline: 'a\nb' } }));
  t.ok(validate(VmSpec, { ...good, nics: [{ bridge: 'br-test.10', mac: '52:54:00:aa:bb:cc' }] }));
});

t.test('an object where an array with a default is expected: a 400, not an internal error', async (t) => {
  // found by the fuzzer: Value.Default threw "array is not iterable" on this body (a 500 on POST /v1/context)
  const body = JSON.parse(
    '{"vmId":"f206c004-0000-4000-81bc-09093673d9ee","flavour":"opennebula","hostname":"P","sshPublicKeys":{"a":false,"__proto__":{"x":null}},"userData":"x"}',
  );
  t.throws(() => validate(ContextRequest, body), { code: 'STRATUS_ERR_VALIDATION' });
});
