// A simulated agent for controller tests: a SimHost that comes online with capacity, records every
// command it receives, answers each with what the test's handler says (or not at all), publishes VM
// states, and can die (its Last Will fires) and come back with a new session, as a killed agent does.

import { filters, topics } from '../../protocol/mqtt/index.ts';
import { SimHost } from './sim-host.ts';

export interface SimCommand {
  id: string;
  key: string;
  command: string;
  args: any;
}

export type SimAnswer =
  | { ok: true; result?: unknown }
  | { ok: false; error: { code: string; message: string; status: number; details?: object } }
  | undefined;

export class SimAgent {
  host: SimHost;
  readonly received: SimCommand[] = [];
  handler: (cmd: SimCommand) => SimAnswer | Promise<SimAnswer> = () => ({ ok: true, result: { state: 'running' } });

  constructor(
    readonly id: string,
    private readonly url: string,
    private session = 1,
    /** Its broker account (the embedded broker refuses clients without one). */
    private readonly auth: { username: string; password: string } | undefined = undefined,
  ) {
    this.host = new SimHost(id, session);
  }

  async start(): Promise<void> {
    const h = this.host;
    await h.connect(this.url, { clean: true, clientId: `sim-${this.id}-${this.session}`, ...this.auth });
    h.client!.on('message', (_topic, payload) => {
      const cmd = JSON.parse(payload.toString()) as SimCommand;
      this.received.push(cmd);
      void Promise.resolve(this.handler(cmd)).then((answer) => {
        if (answer) void this.reply(cmd, answer);
      });
    });
    await h.client!.subscribeAsync(filters.hostCommands(this.id), { qos: 1 });
    await h.publish(topics.hostInfo(this.id), h.info(), { retain: true });
    await h.publish(topics.hostStatus(this.id), h.status('online'), { retain: true });
  }

  reply(cmd: SimCommand, answer: NonNullable<SimAnswer>): Promise<unknown> {
    const body = answer.ok
      ? { type: 'result', ok: true, result: answer.result ?? null }
      : { type: 'result', ok: false, error: { details: {}, ...answer.error } };
    return this.host.publish(topics.reply(this.id, cmd.id), {
      ...this.host.env(),
      id: cmd.id,
      key: cmd.key,
      command: cmd.command,
      ...body,
    });
  }

  /** Publishes a VM's state as the agent does (retained); `deleted` clears it. */
  vm(vm: string, state: string, name = 'vm'): Promise<unknown> {
    if (state === 'deleted') return this.host.publish(topics.vmState(this.id, vm), '', { retain: true });
    return this.host.publish(topics.vmState(this.id, vm), this.host.vmState(vm, name, state), { retain: true });
  }

  private generation = 0;

  /** Publishes the host's inventory (retained): these VMs, complete or not. */
  inventory(vms: { vm: string; state: string; key?: string }[], complete = true): Promise<unknown> {
    return this.host.publish(
      topics.hostInventory(this.id),
      {
        ...this.host.env(),
        complete,
        generation: ++this.generation,
        vms: vms.map((v) => ({ name: 'vm', desired: 'running', createdAt: Date.now(), ...v })),
        unclaimed: [],
      },
      { retain: true },
    );
  }

  commands(name: string): SimCommand[] {
    return this.received.filter((c) => c.command === name);
  }

  /** Dies without a goodbye: the broker publishes its Last Will. */
  async kill(): Promise<void> {
    this.host.client!.stream.destroy();
    await this.host.client!.endAsync(true).catch(() => undefined);
  }

  /** Comes back as a restarted agent: a new session counter, online again. */
  async restart(): Promise<void> {
    this.session++;
    const seq = this.host.seq;
    this.host = new SimHost(this.id, this.session);
    this.host.seq = seq;
    await this.start();
  }

  async stop(): Promise<void> {
    await this.host.client?.endAsync(true).catch(() => undefined);
  }
}
