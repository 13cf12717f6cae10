// Context CD-ROMs: the ISOs read back with isoinfo with the right label and files; hostile values
// (quotes, newlines, $(...), backticks) come through a real shell unchanged and execute nothing; the
// NoCloud YAML parses to what was asked; the NICs come from IPAM leases; the download URL needs the
// VM's current token; bad input is a 400 with nothing built.

import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import express from 'express';
import t from 'tap';
import { parse } from 'yaml';
import { problemHandler } from '../../../common/http-problem.ts';
import { createLogger } from '../../../common/logger.ts';
import { openDatabase } from '../../../common/sqlite.ts';
import { contextRoutes } from '../../../controller/context/routes.ts';
import { ContextService } from '../../../controller/context/service.ts';
import { IpamService } from '../../../controller/network/ipam.ts';
import { readIso, readIsoFile } from '../../../drivers/iso.ts';

const run = promisify(execFile);
const log = createLogger('test', 'silent');
const dir = mkdtempSync(join(tmpdir(), 'stratus-ctx-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const db = openDatabase(join(dir, 'controller.db'));
t.teardown(() => db.close());
const ipam = new IpamService(db, log);
const ctx = new ContextService({ db, log, dir: join(dir, 'isos'), ipam });
const canary = join(dir, 'pwned');

const hostile = [
  `it's "quoted" and 'single'`,
  'two\nlines\n\nand a blank one',
  `$(touch ${canary})`,
  `\`touch ${canary}\``,
  `\${HOME} $HOME \\ backslash ; semicolon & amp | pipe`,
  "'; touch " + canary + "; '",
  'trailing newline\n',
  'unicode: é ✓ 雪',
];

t.test(
  'OpenNebula ISO: label CONTEXT, context.sh; hostile values come through sh unchanged and run nothing',
  async (t) => {
    const vmId = randomUUID();
    const variables = Object.fromEntries(hostile.map((v, i) => [`HOSTILE_${i}`, v]));
    const iso = await ctx.build(
      {
        vmId,
        hostname: 'web1',
        username: 'alice',
        sshPublicKeys: ['ssh-ed25519 AAAAC3Nza alice@example', "ssh-rsa AAAAB3 bob's key"],
        startScript: '#!/bin/sh\necho "started $(hostname)"\n',
        userData: '#cloud-config\nruncmd: [["echo", "`hi`"]]\n',
        variables,
      },
      [{ mac: '02:00:00:00:00:01', ipv4: '10.213.0.5', prefix4: 24, gateway4: '10.213.0.1', dns4: ['10.213.0.53'] }],
    );
    t.same(await readIso(iso.path), { label: 'CONTEXT', files: ['context.sh'] });
    const sh = (await readIsoFile(iso.path, 'context.sh')).toString('utf8');
    writeFileSync(join(dir, 'context.sh'), sh);
    for (const shell of ['sh', 'bash', 'busybox']) {
      // source it, then print each variable NUL-terminated so that newlines survive
      const names = [...Object.keys(variables), 'ETH0_IP', 'ETH0_MASK', 'SET_HOSTNAME', 'USER_DATA', 'SSH_PUBLIC_KEY'];
      const script = `. ${join(dir, 'context.sh')}; for v in ${names.join(' ')}; do eval "printf '%s\\\\0' \\"\\$$v\\""; done`;
      const argv = shell === 'busybox' ? ['sh', '-c', script] : ['-c', script];
      const { stdout } = await run(shell, argv, { encoding: 'utf8' });
      const got = stdout.split('\0').slice(0, -1);
      t.same(got.slice(0, hostile.length), hostile, `${shell}: hostile values unchanged`);
      const [ip, mask, host, userData, keys] = got.slice(hostile.length);
      t.same(
        [ip, mask, host, keys],
        ['10.213.0.5', '255.255.255.0', 'web1', "ssh-ed25519 AAAAC3Nza alice@example\nssh-rsa AAAAB3 bob's key"],
      );
      // with a login user, USER_DATA is MIME multipart: Stratus's #cloud-config (the user, its keys), the
      // start script, and the user's own data unchanged
      t.match(userData, /^Content-Type: multipart\/mixed; boundary="(stratus-[0-9a-f]+)"\n/);
      t.match(
        userData,
        /Content-Type: text\/cloud-config; charset="utf-8"\nMIME-Version: 1\.0\n\n#cloud-config\nhostname: "web1"\nusers:\n {2}- default\n {2}- name: "alice"/,
      );
      t.match(
        userData,
        /Content-Type: text\/x-shellscript; charset="utf-8"\nMIME-Version: 1\.0\n\n#!\/bin\/sh\necho "started/,
      );
      t.ok(userData!.includes('\n\n#cloud-config\nruncmd: [["echo", "`hi`"]]\n'), "the user's part unchanged");
    }
    t.notOk(existsSync(canary), 'nothing was executed');
    t.match(sh, /^START_SCRIPT_BASE64='IyEvYmluL3NoCmVjaG8gInN0YXJ0ZWQgJChob3N0bmFtZSkiCg=='$/m);
    t.match(sh, /^USERNAME='alice'$/m);
  },
);

t.test('NoCloud ISO: label cidata, meta-data, user-data, network-config v2 that parse to what was asked', async (t) => {
  const vmId = randomUUID();
  const nics = [
    {
      mac: '02:00:00:00:00:02',
      ipv4: '10.213.0.6',
      prefix4: 24,
      gateway4: '10.213.0.1',
      dns4: ['10.213.0.53'],
      ipv6: 'fd00:213::6',
      prefix6: 64,
    },
  ];
  const iso = await ctx.build(
    {
      vmId,
      flavour: 'nocloud',
      hostname: 'db1',
      username: 'bob',
      sshPublicKeys: [hostile[0]!],
      startScript: hostile[1],
    },
    nics,
  );
  t.same(await readIso(iso.path), { label: 'cidata', files: ['meta-data', 'network-config', 'user-data'] });
  const meta = parse((await readIsoFile(iso.path, 'meta-data')).toString());
  t.same(meta, { 'instance-id': vmId, 'local-hostname': 'db1', 'public-keys': [hostile[0]] });
  const userData = (await readIsoFile(iso.path, 'user-data')).toString();
  t.match(userData, /^#cloud-config\n/);
  const ud = parse(userData);
  t.equal(ud.hostname, 'db1');
  t.same(ud.users[1].ssh_authorized_keys, [hostile[0]]);
  t.equal(Buffer.from(ud.write_files[0].content, 'base64').toString(), hostile[1], 'start script intact');
  const net = parse((await readIsoFile(iso.path, 'network-config')).toString());
  t.same(net, {
    version: 2,
    ethernets: {
      eth0: {
        match: { macaddress: '02:00:00:00:00:02' },
        'set-name': 'eth0',
        dhcp4: false,
        addresses: ['10.213.0.6/24', 'fd00:213::6/64'],
        gateway4: '10.213.0.1',
        nameservers: { addresses: ['10.213.0.53'] },
      },
    },
  });
  const dhcp = await ctx.build({ vmId, flavour: 'nocloud', hostname: 'db1', addressing: 'dhcp' }, nics);
  const net2 = parse((await readIsoFile(dhcp.path, 'network-config')).toString());
  t.same(net2.ethernets.eth0, {
    match: { macaddress: '02:00:00:00:00:02' },
    'set-name': 'eth0',
    dhcp4: true,
    dhcp6: true,
  });
});

t.test("the NICs come from the VM's IPAM leases", async (t) => {
  const n = ipam.createNetwork({
    name: 'ctxnet',
    bridge: 'stctx0',
    ipv4: { cidr: '10.213.7.0/24', gateway: '10.213.7.1', dns: ['10.213.7.53'] },
    ipv6: { prefix: 'fd00:213:7::/64' },
  });
  const vmId = randomUUID();
  const lease = ipam.allocate(n.id, { vmId });
  const iso = await ctx.build({ vmId, hostname: 'leased' });
  const sh = (await readIsoFile(iso.path, 'context.sh')).toString();
  for (const line of [
    `ETH0_MAC='${lease.mac}'`,
    `ETH0_IP='${lease.ipv4}'`,
    "ETH0_MASK='255.255.255.0'",
    "ETH0_GATEWAY='10.213.7.1'",
    "ETH0_DNS='10.213.7.53'",
    `ETH0_IP6='${lease.ipv6Slaac}'`,
    "ETH0_IP6_PREFIX_LENGTH='64'",
    "ETH0_NETWORK='ctxnet'",
    "SET_HOSTNAME='leased'",
  ]) {
    t.ok(sh.split('\n').includes(line), line);
  }
});

t.test('the download URL needs the current token; a rebuild invalidates the old one', async (t) => {
  const app = express();
  app.use(express.json());
  app.use((_req, res, next) => {
    res.locals['principal'] = { id: 'a', name: 'admin', role: 'admin' };
    next();
  });
  app.use('/v1', contextRoutes(ctx));
  app.use(problemHandler(log));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  t.teardown(() => server.close());
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  const vmId = randomUUID();
  const res = await fetch(`${base}/context`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ vmId, hostname: 'dl' }),
  });
  t.equal(res.status, 201);
  const built = (await res.json()) as { url: string; sha256: string; path?: string };
  t.notOk('path' in built, 'the controller path is not shown');
  const got = await fetch(base + built.url);
  t.equal(got.status, 200);
  const bytes = Buffer.from(await got.arrayBuffer());
  t.same(bytes, readFileSync(ctx.path(vmId)), 'the ISO itself');
  const bad = await fetch(`${base}/context/${vmId}.iso?token=nope`);
  t.equal(bad.status, 403);
  t.equal(bad.headers.get('content-type'), 'application/problem+json; charset=utf-8');
  t.equal((await fetch(`${base}/context/${randomUUID()}.iso?token=x`)).status, 403, 'unknown VM');
  await ctx.build({ vmId, hostname: 'dl2' });
  t.equal((await fetch(base + built.url)).status, 403, 'old token refused after a rebuild');
  await ctx.remove(vmId);
  t.notOk(existsSync(ctx.path(vmId)), 'removed with the VM');
});

t.test('bad context requests are 400s and build nothing', async (t) => {
  const vmId = randomUUID();
  for (const req of [
    { vmId, hostname: 'has space' },
    { vmId, hostname: 'ok', variables: { lower: 'x' } },
    { vmId, hostname: 'ok', variables: { NUL: 'a\0b' } },
    { vmId, hostname: 'ok', flavour: 'ec2' },
    { vmId: 'nope', hostname: 'ok' },
  ]) {
    const err = (await ctx.build(req).catch((e: unknown) => e)) as { status?: number };
    t.equal(err.status, 400, JSON.stringify(req));
  }
  t.notOk(existsSync(ctx.path(vmId)));
});

t.test('a migrating VM gets its ISO under a new URL bound to the target, without a rebuild', async (t) => {
  const vmId = randomUUID();
  const first = await ctx.build({ vmId, hostname: 'mover' }, [], 'host-a');
  const firstToken = new URLSearchParams(first.url.split('?')[1]).get('token')!;
  const again = await ctx.reissue(vmId, 'host-b');
  t.ok(again, 'an existing ISO is issued again');
  t.equal(again!.sha256, first.sha256, 'same ISO');
  const token = new URLSearchParams(again!.url.split('?')[1]).get('token')!;
  t.not(token, firstToken, 'a new token');
  t.match(again!.url, /host=host-b/);
  t.ok(ctx.checkToken(vmId, token, 'host-b'), 'the target may download it');
  t.notOk(ctx.checkToken(vmId, token, 'host-a'), 'the source may not use the new URL');
  t.notOk(ctx.checkToken(vmId, firstToken, 'host-a'), 'the old URL stops working');
  // a missing or changed file is not issued again: the caller builds it
  writeFileSync(ctx.path(vmId), 'not the ISO');
  t.equal(await ctx.reissue(vmId, 'host-b'), undefined, 'a changed file is not issued');
  t.equal(await ctx.reissue(randomUUID(), 'host-b'), undefined, 'no ISO, nothing issued');
});
