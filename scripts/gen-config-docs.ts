// Generates docs/configuration.md from the daemons' configuration schemas (every key, default, meaning).
// `tsx scripts/gen-config-docs.ts` writes it; `--check` exits 1 when the file is out of date.
import { readFileSync, writeFileSync } from 'node:fs';
import type { TObject, TSchema } from '@sinclair/typebox';
import { AgentConfigSchema, DEFAULT_AGENT_CONFIG_PATH } from '../agent/config.ts';
import { ControllerConfigSchema, DEFAULT_CONTROLLER_CONFIG_PATH } from '../controller/config.ts';

interface Daemon {
  name: string;
  path: string;
  envPrefix: string;
  schema: TObject<Record<string, TObject>>;
}

export const daemons: Daemon[] = [
  { name: 'stratus-agent', path: DEFAULT_AGENT_CONFIG_PATH, envPrefix: 'STRATUS_AGENT', schema: AgentConfigSchema },
  {
    name: 'stratus-controller',
    path: DEFAULT_CONTROLLER_CONFIG_PATH,
    envPrefix: 'STRATUS_CONTROLLER',
    schema: ControllerConfigSchema,
  },
];

function fmt(v: unknown): string {
  return v === undefined || v === '' ? '(empty)' : `\`${JSON.stringify(v)}\``;
}

export function render(list: Daemon[] = daemons): string {
  const out = [
    '# Configuration',
    '',
    'Generated from the configuration schemas by `scripts/gen-config-docs.ts`; do not edit by hand.',
    'Each daemon reads one TOML file; every key is optional and shown with its default. An environment',
    'variable `PREFIX_SECTION_KEY` overrides a key (lists: comma-separated).',
    '',
  ];
  for (const d of list) {
    out.push(`## ${d.name}: \`${d.path}\``, '');
    for (const [section, s] of Object.entries(d.schema.properties)) {
      out.push(`### [${section}]${s.description ? ` — ${s.description}` : ''}`, '');
      out.push('| key | default | environment | meaning |', '|---|---|---|---|');
      for (const [key, ks] of Object.entries(s.properties)) {
        const k = ks as TSchema;
        out.push(
          `| \`${key}\` | ${fmt(k.default)} | \`${`${d.envPrefix}_${section}_${key}`.toUpperCase()}\` | ${k.description ?? ''} |`,
        );
      }
      out.push('');
    }
  }
  return out.join('\n');
}

const target = new URL('../docs/configuration.md', import.meta.url);
if (import.meta.url === `file://${process.argv[1]}`) {
  const text = render();
  if (process.argv.includes('--check')) {
    const current = readFileSync(target, 'utf8');
    if (current !== text) {
      process.stderr.write('docs/configuration.md is out of date: run `npx tsx scripts/gen-config-docs.ts`\n');
      process.exit(1);
    }
  } else writeFileSync(target, text);
}
