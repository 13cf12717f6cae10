// Host facts and counters read from procfs, sysfs and statfs (drivers/host-metrics.ts): the parsers on
// sample files, and one live reading of this machine.
// tier: unit
import t from 'tap';
import {
  hostCounters,
  hostFacts,
  parseCpuinfo,
  parseMeminfo,
  parseMountinfo,
  parseNetDev,
  parseOsRelease,
  parseProcStat,
} from '../../drivers/host-metrics.ts';

t.test('os-release: name and version without its code name', async (t) => {
  t.same(
    parseOsRelease(
      'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\n',
    ),
    {
      distro: 'Debian GNU/Linux',
      release: '12',
    },
  );
  t.same(parseOsRelease('NAME="Rocky Linux"\nVERSION_ID="9.3"\n'), { distro: 'Rocky Linux', release: '9.3' });
  t.same(parseOsRelease(''), { distro: 'unknown', release: 'unknown' });
});

t.test('cpuinfo: sockets, physical cores, logical CPUs, model', async (t) => {
  const cpu = (p: number, core: number) =>
    `processor\t: ${p}\nmodel name\t: Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz\ncpu MHz\t\t: 2100.000\nphysical id\t: ${Math.floor(p / 4)}\ncore id\t\t: ${core}\n\n`;
  // 2 sockets × 2 cores × 2 threads
  const text = [0, 1, 2, 3, 4, 5, 6, 7].map((p) => cpu(p, Math.floor((p % 4) / 2))).join('');
  t.same(parseCpuinfo(text), {
    model: 'Intel(R) Xeon(R) Gold 6130 CPU',
    sockets: 2,
    physicalCores: 4,
    logical: 8,
    mhz: 2100,
  });
});

t.test('meminfo, /proc/stat, /proc/net/dev, mountinfo', async (t) => {
  t.same(
    parseMeminfo(
      'MemTotal:       1000 kB\nMemFree:  100 kB\nMemAvailable:   600 kB\nSwapTotal: 50 kB\nSwapFree: 20 kB\n',
    ),
    {
      total: 1000 * 1024,
      available: 600 * 1024,
      swapTotal: 50 * 1024,
      swapFree: 20 * 1024,
    },
  );
  t.same(parseProcStat('cpu  10 1 5 80 4 0 0 0 3 0\ncpu0 5 1 2 40 2 0 0 0 3 0\ncpu1 5 0 3 40 2 0 0 0 0 0\nintr 1\n'), {
    busy: 16,
    total: 100,
    cpus: 2,
  });
  const dev =
    'Inter-|   Receive |  Transmit\n face |bytes packets\n    lo: 5 1 0 0 0 0 0 0 5 1 0 0 0 0 0 0\n  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n';
  t.same(parseNetDev(dev), [
    { iface: 'lo', rxBytes: 5, txBytes: 5 },
    { iface: 'eth0', rxBytes: 1000, txBytes: 2000 },
  ]);
  const mi =
    '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n' +
    '23 22 0:21 / /proc rw shared:2 - proc proc rw\n' +
    '24 22 8:1 /var/lib /srv/bind rw shared:1 - ext4 /dev/sda1 rw\n' +
    '25 22 8:2 / /var/lib/with\\040space rw shared:3 - xfs /dev/sda2 rw\n' +
    '26 22 0:30 / /tmp rw shared:4 - tmpfs tmpfs rw\n';
  t.same(parseMountinfo(mi), [
    { mount: '/', fs: 'ext4' },
    { mount: '/var/lib/with space', fs: 'xfs' },
  ]);
});

t.test('a live reading of this host', async (t) => {
  const f = await hostFacts();
  t.ok(f.cpu.logical >= 1 && f.cpu.cores >= 1 && f.cpu.sockets >= 1 && f.memoryBytes > 0, JSON.stringify(f.cpu));
  t.ok(f.os.kernel.length > 0);
  const c = await hostCounters();
  t.ok(c.memory.total > 0 && c.memory.available <= c.memory.total && c.logicalCpus >= 1);
  t.ok(c.cpuUsagePct >= 0 && c.cpuUsagePct <= 100);
  t.ok(c.disks.length >= 1 && c.disks.every((d) => d.size > 0 && d.used <= d.size), 'file systems with their sizes');
  t.ok(
    c.net.every((n) => !/^(lo$|vnet|tap|veth)/.test(n.iface)),
    'no loopback or VM taps',
  );
});
