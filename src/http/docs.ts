/**
 * The OpenAPI document, generated from the routes' zod schemas, and the browsable page at /docs. Registered
 * before the routes so that @fastify/swagger sees each of them as it is added.
 *
 * The document describes this instance as configured, not every instance that could be: the Bearer scheme
 * exists only when API keys do, and only routes that need a key declare it; 401 and 403 are listed where a
 * key is checked, 429 where the rate limit counts. Routes declare the errors their own parameters and
 * lookups cause; the ones the edge adds for every route are added here, from the same rules the edge
 * applies (auth/access-control.ts). docs/openapi.md says how the document is checked against the service.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import { routeAccess, type SecurityOptions } from './auth/access-control.ts';
import type { RouteAccess } from '../access/scope.ts';
import { ErrorBody } from './schemas.ts';

const DOCS_PREFIX = '/docs';

/** The name of the Bearer scheme in `components.securitySchemes`. */
const SECURITY_SCHEME = 'apiKey';

/**
 * Query parameters of which a request must give exactly one. OpenAPI 3.0 lists query parameters one by
 * one and cannot relate them, so the document groups them in one form-exploded object parameter (the wire
 * format is unchanged: each stays its own `name=value`) whose schema says `oneOf`. The route's zod schema
 * enforces the same rule with a 400.
 */
export interface ExclusiveQuery {
  /** The grouping parameter's name in the document; it never appears on the wire. */
  name: string;
  keys: readonly string[];
  description: string;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    exclusiveQuery?: ExclusiveQuery;
  }
}

/**
 * Health probes: the rate limiter lets them through and the Host check skips them (auth/access-control.ts),
 * since orchestrators poll them. A test (test/http/openapi.test.ts) checks every documented 429 against the
 * limiter, so the two cannot drift.
 */
const HEALTH_PROBES = new Set(['/healthz', '/readyz']);

/** What of the configuration shows in the document. */
export interface DocumentedEdge {
  /** API keys are configured: routes that are not open need one. */
  keys: boolean;
  /** Some keys are scrypt hashes, whose checks are bounded: a route that checks a key can answer 429. */
  slowKeys: boolean;
  metricsPublic: boolean;
  rateLimit: boolean;
  /** The Host header is checked against a list of names (421 for another). */
  hostChecked: boolean;
}

export function documentedEdge(security: SecurityOptions | undefined): DocumentedEdge {
  return {
    keys: (security?.keys.length ?? 0) > 0,
    slowKeys: security?.keys.some((k) => k.hash.kind === 'scrypt') ?? false,
    metricsPublic: security?.metricsPublic ?? false,
    rateLimit: security?.rateLimit != null,
    // Read by name: the list of Host names belongs to the access control, which may or may not hold one.
    hostChecked: security !== undefined && 'allowedHosts' in security && security.allowedHosts != null,
  };
}

type JsonSchema = Record<string, unknown>;

const WWW_AUTHENTICATE = { 'WWW-Authenticate': { type: 'string', description: 'Bearer realm="alcor-traffic-clusters"' } };
const RETRY_AFTER = { 'Retry-After': { type: 'integer', description: 'Seconds until the window resets' } };

/** The error responses the edge adds to a route with this access, as zod schemas (converted with the rest). */
function edgeResponses(access: RouteAccess, url: string, edge: DocumentedEdge): Record<number, typeof ErrorBody> {
  const out: Record<number, typeof ErrorBody> = {};
  if (edge.keys && access !== 'open') {
    out[401] = ErrorBody.describe('No API key, or not a valid one (unauthorized); with a WWW-Authenticate challenge');
    if (access === 'admin') out[403] = ErrorBody.describe('The API key is a tenant key; this endpoint needs an admin key (forbidden)');
  }
  if (edge.hostChecked && !HEALTH_PROBES.has(url)) {
    out[421] = ErrorBody.describe('The Host header names a host this service does not answer to (unknown_host; ALLOWED_HOSTS)');
  }
  const limited = edge.rateLimit && !HEALTH_PROBES.has(url);
  const keyChecksBounded = edge.keys && edge.slowKeys && access !== 'open';
  if (limited || keyChecksBounded) {
    out[429] = ErrorBody.describe(
      'Too many requests in the window for this API key, or for this client without one; or too many scrypt key checks (rate_limited)',
    );
  }
  // The router refuses a path parameter past maxParamLength (app.ts) before any schema sees it.
  if (url.includes('/:')) out[414] = ErrorBody.describe('A path parameter is longer than the router accepts (uri_too_long)');
  out[500] = ErrorBody.describe('Internal error; details are logged, not returned');
  return out;
}

/** Moves the exclusive keys of a converted querystring schema into one object parameter with `oneOf`. */
function groupExclusive(querystring: JsonSchema, exclusive: ExclusiveQuery): JsonSchema {
  const properties = { ...(querystring.properties as Record<string, JsonSchema>) };
  const grouped: Record<string, JsonSchema> = {};
  for (const key of exclusive.keys) {
    const property = properties[key];
    if (property === undefined) throw new Error(`exclusiveQuery: the querystring has no ${key}`);
    grouped[key] = property;
    delete properties[key];
  }
  const required = ((querystring.required as string[] | undefined) ?? []).filter((k) => !exclusive.keys.includes(k));
  properties[exclusive.name] = {
    type: 'object',
    description: exclusive.description,
    properties: grouped,
    additionalProperties: false,
    oneOf: exclusive.keys.map((key) => ({ required: [key] })),
  };
  return { ...querystring, properties, required: [...required, exclusive.name] };
}

/** Registers on `app` itself (not in a child plugin), so the swagger onRoute hook sees the sibling routes. */
export function registerDocs(app: FastifyInstance, edge: DocumentedEdge): void {
  app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Alcor traffic clusters',
        description:
          'VM and tenant clusters from overlay traffic (CONTRACT.md, REST). Errors are `{ error, message }`. ' +
          (edge.keys
            ? 'API keys are configured: the operations that list the Bearer scheme need `Authorization: Bearer <key>`; the others are open. '
            : 'No API keys are configured: every operation is open. ') +
          'A method a path does not declare is answered 405 (method_not_allowed) with an `Allow` header naming the ones it does ' +
          '(HEAD wherever GET is declared, answered like GET without a body).',
        version: '1.0.0',
      },
      tags: [
        { name: 'clusters', description: 'Clustering runs and their clusters' },
        { name: 'vms', description: 'VMs' },
        { name: 'tenants', description: 'Tenants' },
        { name: 'operations', description: 'Health, readiness, metrics' },
      ],
      // Only with API keys: lets the page's Authorize button send the key.
      components: edge.keys
        ? { securitySchemes: { [SECURITY_SCHEME]: { type: 'http', scheme: 'bearer', description: 'An API key: Authorization: Bearer <key>' } } }
        : {},
    },
    transform: (document) => {
      const { schema, url, route } = document;
      if (schema === undefined || schema.hide === true) return jsonSchemaTransform(document);
      const access = routeAccess(url, route.config?.access, edge.metricsPublic);
      const response = { ...(schema.response as Record<string, unknown> | undefined), ...edgeResponses(access, url, edge) };
      const converted = jsonSchemaTransform({ ...document, schema: { ...schema, response } });
      const out = converted.schema as JsonSchema;
      if (edge.keys && access !== 'open') out.security = [{ [SECURITY_SCHEME]: [] }];
      const responses = out.response as Record<string, JsonSchema>;
      if (responses[401] !== undefined) responses[401] = { ...responses[401], headers: WWW_AUTHENTICATE };
      if (responses[429] !== undefined) responses[429] = { ...responses[429], headers: RETRY_AFTER };
      const exclusive = route.config?.exclusiveQuery;
      if (exclusive !== undefined) out.querystring = groupExclusive(out.querystring as JsonSchema, exclusive);
      return { schema: out, url: converted.url };
    },
  });
  app.register(swaggerUi, { routePrefix: DOCS_PREFIX });
}
