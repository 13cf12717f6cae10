// The controller killed with SIGKILL in the middle of a deploy: restarted, it resends the same deploy
// (same idempotency key), so the VM ends running (or failed with a reason), never stuck, never doubled.
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import t from 'tap';
import { startController } from '../../helpers/controller-process.ts';
import { sha256File } from '../../helpers/file-server.ts';
import { testGuest } from '../../helpers/guest.ts';
import { waitFor } from '../../helpers/wait.ts';

t.test(
  'controller killed with SIGKILL mid-deploy and restarted: the VM ends running, nothing duplicated',
  async (t) => {
    const disk = testGuest().disk;
    // an image server that holds each download for 4 s, so the deploy is surely in flight when we kill
    const server = createServer((_req, res) => {
      setTimeout(() => {
        res.writeHead(200, { 'content-length': statSync(disk).size });
        createReadStream(disk).pipe(res);
      }, 4000);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.teardown(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as { port: number }).port;

    let c = await startController();
    t.teardown(() => c.cleanup());
    const agent = await c.agent('hv-a', { uri: 'test:///default' });
    const img = await c.request('POST', '/v1/images', {
      name: 'slow',
      url: `http://127.0.0.1:${port}/disk.qcow2`,
      sha256: sha256File(disk),
      format: 'qcow2',
    });
    t.equal(img.status, 201);
    const vm = (await c.request('POST', '/v1/vms', { name: 'survivor', type: 't1.micro', image: 'slow' })).body
      .items[0];
    await waitFor(
      'the deploy to be in flight',
      async () => ((await c.request('GET', `/v1/vms/${vm.id}`)).body.state === 'deploying' ? true : undefined),
      20_000,
      20,
    );

    await c.kill('SIGKILL');
    c = await c.restart();
    const final = await waitFor(
      'the VM to settle after the restart',
      async () => {
        const r = await c.request('GET', `/v1/vms/${vm.id}`);
        return ['running', 'failed'].includes(r.body.state) ? r.body : undefined;
      },
      60_000,
      200,
    );
    t.equal(final.state, 'running', `ended ${final.state}: ${final.reason}`);
    t.equal(final.attempts, 1, 'the same attempt was resumed, not a new one');
    const onAgent = (await agent.request('GET', '/v1/vms')).body.items.filter((v: { id: string }) => v.id === vm.id);
    t.equal(onAgent.length, 1, 'exactly one VM on the host');
    const created = agent
      .output()
      .split('\n')
      .filter((l) => l.includes(vm.id) && l.includes('"msg":"VM created"'));
    t.equal(created.length, 1, 'the agent created it once');
    t.equal((await c.request('GET', `/v1/vms`)).body.items.length, 1, 'one VM in the controller');
  },
);
