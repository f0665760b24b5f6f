import { z } from 'zod';
import { ERROR_TABLE } from '../core/errors';
import type { RouteDef } from './http-kit';

const jsonSchema = (schema: z.ZodType) => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
};

/**
 * The OpenAPI 3.1 document of the given routes, built from their definitions: the
 * request schemas are the zod schemas the handlers validate with, so the document
 * cannot drift from what the API accepts.
 */
export function buildOpenApi(routes: RouteDef[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = `/api/${route.route}`;
    const pathParams = [...route.route.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    const queryParams = route.doc.query
      ? Object.entries(jsonSchema(route.doc.query).properties as Record<string, unknown>).map(([name, schema]) => ({
          name,
          in: 'query',
          required: ((jsonSchema(route.doc.query!).required as string[] | undefined) ?? []).includes(name),
          schema,
        }))
      : [];
    const etag = route.doc.etag;
    const headerParams = etag?.ifMatch ? [{ name: 'If-Match', in: 'header', required: false, description: 'The ETag of the draft as last read: a draft saved since is 412 PreconditionFailed', schema: { type: 'string' } }] : [];
    const success: Record<string, unknown> = { description: route.doc.success.description };
    if (etag) success.headers = { ETag: { description: `The draft's version ("v<n>")${etag.drafts ? ', when the message is a draft' : ''}: send it as If-Match with the next change`, schema: { type: 'string' } } };
    const responses: Record<string, unknown> = { [route.doc.success.status]: success };
    for (const code of route.doc.errors) {
      const status = String(ERROR_TABLE[code].http);
      const existing = responses[status] as { description: string } | undefined;
      responses[status] = {
        description: existing ? `${existing.description}, ${code}` : code,
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      };
    }
    for (const method of route.methods) {
      (paths[path] ??= {})[method.toLowerCase()] = {
        operationId: route.name,
        summary: route.doc.summary,
        parameters: [...pathParams, ...queryParams, ...headerParams],
        ...(route.doc.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(route.doc.body) } } } } : {}),
        responses,
        ...(route.auth === 'user' ? { security: [{ bearer: [] }] } : { security: [] }),
      };
    }
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Nimbus Mail API', version },
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['error', 'code'],
          properties: { error: { type: 'string' }, code: { type: 'string', enum: Object.keys(ERROR_TABLE) } },
        },
      },
    },
  };
}
