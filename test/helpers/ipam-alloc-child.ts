// A separate process that allocates leases in a shared controller database, so that tests can prove
// the UNIQUE constraints and IMMEDIATE transactions hold under real concurrency (several writers at
// once). Usage: tsx ipam-alloc-child.ts <db> <network> <count> <first-nic-index>; prints the leases as JSON.

import { randomUUID } from 'node:crypto';
import { createLogger } from '../../common/logger.ts';
import { openDatabase } from '../../common/sqlite.ts';
import { IpamService } from '../../controller/network/ipam.ts';

const [dbPath, network, count] = process.argv.slice(2);
if (dbPath && network && count) {
  const ipam = new IpamService(openDatabase(dbPath), createLogger('alloc-child', 'silent'));
  const out = [];
  for (let i = 0; i < Number(count); i++) out.push(ipam.allocate(network, { vmId: randomUUID() }));
  process.stdout.write(JSON.stringify(out));
}
