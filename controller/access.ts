// Who may reach what (docs/security.md): the site TLS material, host enrolment (join tokens, per-host
// broker accounts, revocation), the embedded broker's authentication (stored, short-lived and internal
// accounts; anonymous clients only with [mqtt] allow_anonymous, and then telemetry only), short-lived
// read-only broker accounts for dashboards, and the /metrics guard (admin token or [metrics] token).

import { randomBytes } from 'node:crypto';
import type { RequestHandler, Router } from 'express';
import type { Logger } from 'pino';
import type { Db } from '../common/sqlite.ts';
import { UnauthorizedError } from './auth/middleware.ts';
import type { Principal, UserStore } from './auth/users.ts';
import type { ControllerConfig } from './config.ts';
import type { DashboardSettings } from './dashboard/routes.ts';
import { type MqttAccounts, verifyPassword } from './mqtt/accounts.ts';
import { AccountAuth } from './mqtt/acl.ts';
import type { EmbeddedBroker } from './mqtt/broker.ts';
import { Enrolment } from './mqtt/enrolment.ts';
import { enrolmentRoutes } from './mqtt/enrolment-routes.ts';
import { TemporaryAccounts } from './mqtt/temporary-accounts.ts';
import { secretEquals } from '../common/secret-compare.ts';
import {
  certificateNames,
  ensureSiteTls,
  isLoopback,
  listenerTls,
  listenHost,
  type SiteTls,
  urlOf,
} from './tls/site-tls.ts';

export { urlOf };

export const INTERNAL_USER = 'stratus-controller';

function listenAddresses(c: ControllerConfig): string[] {
  return [c.api.listen, c.mqtt.embedded ? c.mqtt.listen : '', c.mqtt.embedded ? c.mqtt.ws_listen : ''];
}

/** The site CA and the controller's certificate for this configuration (made or renewed as needed). */
export function siteTlsFor(c: ControllerConfig, log: Logger): Promise<SiteTls> {
  return ensureSiteTls({
    stateDir: c.controller.state_dir,
    site: c.controller.site,
    names: certificateNames(listenAddresses(c), c.tls.names),
    given: { cert: c.tls.cert, key: c.tls.key, ca: c.tls.ca },
    log,
  });
}

export interface AccessDeps {
  config: ControllerConfig;
  db: Db;
  log: Logger;
  accounts: MqttAccounts;
}

export class Access {
  readonly enrolment: Enrolment;
  readonly temporary = new TemporaryAccounts();
  /** The controller's own broker session (embedded broker): a secret made at each start. */
  readonly internalSecret = randomBytes(24).toString('base64url');
  tls: SiteTls | undefined;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly d: AccessDeps) {
    this.enrolment = new Enrolment(d.db, d.accounts, () => this.site().caFingerprint);
  }

  /** Whether the listener at `spec` speaks TLS. */
  tlsOn(spec: string): boolean {
    return listenerTls(this.d.config.tls.mode, spec);
  }

  /** Creates or loads the site CA and the controller's certificate. */
  async start(broker: () => EmbeddedBroker | undefined): Promise<void> {
    const c = this.d.config;
    this.tls = await siteTlsFor(c, this.d.log);
    for (const l of listenAddresses(c)) {
      if (l && c.tls.mode === 'never' && !isLoopback(listenHost(l))) {
        this.d.log.warn(
          { listen: l },
          'plain listener off loopback ([tls] mode = "never"): credentials cross the network in clear',
        );
      }
    }
    this.sweeper = setInterval(() => {
      const gone = new Set(this.temporary.sweep());
      if (gone.size) broker()?.disconnect((who) => gone.has(who.username));
    }, 15_000);
    this.sweeper.unref();
  }

  stop(): void {
    if (this.sweeper) clearInterval(this.sweeper);
  }

  brokerAuth(): AccountAuth {
    return new AccountAuth({
      lookup: (u) => this.d.accounts.get(u),
      verify: verifyPassword,
      internal: { username: INTERNAL_USER, secret: this.internalSecret },
      temporary: this.temporary,
      allowAnonymous: this.d.config.mqtt.allow_anonymous,
    });
  }

  /** URLs and CA a joining host gets; needs start(). `apiAddress`/`mqttAddress`: the bound addresses. */
  site(addr: { api: string; mqtt: string } = { api: this.d.config.api.listen, mqtt: this.d.config.mqtt.listen }) {
    const c = this.d.config;
    const tls = this.tls;
    if (!tls) throw new Error('site TLS not loaded yet');
    const apiUrl = (c.api.public_url || urlOf(this.tlsOn(c.api.listen) ? 'https' : 'http', addr.api)).replace(
      /\/$/,
      '',
    );
    let mqttUrl = c.mqtt.public_url;
    if (!mqttUrl && c.mqtt.embedded && c.mqtt.listen && addr.mqtt) {
      const apiHost = new URL(apiUrl).hostname;
      const port = addr.mqtt.slice(addr.mqtt.lastIndexOf(':') + 1);
      mqttUrl = `${this.tlsOn(c.mqtt.listen) ? 'mqtts' : 'mqtt'}://${apiHost}:${port}`;
    }
    if (!mqttUrl && c.mqtt.embedded) mqttUrl = `${apiUrl.replace(/^http/, 'ws')}/mqtt`;
    if (!mqttUrl) mqttUrl = c.mqtt.url;
    return { apiUrl, mqttUrl, ca: tls.caPem, caFingerprint: tls.caFingerprint };
  }

  /** Connection settings for a dashboard user: a short-lived read-only account on the embedded broker. */
  dashboardSettings(who: Principal): DashboardSettings {
    const m = this.d.config.mqtt;
    const base = { wsUrl: m.dashboard_ws_url, site: this.d.config.controller.site };
    if (!m.embedded || m.dashboard_username) {
      return { ...base, username: m.dashboard_username, password: m.dashboard_password, expiresAt: 0 };
    }
    const a = this.temporary.issue(who.name, m.dashboard_ttl_s * 1000);
    this.d.log.info({ user: who.name, account: a.username, expiresAt: a.expiresAt }, 'dashboard broker account issued');
    return { ...base, username: a.username, password: a.password, expiresAt: a.expiresAt };
  }

  /** /metrics: an admin's bearer token, or [metrics] token (Prometheus). */
  metricsGuard(users: () => UserStore): RequestHandler {
    return (req, _res, next) => {
      const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
      const token = m?.[1];
      const scrape = this.d.config.metrics.token;
      if (token && scrape && secretEquals(token, scrape)) return next();
      const p = token ? users().authenticate(token) : undefined;
      if (p?.role === 'admin') return next();
      next(new UnauthorizedError('/metrics needs an admin token or the [metrics] token (Authorization: Bearer ...)'));
    };
  }

  /** Enrolment routes, to mount under /v1 after authentication. */
  routes(o: { broker: () => EmbeddedBroker | undefined; addresses: () => { api: string; mqtt: string } }): Router {
    return enrolmentRoutes({
      enrolment: this.enrolment,
      log: this.d.log,
      defaultTtlS: this.d.config.mqtt.join_token_ttl_s,
      site: () => this.site(o.addresses()),
      disconnect: (host) => o.broker()?.disconnect((who) => who.role === 'host' && who.username === host),
    });
  }
}
