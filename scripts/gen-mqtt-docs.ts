// Generates docs/mqtt.md from the MQTT protocol catalogue and its TypeBox schemas (topics, QoS,
// retain flags, every payload field). `npm run docs:mqtt` writes it; `--check` exits 1 when stale.
import { readFileSync, writeFileSync } from 'node:fs';
import type { TSchema } from '@sinclair/typebox';
import { AGENT_COMMANDS, catalog, commandCatalogue } from '../protocol/mqtt/index.ts';

function typeOf(s: TSchema): string {
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  if (s.anyOf) return (s.anyOf as TSchema[]).map(typeOf).join(' \\| ');
  if (s.type === 'array') return `${typeOf(s.items as TSchema)}[]`;
  if (s.type === 'object' && s.patternProperties) return 'object (map)';
  return (s.type as string | undefined) ?? 'any';
}

function fields(schema: TSchema, prefix = '', required = true): string[] {
  const rows: string[] = [];
  const props = (schema.properties ?? {}) as Record<string, TSchema>;
  const req = new Set((schema.required as string[] | undefined) ?? []);
  for (const [name, s] of Object.entries(props)) {
    const path = `${prefix}${name}`;
    const opt = !(required && req.has(name));
    const extra = [
      s.description,
      s.pattern ? `pattern \`${s.pattern}\`` : '',
      s.maxItems ? `≤ ${s.maxItems} items` : '',
    ]
      .filter(Boolean)
      .join('; ');
    rows.push(`| \`${path}\` | ${typeOf(s)} | ${opt ? 'no' : 'yes'} | ${extra.replaceAll('|', '\\|')} |`);
    if (s.type === 'object' && s.properties) rows.push(...fields(s, `${path}.`, !opt));
    if (s.type === 'array' && (s.items as TSchema).type === 'object') {
      rows.push(...fields(s.items as TSchema, `${path}[].`, !opt));
    }
  }
  return rows;
}

export function render(): string {
  const out = [
    '# MQTT protocol (v1)',
    '',
    'Generated from `protocol/mqtt/` by `scripts/gen-mqtt-docs.ts` (`npm run docs:mqtt`); do not edit by hand.',
    '',
    "Agents and the controller talk through an MQTT 3.1.1 broker (the controller's embedded aedes, mosquitto or",
    'EMQX), so hypervisors need no inbound port. Payloads are JSON objects with a schema version `v`, a',
    'timestamp `ts` (ms since the epoch) and, from agents, the `host`, the connection `session` counter and a',
    'per-host sequence number `seq`. Unknown fields are ignored (forward compatible); messages with a wrong `v`,',
    'bad JSON, a schema violation or over the size limit are dropped with a logged reason and counted.',
    '',
    '## Sessions and the Last Will',
    '',
    'The agent increments its session counter (kept in its database) at every MQTT connect and puts it in the',
    'Last Will (`status` = offline, reason `last-will`) and in the `online` status it publishes right after',
    'connecting. A receiver that holds `online` for session N ignores an `offline` of a session below N, so a',
    'Will fired late for a dead connection never marks a reconnected host offline. The broker fires the Will',
    '1.5 × keepalive after the agent went silent.',
    '',
    '## Access control',
    '',
    'No client connects without credentials unless `[mqtt] allow_anonymous` is set, and then it only reads telemetry',
    '(`status`, `info`, `metrics`, `vm-metrics`, VM `state`). Each host has its own account (given at enrolment, see',
    '[security.md](security.md)), publishes only under `stratus/v1/hosts/<host>/` and reads only `stratus/v1/cmd/<host>/`',
    '(and its own status); the controller reads everything and writes commands; dashboards read telemetry, `events`',
    'and `inventory`, never commands or replies. `stratus-controller mqtt write-mosquitto` writes a mosquitto ACL and',
    'password file that say exactly this; the embedded broker enforces the same rules (controller/mqtt/acl.ts).',
    'Replies, events and states carry no secrets: capability URLs lose their query string and secret fields are',
    'redacted before they are published.',
    '',
    '## Topics',
    '',
    '| message | topic | from | QoS | retained |',
    '|---|---|---|---|---|',
    ...catalog.map((m) => `| ${m.name} | \`${m.topic}\` | ${m.from} | ${m.qos} | ${m.retained ? 'yes' : 'no'} |`),
    '',
  ];
  for (const m of catalog) {
    out.push(`## ${m.name}`, '', `\`${m.topic}\` — from ${m.from}, QoS ${m.qos}${m.retained ? ', retained' : ''}.`, '');
    if (m.schema.description) out.push(m.schema.description, '');
    out.push(m.notes, '', '| field | type | required | meaning |', '|---|---|---|---|', ...fields(m.schema), '');
  }
  out.push(
    '## Commands',
    '',
    'Every command an agent accepts, from `protocol/mqtt/command-catalogue.ts` (the agent registers exactly',
    'these; the controller dispatches them typed). Commands go to `stratus/v1/cmd/<host>/<command>`; replies',
    'come back on `stratus/v1/hosts/<host>/replies/<id>`: progress messages where the table says so, then one',
    'result with `ok` and `result` (the result schema below) or `error` (a typed `STRATUS_ERR_*` status).',
    '',
    '| command | progress | sent by | what it does |',
    '|---|---|---|---|',
    ...AGENT_COMMANDS.map((name) => {
      const c = commandCatalogue[name];
      return `| \`${name}\` | ${c.progress ? 'yes' : 'no'} | ${c.senders.join(', ')} | ${c.description} |`;
    }),
    '',
  );
  for (const name of AGENT_COMMANDS) {
    const c = commandCatalogue[name];
    out.push(`### \`${name}\``, '', c.description, '');
    out.push('| argument | type | required | meaning |', '|---|---|---|---|', ...fields(c.args), '');
    const result = fields(c.result);
    if (result.length > 0) out.push('| result field | type | required | meaning |', '|---|---|---|---|', ...result, '');
    else out.push(`Result: ${typeOf(c.result)}.`, '');
  }
  return out.join('\n');
}

const target = new URL('../docs/mqtt.md', import.meta.url);
if (import.meta.url === `file://${process.argv[1]}`) {
  const text = render();
  if (process.argv.includes('--check')) {
    if (readFileSync(target, 'utf8') !== text) {
      process.stderr.write('docs/mqtt.md is out of date: run `npm run docs:mqtt`\n');
      process.exit(1);
    }
  } else writeFileSync(target, text);
}
