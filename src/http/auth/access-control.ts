/**
 * Authentication, authorization and the hardening around them, as hooks on the root instance:
 *
 * 1. onRequest (global): read `Authorization: Bearer <key>` and match it cheaply (SHA-256 keys, keys
 *    proven before), so that the rate limiter can count per key;
 * 2. onRequest (per route, @fastify/rate-limit): per key, else per client IP, which also caps guesses;
 * 3. preValidation (global): a key that is still unknown is tried against the scrypt hashes (only now,
 *    after the rate limiter, since scrypt is slow on purpose), then the route's access is enforced and
 *    `request.scope` set for the handlers.
 *
 * Routes declare their access in `config.access`; a route that declares nothing is admin-only unless it
 * is one of the open paths below, so a new route cannot leak another tenant's records by omission.
 */
import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../errors.ts';
import { type ApiKey, bearerToken, KeyVerifier } from './api-keys.ts';
import { ADMIN, type AccessScope, type RouteAccess } from './scope.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Whose records the handlers may return; set for every route before validation. */
    scope: AccessScope;
    /** The key matched on the cheap path (null: none yet); the rate limiter counts by it. */
    apiKey: ApiKey | null;
  }
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
}

export interface SecurityOptions {
  /** None: the API is open and every request is admin. */
  keys: readonly ApiKey[];
  /** Serve /metrics without a key even when keys exist. */
  metricsPublic?: boolean;
  /** Requests per window per key (per IP without a key); absent: no rate limit. */
  rateLimit?: { max: number; windowMs: number } | null;
  /** Browser origins allowed by CORS; absent: no CORS headers. */
  corsOrigins?: readonly string[] | null;
  /** Proxy hops or addresses whose X-Forwarded-For is believed (Fastify's trustProxy); absent: none. */
  trustProxy?: number | string[] | null;
}

/** Sees no record: what a request holds until its key is checked (tenant ids are at least 1 character). */
const NOBODY: AccessScope = { kind: 'tenant', tenantId: '' };

const OPEN_EXACT = new Set(['/healthz', '/readyz']);
/** The dashboard's static files (another module's routes) and the OpenAPI page carry no fleet data. */
const OPEN_PREFIXES = ['/ui', '/docs'];

const isUnder = (path: string, prefix: string): boolean => path === prefix || path.startsWith(`${prefix}/`);

/** The access of a route: its declaration, else open for health, the dashboard and the docs, else admin. */
export function routeAccess(pattern: string | undefined, declared: RouteAccess | undefined, metricsPublic: boolean): RouteAccess {
  if (declared !== undefined) return declared;
  // No route matched: a key is still required, so that probing paths tells an anonymous client nothing.
  if (pattern === undefined) return 'scoped';
  if (OPEN_EXACT.has(pattern) || OPEN_PREFIXES.some((p) => isUnder(pattern, p))) return 'open';
  if (pattern === '/metrics') return metricsPublic ? 'open' : 'admin';
  return 'admin';
}

const AUTH_CHALLENGE = 'Bearer realm="alcor-traffic-clusters"';

export function registerSecurity(app: FastifyInstance, options: SecurityOptions): void {
  const verifier = new KeyVerifier(options.keys);
  const metricsPublic = options.metricsPublic ?? false;
  const accessOf = (request: FastifyRequest): RouteAccess =>
    routeAccess(request.routeOptions.url, request.routeOptions.config?.access, metricsPublic);

  app.decorateRequest('scope');
  app.decorateRequest('apiKey', null);

  app.addHook('onRequest', async (request) => {
    request.scope = verifier.enabled ? NOBODY : ADMIN;
    const token = verifier.enabled ? bearerToken(request.headers.authorization) : null;
    request.apiKey = token === null ? null : verifier.lookup(token);
  });

  // Helmet's defaults: a same-origin content security policy (the dashboard and /docs load only their own
  // scripts), no sniffing, no framing, no referrer across origins. Without upgrade-insecure-requests: the
  // service speaks plain HTTP (TLS, if any, ends at a proxy), and a browser told to upgrade would fetch the
  // dashboard's scripts over an HTTPS port nobody listens on.
  app.register(helmet, { global: true, contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } } });

  if (options.corsOrigins != null && options.corsOrigins.length > 0) {
    const origins = options.corsOrigins;
    app.register(cors, {
      origin: origins.includes('*') ? '*' : [...origins],
      methods: ['GET', 'HEAD', 'POST'],
      allowedHeaders: ['Authorization', 'Content-Type'],
      maxAge: 600,
    });
  }

  if (options.rateLimit != null) {
    const { max, windowMs } = options.rateLimit;
    app.register(rateLimit, {
      global: true,
      max,
      timeWindow: windowMs,
      // Probes and orchestrators poll health; they are not clients to slow down.
      allowList: (request) => OPEN_EXACT.has(request.routeOptions.url ?? ''),
      keyGenerator: (request) => (request.apiKey === null ? `ip:${request.ip}` : `key:${request.apiKey.id}`),
      errorResponseBuilder: (_request, context) => new ApiError(429, 'rate_limited', `too many requests; retry in ${context.after}`),
    });
  }

  app.addHook('preValidation', async (request: FastifyRequest, reply: FastifyReply) => {
    const access = accessOf(request);
    if (access === 'open' || !verifier.enabled) return;
    let key = request.apiKey;
    if (key === null && verifier.hasSlowKeys) {
      const token = bearerToken(request.headers.authorization);
      if (token !== null) key = await verifier.verifySlow(token);
    }
    if (key === null) {
      reply.header('www-authenticate', AUTH_CHALLENGE);
      const presented = request.headers.authorization !== undefined;
      throw new ApiError(401, 'unauthorized', presented ? 'the API key is not valid' : 'an API key is required: Authorization: Bearer <key>');
    }
    if (access === 'admin' && key.scope.kind !== 'admin') throw new ApiError(403, 'forbidden', 'this endpoint needs an admin key');
    request.scope = key.scope;
  });
}

/** The start-up log line about access: an open API is said loudly, since it is fine only on loopback. */
export function accessSummary(options: SecurityOptions): { level: 'info' | 'warn'; fields: Record<string, unknown>; message: string } {
  const fields = {
    rate_limit: options.rateLimit == null ? 'off' : `${options.rateLimit.max} per ${options.rateLimit.windowMs / 1000} s`,
    cors: options.corsOrigins == null || options.corsOrigins.length === 0 ? 'off' : options.corsOrigins.join(','),
  };
  if (options.keys.length === 0) {
    return { level: 'warn', fields, message: 'API_KEYS is unset: the API is open to anyone who can reach it (every request is admin)' };
  }
  const admin = options.keys.filter((k) => k.scope.kind === 'admin').length;
  return {
    level: 'info',
    fields: { ...fields, api_keys: options.keys.length, admin_keys: admin, tenant_keys: options.keys.length - admin, metrics: options.metricsPublic ? 'open' : 'admin key' },
    message: 'API keys configured: requests need Authorization: Bearer <key>',
  };
}
