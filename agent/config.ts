// The agent's configuration schema: every key, its default and what it does. Read from
// /etc/stratus/agent.toml; STRATUS_AGENT_<SECTION>_<KEY> environment variables override.

import { type Static, Type } from '@sinclair/typebox';
import { loadConfig } from '../common/config.ts';

const S = (def: string, description: string, extra: object = {}) =>
  Type.String({ default: def, description, ...extra });
const I = (def: number, description: string, min = 0, max = 86_400) =>
  Type.Integer({ default: def, description, minimum: min, maximum: max });

const SL = (description: string) =>
  Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), { default: [], description });

export const AgentConfigSchema = Type.Object({
  agent: Type.Object(
    {
      host_id: S('', 'Identity of this host in the cloud; empty means the machine hostname'),
      state_dir: S('/var/lib/stratus/agent', 'Directory for the agent database and instance files'),
      console_log_dir: S('/var/log/stratus/console', 'Directory where each VM serial console is recorded'),
      resync_interval_s: I(30, 'Seconds between full comparisons of desired state with libvirt', 1, 3600),
      allowed_roots: Type.Array(Type.String({ minLength: 1, maxLength: 4096, pattern: '^/' }), {
        default: ['/var/lib/stratus', '/var/lib/libvirt/images'],
        maxItems: 64,
        description:
          'Directories under which host paths named by VM specs and file volumes (disks, CD-ROMs, kernels) must lie, symlinks resolved; anything else is refused with 403',
      }),
      orphan_grace_s: I(
        600,
        'Seconds a domain carrying this host id but without a record is kept for the controller to claim (vm.adopt, or the deploy resent with its key) before the agent removes it',
        0,
        604800,
      ),
    },
    { description: 'Agent identity and files' },
  ),
  libvirt: Type.Object(
    {
      uri: S('qemu:///system', 'libvirt connection URI'),
      virt_type: Type.Union([Type.Literal('kvm'), Type.Literal('qemu')], {
        default: 'kvm',
        description: 'Domain type: kvm (hardware virtualisation) or qemu (TCG emulation), as Nova virt_type',
      }),
      workers: I(
        16,
        'Threads that run blocking libvirt calls, at most (so as many domain starts at once): one runs at rest, another starts only for a call that waited 25 ms for a busy one, and each extra one stops after 10 s idle (about 9 MB each); calls go over one libvirt connection per 4 of them (libvirtd runs 5 calls of a client at a time, max_client_requests)',
        1,
        64,
      ),
      keepalive_interval_s: I(5, 'libvirt keepalive interval in seconds (0 disables)', 0, 600),
      keepalive_count: I(3, 'Missed keepalives before the connection is declared dead', 1, 100),
      shutdown_timeout_s: I(60, 'Seconds a guest has to shut down cleanly before it is destroyed', 1, 3600),
    },
    { description: 'Connection to libvirtd' },
  ),
  join: Type.Object(
    {
      url: S('', 'Controller API URL to join at first start (e.g. https://controller:8480); see `stratus-agent join`'),
      token: S(
        '',
        'One-time join token of `stratus host add` (or STRATUS_AGENT_JOIN_TOKEN): used at first start when the state directory holds no credentials yet, then useless',
      ),
    },
    {
      description:
        'Enrolment at first start: the agent redeems the token for its own broker account and the site CA, stored 0600 in <state_dir> (credentials.json, site-ca.pem)',
    },
  ),
  mqtt: Type.Object(
    {
      url: S('', 'Broker URL (mqtt://, mqtts://, ws://, wss://); empty: the one given at join, else no MQTT', {
        pattern: '^$|^(mqtt|mqtts|ws|wss)://[^\\s]+$',
        errorMessage: 'must be empty or an mqtt://, mqtts://, ws:// or wss:// URL',
      }),
      username: S('', 'Username on the broker (the generated ACL expects the host_id); empty: the one given at join'),
      password: S('', 'Password on the broker; empty: the one given at join'),
      tls_ca: S('', 'PEM file of the CA that signed the broker certificate; empty: the site CA given at join'),
      tls_cert: S('', 'PEM client certificate (brokers that authenticate clients by certificate)'),
      tls_key: S('', 'PEM client key'),
      keepalive_s: I(
        10,
        'MQTT keepalive; the broker declares the host offline 1.5 x this after it goes silent',
        1,
        600,
      ),
      metrics_interval_s: I(10, 'Seconds between host and VM metrics messages', 1, 3600),
      queue_max: I(10_000, 'Events kept while the broker is unreachable (oldest dropped beyond this)', 10, 1_000_000),
      reconnect_max_s: I(30, 'Longest wait between reconnection attempts (backoff from 0.5 s)', 1, 600),
      max_payload_bytes: I(262_144, 'Commands larger than this are dropped with a logged reason', 1024, 16_777_216),
    },
    { description: 'MQTT: status, metrics, events and commands through the site broker' },
  ),
  images: Type.Object(
    {
      cache_dir: S('', 'Image cache directory; empty means <state_dir>/images (/var/lib/stratus/agent/images)'),
      quota_gib: I(
        100,
        'Most GiB the image cache may hold; beyond it unused images are evicted, least recently used first (0: no quota)',
        0,
        1_048_576,
      ),
      max_virtual_size_gib: I(2048, 'Images whose virtual size is larger are refused', 1, 1_048_576),
      download_idle_timeout_s: I(60, 'Seconds without data before a download attempt is given up', 1, 3600),
      download_retries: I(5, 'Times an interrupted download is resumed with HTTP Range before it fails', 0, 100),
      allow_checksums: SL('Image policy: checksums (sha256, sha512, sha1, md5) allowed'),
      deny_checksums: SL('Image policy: checksums refused'),
      allow_url_prefixes: SL('Image policy: source URL prefixes allowed'),
      deny_url_prefixes: SL('Image policy: source URL prefixes refused'),
      allow_endorsers: SL(
        'Image policy: endorsers allowed; only the endorser of a verified signed Marketplace entry matches (a claimed endorser string never does)',
      ),
      deny_endorsers: SL('Image policy: endorsers refused'),
      allow_marketplace_ids: SL('Image policy: Marketplace ids allowed (from verified entries)'),
      deny_marketplace_ids: SL('Image policy: Marketplace ids refused'),
      require_signed: Type.Boolean({
        default: false,
        description:
          'Image policy: launch only images that come with a signed Marketplace entry the agent verifies (signature, expiry, image digests)',
      }),
      allowed_signers: S(
        '',
        "Image policy: file of trusted endorser keys in ssh-keygen allowed_signers format; when set, entries are verified against it (read at every check) instead of the key the controller's trust store vouches for",
      ),
    },
    {
      description:
        'Image cache and policy. Deny lists win; when any allow list is set, an image must match one of them',
    },
  ),
  volumes: Type.Object(
    {
      iscsi_mode: Type.Union([Type.Literal('qemu'), Type.Literal('host')], {
        default: 'qemu',
        description:
          "iSCSI attach mode: qemu (QEMU's own initiator, CHAP in a libvirt secret) or host (iscsiadm session, block device)",
      }),
      initiator_name: S(
        '',
        "This host's iSCSI initiator name; empty: /etc/iscsi/initiatorname.iscsi, else iqn.2024-01.org.stratus-cloud:host.<host_id>",
      ),
      detach_timeout_s: I(30, 'Seconds a guest has to release a hot-unplugged disk', 1, 3600),
      login_timeout_s: I(30, 'host mode: seconds for the LUN to appear as a block device after login', 1, 600),
    },
    { description: 'Persistent volumes attached to VMs (iSCSI or shared files)' },
  ),
  network: Type.Object(
    {
      firewall_table: S('stratus', 'nftables table (bridge family) that holds the per-VM firewall chains', {
        pattern: '^[A-Za-z0-9_]{1,32}$',
      }),
    },
    { description: 'Networks on this host: bridges of Stratus networks, per-VM firewall rules' },
  ),
  migration: Type.Object(
    {
      peer_uri: S(
        '',
        "libvirt URI other hosts' libvirtd use to reach this host's for peer-to-peer migration; empty: qemu+tls://<host_id>/system",
      ),
      address: S(
        '',
        'Address other hosts send migration data to (memory stream, NBD disk copy); empty: the host id as a name',
      ),
      downtime_ms: I(500, 'Longest pause of a live-migrated guest at the switch-over, in ms', 1, 60_000),
      bandwidth_mibs: I(0, 'Bandwidth cap of one migration in MiB/s (0: unlimited)', 0, 1_000_000),
      auto_converge: Type.Boolean({
        default: true,
        description: 'Throttle the vCPUs of a guest that dirties memory faster than it can be sent',
      }),
      timeout_s: I(1800, 'A migration still running after this many seconds is cancelled; the VM stays', 10, 86_400),
    },
    { description: 'Live and cold migration of VMs to and from this host (see docs/migration.md)' },
  ),
  api: Type.Object(
    {
      listen: S(
        'unix:/run/stratus/agent.sock',
        'Local API address: unix:/path/to/socket (mode 0660, group `socket_group`), or a loopback host:port, which then needs the token of token_file',
        {
          pattern: '^unix:/.+$|^(127\\.[0-9.]+|\\[::1\\]|::1|localhost):[0-9]{1,5}$',
          errorMessage: 'must be unix:/path or a loopback host:port',
        },
      ),
      socket_group: S('stratus', 'Group given the unix socket (read-write for its members) when that group exists'),
      token_file: S(
        '',
        'TCP listener only: file holding the bearer token every request but /v1/health must carry (created 0600 at first start); empty means <state_dir>/api.token',
      ),
    },
    { description: 'Local control API (never exposed off-host): a unix socket by default' },
  ),
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
export type AgentConfig = Static<typeof AgentConfigSchema>;

export const DEFAULT_AGENT_CONFIG_PATH = '/etc/stratus/agent.toml';

export function loadAgentConfig(path: string | undefined, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  return loadConfig(AgentConfigSchema, {
    path,
    envPrefix: 'STRATUS_AGENT',
    env,
    required: path !== DEFAULT_AGENT_CONFIG_PATH,
  });
}
