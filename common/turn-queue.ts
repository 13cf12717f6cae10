// Work spread over turns of the event loop: at most `perTurn` jobs run in one turn, the rest in the next
// ones, so that a burst (a scheduling pass that placed 200 VMs starts 200 deploys) does not hold the loop
// in one stretch while API requests and MQTT messages wait. Jobs run in the order they were given.

export class TurnQueue {
  private readonly jobs: (() => void)[] = [];
  private scheduled = false;

  constructor(private readonly perTurn: number) {}

  get length(): number {
    return this.jobs.length;
  }

  push(job: () => void): void {
    this.jobs.push(job);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.jobs.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      for (const job of this.jobs.splice(0, this.perTurn)) {
        try {
          job();
        } catch {
          // a job reports its own failures; one that throws must not drop the others
        }
      }
      this.schedule();
    });
  }
}
