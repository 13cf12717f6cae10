// tier: unit
// What a failed deploy means: a refusal of the spec fails the VM, one host's own policy tries the
// others, an unknown outcome keeps the VM on its host, a command never sent places it again.
import t from 'tap';
import { StratusError } from '../../../common/errors.ts';
import { classifyDeployError } from '../../../controller/vms/outcomes.ts';

const err = (code: string, status: number) => new StratusError(code, 'x', { status });

t.test('each kind of deploy failure has its outcome', async (t) => {
  t.equal(classifyDeployError(err('STRATUS_ERR_IMAGE_REFUSED', 422), true), 'refused', 'a hostile image, anywhere');
  t.equal(classifyDeployError(err('STRATUS_ERR_VALIDATION', 400), true), 'refused', 'a spec that does not validate');
  t.equal(classifyDeployError(err('STRATUS_ERR_IMAGE_POLICY', 403), true), 'host-policy', "this host's image policy");
  t.equal(classifyDeployError(err('STRATUS_ERR_HOST_PATH_NOT_ALLOWED', 403), true), 'host-policy', "this host's roots");
  t.equal(classifyDeployError(err('STRATUS_ERR_DEADLINE_EXCEEDED', 504), true), 'unknown');
  t.equal(classifyDeployError(err('STRATUS_ERR_LIBVIRT_DISCONNECTED', 503), true), 'unknown');
  t.equal(classifyDeployError(err('STRATUS_ERR_HOST_UNAVAILABLE', 503), false), 'not-sent');
  t.equal(classifyDeployError(err('STRATUS_ERR_HOST_UNAVAILABLE', 503), true), 'unknown');
  t.equal(classifyDeployError(err('STRATUS_ERR_LIBVIRT', 500), true), 'host', 'a libvirt failure on that host');
});
