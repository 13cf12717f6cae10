// Loads a daemon's TOML configuration: defaults from the schema, then the file (if present), then
// environment variables (PREFIX_SECTION_KEY, e.g. STRATUS_AGENT_LIBVIRT_URI), validated as a whole.

import { readFileSync } from 'node:fs';
import type { Static, TObject, TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parse as parseToml } from 'smol-toml';
import { ConfigError } from './errors.ts';
import { problems } from './validate.ts';

type Sections = TObject<Record<string, TObject>>;

function coerce(schema: TSchema, raw: string): unknown {
  const t = schema['type'];
  if (t === 'integer' || t === 'number') {
    const n = Number(raw);
    return Number.isFinite(n) ? n : raw;
  }
  if (t === 'boolean') return raw === 'true' || raw === '1' ? true : raw === 'false' || raw === '0' ? false : raw;
  if (t === 'array') return raw === '' ? [] : raw.split(',').map((s) => s.trim());
  return raw;
}

export function loadConfig<T extends Sections>(
  schema: T,
  opts: { path?: string | undefined; envPrefix: string; env?: NodeJS.ProcessEnv; required?: boolean },
): Static<T> {
  const env = opts.env ?? process.env;
  let fromFile: Record<string, unknown> = {};
  if (opts.path) {
    let text: string | undefined;
    try {
      text = readFileSync(opts.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || opts.required) {
        throw new ConfigError(`cannot read configuration ${opts.path}: ${(err as Error).message}`, { path: opts.path });
      }
    }
    if (text !== undefined) {
      try {
        fromFile = parseToml(text) as Record<string, unknown>;
      } catch (err) {
        throw new ConfigError(`configuration ${opts.path} is not valid TOML: ${(err as Error).message}`, {
          path: opts.path,
        });
      }
    }
  }
  const merged: Record<string, Record<string, unknown>> = {};
  for (const [section, sectionSchema] of Object.entries(schema.properties)) {
    const given = (fromFile[section] ?? {}) as Record<string, unknown>;
    const values: Record<string, unknown> = { ...given };
    for (const [key, keySchema] of Object.entries(sectionSchema.properties)) {
      const name = `${opts.envPrefix}_${section}_${key}`.toUpperCase();
      const raw = env[name];
      if (raw !== undefined) values[key] = coerce(keySchema as TSchema, raw);
    }
    merged[section] = Value.Default(sectionSchema, values) as Record<string, unknown>;
  }
  for (const section of Object.keys(fromFile)) {
    if (!(section in schema.properties)) {
      throw new ConfigError(`unknown section [${section}] in ${opts.path}`, { path: opts.path, section });
    }
  }
  const list = problems(schema, merged);
  if (list.length > 0) {
    const text = list.map((p) => `${p.path.replace(/^\//, '').replace('/', '.')}: ${p.message}`).join('; ');
    throw new ConfigError(`invalid configuration${opts.path ? ` in ${opts.path}` : ''}: ${text}`, { problems: list });
  }
  return merged as Static<T>;
}

/** Renders a documented example file (every key with its default and description) from the schema. */
export function renderConfigExample(schema: Sections, title: string): string {
  const lines = [`# ${title}`, '# Every key is shown with its default. Environment variables override keys.', ''];
  for (const [section, sectionSchema] of Object.entries(schema.properties)) {
    if (sectionSchema.description) lines.push(`# ${sectionSchema.description}`);
    lines.push(`[${section}]`);
    for (const [key, s] of Object.entries(sectionSchema.properties)) {
      const ks = s as TSchema;
      if (ks.description) lines.push(`# ${ks.description}`);
      const def = ks.default;
      lines.push(def === undefined || def === '' ? `# ${key} = ""` : `# ${key} = ${JSON.stringify(def)}`);
    }
    lines.push('');
  }
  return lines.join('\n');
}
