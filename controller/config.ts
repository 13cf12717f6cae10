// The controller's configuration schema: every key, its default and what it does. Read from
// /etc/stratus/controller.toml; STRATUS_CONTROLLER_<SECTION>_<KEY> environment variables override.

import { type Static, Type } from '@sinclair/typebox';
import { loadConfig } from '../common/config.ts';
import { NetworkConfigSchema } from './network/config.ts';
import { VolumesConfigSchema } from './volumes/config.ts';

const S = (def: string, description: string, extra: object = {}) =>
  Type.String({ default: def, description, ...extra });
const I = (def: number, description: string, min = 0, max = 86_400) =>
  Type.Integer({ default: def, description, minimum: min, maximum: max });
const B = (def: boolean, description: string) => Type.Boolean({ default: def, description });

export const ControllerConfigSchema = Type.Object({
  controller: Type.Object(
    {
      state_dir: S('/var/lib/stratus/controller', 'Directory for the controller database'),
      site: S('default', 'Name of this site (one controller per site)'),
      allowed_roots: Type.Array(Type.String({ minLength: 1, maxLength: 4096, pattern: '^/' }), {
        default: ['/var/lib/stratus'],
        maxItems: 64,
        description:
          'Directories under which host paths the controller hands to agents (file volumes) must lie, symlinks resolved; agents check again against their own allowed_roots',
      }),
    },
    { description: 'Controller identity and files' },
  ),
  mqtt: Type.Object(
    {
      embedded: B(true, 'Run the embedded MQTT broker (aedes); false connects to the external broker at `url`'),
      listen: S('127.0.0.1:1883', 'Embedded broker: MQTT over TCP address host:port (empty disables TCP)'),
      ws_listen: S(
        '',
        'Embedded broker: extra MQTT-over-WebSocket address host:port; the API listener always serves it at /mqtt',
      ),
      url: S('', 'External broker URL (mqtt://, mqtts://, ws://, wss://); also used by the embedded mode when set', {
        pattern: '^$|^(mqtt|mqtts|ws|wss)://[^\\s]+$',
        errorMessage: 'must be empty or an mqtt://, mqtts://, ws:// or wss:// URL',
      }),
      username: S('', 'Username of the controller on the broker'),
      password: S('', 'Password of the controller on the broker'),
      tls_ca: S('', 'PEM file of the CA that signed the broker certificate (mqtts/wss)'),
      tls_cert: S('', 'PEM client certificate (mqtts/wss with client authentication)'),
      tls_key: S('', 'PEM client key'),
      allow_anonymous: B(
        false,
        'Embedded broker and generated mosquitto files: let clients without credentials connect, to read host telemetry (status, info, metrics, VM states) only; never commands, replies or events',
      ),
      public_url: S(
        '',
        'Broker URL handed to hosts at join; empty: mqtt(s)://<host of the API public URL>:<port of listen>',
        {
          pattern: '^$|^(mqtt|mqtts|ws|wss)://[^\\s]+$',
          errorMessage: 'must be empty or an mqtt(s):// or ws(s):// URL',
        },
      ),
      join_token_ttl_s: I(3600, 'Seconds a join token of `stratus host add` stays valid', 60, 7 * 86_400),
      dashboard_ws_url: S(
        '',
        'WebSocket URL the dashboard connects to; empty means the /mqtt endpoint of this controller',
      ),
      dashboard_ttl_s: I(
        3600,
        'Seconds a read-only broker account issued to a dashboard (GET /dashboard/config.json) is valid',
        60,
        86_400,
      ),
      dashboard_username: S(
        '',
        'External broker only: read-only account handed to authenticated dashboard users (the embedded broker issues short-lived ones)',
      ),
      dashboard_password: S('', 'Password of that read-only dashboard account'),
      host_down_grace_s: I(
        0,
        'Seconds after a host Last Will before it is reported down (0: at once, as the Will already waited 1.5 × keepalive)',
        0,
        3600,
      ),
      max_payload_bytes: I(262_144, 'Messages larger than this are dropped with a logged reason', 1024, 16_777_216),
    },
    { description: 'MQTT: how agents, dashboards and the controller meet' },
  ),
  metrics: Type.Object(
    {
      history_step_s: I(
        60,
        "Full resolution of the metrics history: the samples of each host and VM within this many seconds are averaged into one point (at most the agents' interval: every sample)",
        1,
        3600,
      ),
      history_raw_s: I(3600, 'Seconds of metrics kept at full resolution', 60, 7 * 86_400),
      history_bucket_s: I(300, 'Older metrics are downsampled into buckets of this many seconds', 10, 86_400),
      history_keep_s: I(7 * 86_400, 'Seconds of downsampled metrics kept', 600, 366 * 86_400),
      token: S(
        '',
        'Bearer token Prometheus presents to scrape /metrics (compared in constant time); admin tokens are accepted too; empty: admin tokens only',
      ),
    },
    { description: 'Metrics history in the controller database (bounded and downsampled)' },
  ),
  api: Type.Object(
    {
      listen: S('127.0.0.1:8480', 'REST API, dashboard and /metrics address: host:port'),
      public_url: S(
        '',
        'URL agents use to reach this API (join, image downloads); empty means http(s)://<listen> (https when the listener speaks TLS)',
      ),
      admin_token: S('', 'Token of the first admin; empty: generated at first start into <state_dir>/admin.token'),
      capability_ttl_s: I(
        3600,
        'Seconds a capability URL (image download or upload, context ISO) stays valid; keep it above scheduler.deploy_timeout_s',
        60,
        7 * 86_400,
      ),
      auth_failures_max: I(
        20,
        'Failed authentications from one address within auth_failures_window_s before it gets 429 (0: no limit)',
        0,
        1_000_000,
      ),
      auth_failures_window_s: I(60, 'Window of the failed-authentication limit, in seconds', 1, 86_400),
    },
    { description: 'HTTP API of the controller' },
  ),
  tls: Type.Object(
    {
      mode: Type.Union([Type.Literal('auto'), Type.Literal('always'), Type.Literal('never')], {
        default: 'auto',
        description:
          'Which listeners (API, MQTT, MQTT over WebSocket) speak TLS: auto = every one not bound to loopback; always; never = plain everywhere (an explicit choice, logged as a warning off loopback)',
      }),
      cert: S('', 'PEM certificate to serve instead of the one the site CA issues (with key and ca)'),
      key: S('', 'PEM private key of that certificate'),
      ca: S('', 'PEM of the CA that signed it (handed to hosts at join)'),
      names: Type.Array(Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.:*-]+$' }), {
        default: [],
        description:
          'Extra DNS names and IP addresses of the generated certificate (it always covers the hostname, localhost, loopback and the listen addresses)',
      }),
    },
    {
      description:
        'TLS of the API and the embedded broker. At first start the controller creates a site CA in <state_dir>/tls/ (ca.pem; ca.key 0600) and a certificate for itself',
    },
  ),
  images: Type.Object(
    {
      max_upload_mib: I(65_536, 'Largest image upload accepted, in MiB (413 beyond)', 1, 1 << 30),
      user_quota_mib: I(
        102_400,
        'MiB of image content each user may keep on the controller (uploads and saved disks) unless their quota says otherwise; admins are not limited (0: no limit)',
        0,
        1 << 30,
      ),
      max_virtual_size_gib: I(2048, 'Images whose virtual size is larger are refused at upload (422)', 1, 1_048_576),
      inspect_registered: B(
        true,
        'Inspect images registered by URL (qemu-img reads their header over HTTP); when the URL cannot be read the image is accepted and agents inspect it at download',
      ),
    },
    { description: 'Images kept by the controller: limits, quotas and inspection at the door' },
  ),
  audit: Type.Object(
    {
      keep_days: I(
        365,
        'Days audit entries (API calls, host commands) are kept in the controller database (0: forever)',
        0,
        36_500,
      ),
    },
    { description: 'Audit log: who did what, when, with which outcome (GET /v1/audit, `stratus audit`)' },
  ),
  marketplace: Type.Object(
    {
      mirrors: Type.Array(Type.String({ maxLength: 2048, pattern: '^https?://[^\\s]+$' }), {
        default: [],
        maxItems: 64,
        description:
          "Other sites' marketplace feeds to replicate (their https://HOST/v1/marketplace/feed); every pulled entry is verified against this site's trust store and refused entries are logged",
      }),
      mirror_interval_s: I(3600, 'Seconds between two pulls of every mirror', 10, 604_800),
      mirror_timeout_s: I(60, 'Seconds a pull of one mirror may take', 1, 3600),
      public_feed: B(
        true,
        'Serve /v1/marketplace/feed (every entry with its signature) without a token, for other sites to replicate; entries are signed public metadata and reveal no VM',
      ),
      site_endorser: S(
        '',
        'E-mail address the site key signs saved images as (default stratus@<site>); the site key is <state_dir>/marketplace/site_ed25519 (0600), made at first start',
      ),
      require_entry: B(
        false,
        'Launch only images that have a signed Marketplace entry on this site that passes the checks now (trusted key, not expired or deprecated)',
      ),
      saved_image_valid_days: I(
        365,
        'Days the entries the site signs for saved images (save-as) stay valid',
        1,
        36_500,
      ),
    },
    { description: 'The site Marketplace: signed image entries, trusted endorser keys, replication between sites' },
  ),
  scheduler: Type.Object(
    {
      policy: Type.Union([Type.Literal('packing'), Type.Literal('striping'), Type.Literal('load-aware')], {
        default: 'packing',
        description: 'Ranking: packing fills hosts one by one, striping spreads VMs, load-aware prefers idle hosts',
      }),
      cpu_overcommit: Type.Number({ default: 4, minimum: 1, maximum: 64, description: 'vCPUs per physical CPU' }),
      memory_overcommit: Type.Number({ default: 1, minimum: 0.5, maximum: 4, description: 'Memory over-commit ratio' }),
      image_cache_bonus: Type.Number({
        default: 0.25,
        minimum: 0,
        maximum: 10,
        description: 'Ranking bonus of hosts that cache the image',
      }),
      max_deploy_attempts: I(3, 'Hosts a VM is tried on before it fails', 1, 20),
      deploy_timeout_s: I(900, 'Seconds a deploy may take (image download included)', 10, 86_400),
      action_timeout_s: I(120, 'Seconds a power action or console request may take', 5, 3600),
      migrate_timeout_s: I(
        1800,
        'Seconds a migration may take before the controller gives up waiting (the agent cancels at its own [migration] timeout_s)',
        10,
        86_400,
      ),
      evacuate_parallel: I(2, 'Migrations a host evacuation runs at once', 1, 64),
      host_exclusion_s: I(
        600,
        'Seconds a host where a deploy of a VM failed is avoided for that VM (the failure may be transient)',
        0,
        86_400,
      ),
      reconcile_interval_s: I(
        30,
        'Seconds between two passes that resend unresolved deploys and compare VMs with what hosts report',
        1,
        3600,
      ),
    },
    { description: 'Placement of VMs on hosts' },
  ),
  volumes: VolumesConfigSchema,
  network: NetworkConfigSchema,
  log: Type.Object(
    {
      level: Type.Union(
        ['fatal', 'error', 'warn', 'info', 'debug', 'trace'].map((l) => Type.Literal(l)),
        { default: 'info', description: 'Log level' },
      ),
    },
    { description: 'Logging (structured JSON on stdout, for the journal)' },
  ),
});
export type ControllerConfig = Static<typeof ControllerConfigSchema>;

export const DEFAULT_CONTROLLER_CONFIG_PATH = '/etc/stratus/controller.toml';

export function loadControllerConfig(path: string | undefined, env: NodeJS.ProcessEnv = process.env): ControllerConfig {
  return loadConfig(ControllerConfigSchema, {
    path,
    envPrefix: 'STRATUS_CONTROLLER',
    env,
    required: path !== undefined && path !== DEFAULT_CONTROLLER_CONFIG_PATH,
  });
}
