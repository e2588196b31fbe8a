/**
 * Authentication, authorization and the hardening around them, as hooks on the root instance, so that
 * every request, whether a route matched or not, passes through them in this order:
 *
 * 1. onRequest: read `Authorization: Bearer <key>` and match it against the SHA-256 keys (cheap), so that
 *    the rate limiter can count per key;
 * 2. onRequest (@fastify/rate-limit): per SHA-256 key, else per client address, which also caps guesses;
 *    unknown paths always count per client address, whatever key they carry;
 * 3. onRequest: the `Host` header against ALLOWED_HOSTS (DNS rebinding: a page served under a name the
 *    attacker controls must not read an open API through the operator's browser);
 * 4. preValidation: any other presented key is checked against the scrypt hashes (a key proven before is
 *    remembered), within the per-client and process-wide bounds of KeyCheckLimit; then the route's access
 *    is enforced and `request.scope` set for the handlers. Unknown paths skip this: they answer 404 to
 *    every key alike, so they can neither test a key nor make the service run scrypt.
 *
 * Routes declare their access in `config.access`; a route that declares nothing is admin-only unless it
 * is one of the open paths below, so a new route cannot leak another tenant's records by omission.
 */
import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import rateLimit, { normalizeIP } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../errors.ts';
import { type ApiKey, bearerToken, KeyVerifier } from '../../access/api-keys.ts';
import { isRefusal, KeyCheckLimit } from './key-check-limit.ts';
import { ADMIN, type AccessScope, type RouteAccess } from '../../access/scope.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Whose records the handlers may return; set for every route before validation. */
    scope: AccessScope;
    /** The SHA-256 key matched on the cheap path (null: none, or not checked); the rate limiter counts by it. */
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
  /** scrypt key checks per window per client address; absent: no per-client bound (one check at a time still). */
  keyCheckLimit?: { max: number; windowMs: number } | null;
  /** Host names (no port) requests may be addressed to; absent: any. Health probes are exempt. */
  allowedHosts?: readonly string[] | null;
}

/** Sees no record: what a request holds until its key is checked (tenant ids are at least 1 character). */
const NOBODY: AccessScope = { kind: 'tenant', tenantId: '' };

const OPEN_EXACT = new Set(['/healthz', '/readyz']);
/** The dashboard's static files (another module's routes) and the OpenAPI page carry no fleet data. */
const OPEN_PREFIXES = ['/ui', '/docs'];

const isUnder = (path: string, prefix: string): boolean => path === prefix || path.startsWith(`${prefix}/`);

/** The access of a matched route: its declaration, else open for health, the dashboard and the docs, else admin. */
export function routeAccess(pattern: string, declared: RouteAccess | undefined, metricsPublic: boolean): RouteAccess {
  if (declared !== undefined) return declared;
  if (OPEN_EXACT.has(pattern) || OPEN_PREFIXES.some((p) => isUnder(pattern, p))) return 'open';
  if (pattern === '/metrics') return metricsPublic ? 'open' : 'admin';
  return 'admin';
}

const AUTH_CHALLENGE = 'Bearer realm="alcor-traffic-clusters"';

/** The host name of a Host header as Fastify reads it (`[::1]`, `Example.COM.`): bare, lower case. */
function bareHostname(hostname: string): string {
  const name = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  return name.toLowerCase().replace(/\.$/, '');
}

const rateLimited = (reply: FastifyReply, seconds: number, what: string): ApiError => {
  reply.header('retry-after', String(seconds));
  return new ApiError(429, 'rate_limited', `${what}; retry in ${seconds} second${seconds === 1 ? '' : 's'}`);
};

export function registerSecurity(app: FastifyInstance, options: SecurityOptions): void {
  const verifier = new KeyVerifier(options.keys);
  const metricsPublic = options.metricsPublic ?? false;
  const keyChecks = new KeyCheckLimit({ perClient: options.keyCheckLimit ?? null });
  const allowedHosts = options.allowedHosts == null ? null : new Set(options.allowedHosts.map(bareHostname));
  /** The matched route's pattern; undefined for a request no route matched (the not-found handler's). */
  const patternOf = (request: FastifyRequest): string | undefined => request.routeOptions.url;
  const isHealthProbe = (request: FastifyRequest): boolean => OPEN_EXACT.has(patternOf(request) ?? '');
  // An IPv6 client is its /64 (the plugin's own default): one host usually holds a whole /64 to pick from.
  const clientOf = (request: FastifyRequest): string => `ip:${normalizeIP(request.ip)}`;

  app.decorateRequest('scope');
  app.decorateRequest('apiKey', null);

  app.addHook('onRequest', async (request) => {
    request.scope = verifier.enabled ? NOBODY : ADMIN;
    // No key is looked at for an unknown path: its answer, rate limit included, must not depend on the key.
    const token = verifier.enabled && patternOf(request) !== undefined ? bearerToken(request.headers.authorization) : null;
    request.apiKey = token === null ? null : verifier.lookup(token);
  });

  if (options.rateLimit != null) {
    const { max, windowMs } = options.rateLimit;
    // Not the plugin's per-route hooks (`global: true`): routes get those through onRoute, which the
    // not-found handler never passes. One root hook covers matched and unknown paths alike, with one store.
    app.register(rateLimit, {
      global: false,
      max,
      timeWindow: windowMs,
      // Probes and orchestrators poll health; they are not clients to slow down.
      allowList: isHealthProbe,
      keyGenerator: (request) => (request.apiKey === null ? clientOf(request) : `key:${request.apiKey.id}`),
      errorResponseBuilder: (_request, context) => new ApiError(429, 'rate_limited', `too many requests; retry in ${context.after}`),
    });
    let limit: ReturnType<FastifyInstance['rateLimit']> | null = null;
    app.addHook('onRequest', async function (request, reply) {
      // The plugin's decorator exists once it has loaded, which is before the first request.
      limit ??= app.rateLimit();
      await limit.call(this, request, reply);
    });
  }

  if (allowedHosts !== null) {
    app.addHook('onRequest', async (request) => {
      if (isHealthProbe(request) || allowedHosts.has(bareHostname(request.hostname))) return;
      throw new ApiError(421, 'unknown_host', 'this service does not answer to the host named in the Host header (see ALLOWED_HOSTS)');
    });
  }

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

  /** A key the SHA-256 check did not know: a scrypt key, within the client's and the process's bounds. */
  const slowKey = async (request: FastifyRequest, reply: FastifyReply, token: string): Promise<ApiKey | null> => {
    const client = clientOf(request);
    // Asked before the cache of proven keys: once the budget is spent, a right key and a wrong one look alike.
    const spent = keyChecks.refusal(client);
    if (spent !== null) throw rateLimited(reply, spent.retryAfterSeconds, 'too many key checks from this client');
    const known = verifier.proven(token);
    if (known !== null) return known;
    const checked = await keyChecks.run(client, () => verifier.verifySlow(token));
    if (!isRefusal(checked)) return checked;
    throw rateLimited(reply, checked.retryAfterSeconds, checked.reason === 'busy' ? 'too many key checks at once' : 'too many key checks from this client');
  };

  app.addHook('preValidation', async (request: FastifyRequest, reply: FastifyReply) => {
    const pattern = patternOf(request);
    // Unknown paths go on to the not-found handler's 404 whatever the key: nothing is checked, so nothing is told.
    if (pattern === undefined || !verifier.enabled) return;
    const access = routeAccess(pattern, request.routeOptions.config?.access, metricsPublic);
    if (access === 'open') return;
    let key = request.apiKey;
    if (key === null && verifier.hasSlowKeys) {
      const token = bearerToken(request.headers.authorization);
      if (token !== null) key = await slowKey(request, reply, token);
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
    allowed_hosts: options.allowedHosts == null ? 'any' : options.allowedHosts.join(','),
  };
  if (options.keys.length === 0) {
    return { level: 'warn', fields, message: 'API_KEYS is unset: the API is open to anyone who can reach it (every request is admin); Host names outside allowed_hosts are refused' };
  }
  const admin = options.keys.filter((k) => k.scope.kind === 'admin').length;
  return {
    level: 'info',
    fields: {
      ...fields,
      scrypt_checks: options.keyCheckLimit == null ? 'no per-client bound' : `${options.keyCheckLimit.max} per ${options.keyCheckLimit.windowMs / 1000} s per client`,
      api_keys: options.keys.length, admin_keys: admin, tenant_keys: options.keys.length - admin, metrics: options.metricsPublic ? 'open' : 'admin key' },
    message: 'API keys configured: requests need Authorization: Bearer <key>',
  };
}
