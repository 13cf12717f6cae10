// Probe host of bench/fleet-sim, in its own process: connects as one more simulated host with the
// agent's MQTT keepalive (its Last Will set), says online, prints "ready" and keeps its session alive
// with PINGREQs. The bench then freezes it (SIGSTOP): its TCP connection stays open and silent, as
// when a hypervisor hangs or loses power behind a switch, so the broker only notices by keepalive.
//   _fleet-probe.ts URL HOST_ID PASSWORD KEEPALIVE_S
import { topics } from '../protocol/mqtt/index.ts';
import { SimHost } from '../test/helpers/sim-host.ts';

const [url, id, password, keepalive] = process.argv.slice(2);
const host = new SimHost(id!);
await host.connect(url!, { keepalive: Number(keepalive), username: id, password });
await host.publish(topics.hostStatus(host.id), host.status('online'), { retain: true });
await host.publish(topics.hostInfo(host.id), host.info(), { retain: true });
process.stdout.write('ready\n');
