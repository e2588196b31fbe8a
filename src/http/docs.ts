/**
 * The OpenAPI document, generated from the routes' zod schemas, and the browsable page at /docs. Registered
 * before the routes so that @fastify/swagger sees each of them as it is added.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';

export const DOCS_PREFIX = '/docs';

/** Registers on `app` itself (not in a child plugin), so the swagger onRoute hook sees the sibling routes. */
export function registerDocs(app: FastifyInstance): void {
  app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Alcor traffic clusters',
        description: 'VM and tenant clusters from overlay traffic (CONTRACT.md, REST). Errors are `{ error, message }`.',
        version: '1.0.0',
      },
      tags: [
        { name: 'clusters', description: 'Clustering runs and their clusters' },
        { name: 'vms', description: 'VMs' },
        { name: 'tenants', description: 'Tenants' },
        { name: 'operations', description: 'Health, readiness, metrics' },
      ],
      // With API_KEYS set (README, "Security"); lets the page's Authorize button send the key.
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'An API key: Authorization: Bearer <key>' } } },
      security: [{ apiKey: [] }],
    },
    transform: jsonSchemaTransform,
  });
  app.register(swaggerUi, { routePrefix: DOCS_PREFIX });
}
