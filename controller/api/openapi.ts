// The OpenAPI 3.1 document of the REST API, generated from the route registry (route.ts) and served at
// /v1/openapi.json. JSON Schema 2020-12 is OpenAPI 3.1's schema dialect, so TypeBox schemas go in as is.

import type { TSchema } from '@sinclair/typebox';
import { VERSION } from '../../common/version.ts';
import { registry } from './route.ts';

function clean(schema: TSchema): unknown {
  return JSON.parse(JSON.stringify(schema, (k, v) => (k === 'errorMessage' ? undefined : v)));
}

function parameters(schema: TSchema | undefined, where: 'path' | 'query'): unknown[] {
  if (!schema) return [];
  const props = (schema['properties'] ?? {}) as Record<string, TSchema>;
  const required = new Set((schema['required'] ?? []) as string[]);
  return Object.entries(props).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || required.has(name),
    schema: clean(s),
    ...(s.description ? { description: s.description } : {}),
  }));
}

const problem = {
  description: 'Error (RFC 9457 problem details)',
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
};

export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of registry) {
    const path = `/v1${r.path.replace(/:([A-Za-z]+)/g, '{$1}')}`;
    const op: Record<string, unknown> = {
      summary: r.summary,
      tags: [r.tag],
      operationId: `${r.method}${path
        .replace(/[{}]/g, '')
        .replace(/\/(\w)/g, (_m, c: string) => c.toUpperCase())
        .replace(/[^A-Za-z0-9]/g, '')}`,
      parameters: [...parameters(r.params, 'path'), ...parameters(r.query, 'query')],
      responses: {
        [String(r.status ?? (r.response ? 200 : 204))]: r.response
          ? { description: 'Success', content: { 'application/json': { schema: clean(r.response) } } }
          : { description: 'Success' },
        '4XX': problem,
        '5XX': problem,
      },
    };
    if (r.role !== 'public') op['security'] = [{ bearer: [] }];
    if (r.body) op['requestBody'] = { required: true, content: { 'application/json': { schema: clean(r.body) } } };
    if (r.rawBody) {
      op['requestBody'] = {
        required: true,
        content: {
          'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } },
        },
      };
    }
    paths[path] ??= {};
    paths[path]![r.method] = op;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Stratus controller API', version: VERSION, description: 'REST API of a Stratus site controller.' },
    servers: [{ url: '/' }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A user or admin token' } },
      schemas: {
        Problem: {
          type: 'object',
          required: ['type', 'title', 'status', 'code'],
          properties: {
            type: { type: 'string' },
            title: { type: 'string', description: 'What went wrong, readable' },
            status: { type: 'integer' },
            code: { type: 'string', description: 'Stable STRATUS_ERR_* code' },
            details: { type: 'object' },
            instance: { type: 'string' },
          },
        },
      },
    },
  };
}
