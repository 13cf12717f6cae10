// The shape every part of the controller has (auth, fleet, images, context, network, volumes, vms): the
// routes it mounts, the deploy hooks it gives the deployer, and its start and stop. The daemon builds
// the features in one declared order, each from the ones before it (no forward references), mounts
// their routes, lets them recover before the API listens, starts them in that order once MQTT is up, and stops them in the reverse order.

import type { Router } from 'express';
import type { DeployHook } from './vms/deploy-hook.ts';

export interface ControllerFeature {
  readonly name: string;
  /** Routers mounted under /v1, after bearer authentication (each route declares its role). */
  readonly routes?: readonly Router[];
  /** Routers mounted at the root, before /v1 (the dashboard, /metrics); full paths. */
  readonly rootRoutes?: readonly Router[];
  /** Steps of a deploy this feature owns (NICs and context, volumes), run in feature order. */
  readonly deployHooks?: readonly DeployHook[];
  /**
   * Called before the API listens, in feature order: settles records a restart interrupted. Nothing
   * a request makes can race with it (a volume created in the first instant must not be mistaken for
   * one a crash left half-made).
   */
  recover?(): Promise<void> | void;
  /** Called once the API listens and MQTT is connected, in feature order. */
  start?(): Promise<void> | void;
  /** Called in reverse feature order before the database closes. */
  stop?(): Promise<void> | void;
}
