// The fleet as a controller feature: what the hosts publish over MQTT, decoded and applied by the
// ingest to the fleet store (hosts, VM states, events, metrics history), and the Fleet view the
// scheduler and the VM service use. Started once MQTT is up; stopping flushes the metrics history.

import type { Logger } from 'pino';
import type { Db } from '../../common/sqlite.ts';
import type { ControllerConfig } from '../config.ts';
import type { ControllerFeature } from '../feature.ts';
import { FleetService } from './fleet.ts';
import { FleetIngest } from './ingest.ts';
import { FleetStore } from './store.ts';

export class FleetFeature implements ControllerFeature {
  readonly name = 'fleet';
  readonly store: FleetStore;
  readonly ingest: FleetIngest;
  /** The `Fleet` view (fleet-view.ts): hosts, VM states, 'host' and 'vm-state' events. */
  readonly fleet: FleetService;

  constructor(config: ControllerConfig, db: Db, log: Logger) {
    this.store = new FleetStore(db);
    this.ingest = new FleetIngest({
      store: this.store,
      log: log.child({ part: 'ingest' }),
      maxPayloadBytes: config.mqtt.max_payload_bytes,
      downGraceS: config.mqtt.host_down_grace_s,
      history: {
        stepS: config.metrics.history_step_s,
        rawS: config.metrics.history_raw_s,
        bucketS: config.metrics.history_bucket_s,
        keepS: config.metrics.history_keep_s,
      },
    });
    this.fleet = new FleetService(this.store, this.ingest);
  }

  start(): void {
    this.ingest.start();
  }

  stop(): void {
    this.ingest.stop();
  }
}
