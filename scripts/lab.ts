// `npm run lab -- up|down|status [--tag T]`: the two-host lab on one machine (docs/lab.md). `up` starts two
// libvirtd instances in their own network and mount namespaces (detached: they stay up after the command
// returns) and prints how to reach them; `down` removes everything the lab made; `status` shows it.
// Run as root. The tag (default `dev`, 1-8 of [a-z0-9]) names everything, so labs of different tags coexist.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { LAB_RUN_ROOT, labDown, labHost, labUp } from '../test/helpers/lab.ts';

const args = process.argv.slice(2);
const cmd = args.find((a) => !a.startsWith('--'));
const tagAt = args.indexOf('--tag');
const tag = tagAt >= 0 ? (args[tagAt + 1] ?? '') : 'dev';
const say = (s: string) => process.stdout.write(`${s}\n`);

function describe(): void {
  for (const [i, h] of ['a', 'b'].entries()) {
    const host = labHost(tag, h, i);
    say(`host ${h}: netns ${host.ns}, address ${host.address}`);
    say(`  agent URI:      ${host.uri}`);
    say(`  peer URI:       ${host.peerUri}   (from the other lab host)`);
    say(`  files:          ${host.dir}   (agent state: ${join(host.dir, 'agent')})`);
    say(`  virsh:          virsh -c '${host.uri}' list --all`);
  }
  say(`migrate by hand: ip netns exec slab-${tag}-a virsh -c qemu+tcp://10.250.0.1/system migrate --live --p2p \\`);
  say('                   --persistent --undefinesource DOMAIN qemu+tcp://10.250.0.2/system tcp://10.250.0.2');
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    say('lab: run as root (it creates network namespaces and starts libvirtd)');
    return 2;
  }
  switch (cmd) {
    case 'up':
      await labUp({ tag, detached: true });
      say(`Lab ${tag} is up.`);
      describe();
      say(`Stop it with: npm run lab -- down${tag === 'dev' ? '' : ` --tag ${tag}`}`);
      return 0;
    case 'down':
      await labDown(tag);
      say(`Lab ${tag} is down.`);
      return 0;
    case 'status': {
      const file = join(LAB_RUN_ROOT, tag, 'lab.json');
      if (!existsSync(file)) {
        say(`Lab ${tag} is not up.`);
        return 1;
      }
      describe();
      for (const [i, h] of ['a', 'b'].entries()) {
        const host = labHost(tag, h, i);
        say(`--- ${h}`);
        say(execFileSync('virsh', ['-c', host.uri, 'list', '--all'], { encoding: 'utf8' }).trim());
      }
      return 0;
    }
    default:
      say('usage: npm run lab -- up|down|status [--tag T]');
      return 2;
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    say(`lab: ${err.message}`);
    process.exit(1);
  },
);
