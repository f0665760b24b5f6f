import { buildOpenApi } from '../openapi';
import { json, type RouteDef } from '../http-kit';

/** GET /api/openapi.json: the API of `all` (itself included), described from the routes' own schemas. */
export function createOpenApiRoute(all: RouteDef[]): RouteDef {
  return {
    name: 'openapi',
    methods: ['GET'],
    route: 'openapi.json',
    auth: 'none',
    doc: { summary: 'This document (OpenAPI 3.1)', success: { status: 200, description: 'The OpenAPI document' }, errors: [] },
    async handler() {
      return json(200, buildOpenApi(all, '0.1.0'));
    },
  };
}
