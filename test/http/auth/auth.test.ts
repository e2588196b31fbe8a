import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadServiceConfig } from '../../../src/config/service-config.ts';
import type { ApiKey } from '../../../src/access/api-keys.ts';
import { runIndex } from '../../../src/http/run-index.ts';
import type { ServiceView } from '../../../src/service/types.ts';
import { replaySmall } from '../helpers.ts';
import { ADMIN_KEY, bearer, keysFor, largestTenants, securedApp, TENANT_A_KEY, TENANT_B_KEY, type Tenants } from './setup.ts';

let view: ServiceView;
let tenants: Tenants;
let keys: ApiKey[];
let app: FastifyInstance;

beforeAll(async () => {
  ({ view } = await replaySmall());
  tenants = largestTenants(view);
  keys = await keysFor(tenants);
  app = securedApp(view, { keys });
  await app.ready();
});

afterAll(async () => {
  await app.close();
});

const get = (a: FastifyInstance, url: string, headers: Record<string, string> = {}) => a.inject({ method: 'GET', url, headers });

describe('without API keys', () => {
  it('stays open (every request is admin) and sends no CORS headers', async () => {
    const open = securedApp(view, { keys: [] });
    const res = await get(open, '/v1/stats', { origin: 'https://evil.example' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    expect((await get(open, '/metrics')).statusCode).toBe(200);
    await open.close();
  });
});

describe('with API keys', () => {
  it('answers 401 with a Bearer challenge without a key, with a wrong key, or with another scheme', async () => {
    for (const headers of [{}, bearer('not-a-key'), { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, { authorization: 'Bearer' }]) {
      const res = await get(app, '/v1/vms', headers);
      expect(res.statusCode).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer realm="alcor-traffic-clusters"');
      expect(res.json().error).toBe('unauthorized');
    }
  });

  it('asks for a key before it says a parameter is bad; an unknown path is 404 whatever the key', async () => {
    expect((await get(app, '/v1/vms?limit=-1')).statusCode).toBe(401);
    expect((await get(app, '/v1/vms?limit=-1', bearer(TENANT_A_KEY))).statusCode).toBe(400);
    for (const headers of [{}, bearer('not-a-key'), bearer(TENANT_A_KEY), bearer(TENANT_B_KEY)]) {
      const res = await get(app, '/v1/nothing-here', headers);
      expect([res.statusCode, res.json()]).toEqual([404, { error: 'not_found', message: 'no route GET /v1/nothing-here' }]);
    }
  });

  it('keeps health, readiness and the OpenAPI document open', async () => {
    expect((await get(app, '/healthz')).statusCode).toBe(200);
    expect((await get(app, '/readyz')).statusCode).toBe(200);
    expect((await get(app, '/docs/json')).statusCode).toBe(200);
  });

  it('keeps fleet-wide endpoints for admin keys: /metrics, /v1/stats, POST /v1/recluster', async () => {
    for (const [method, url] of [
      ['GET', '/metrics'],
      ['GET', '/v1/stats'],
      ['POST', '/v1/recluster'],
    ] as const) {
      expect((await app.inject({ method, url })).statusCode).toBe(401);
      const tenant = await app.inject({ method, url, headers: bearer(TENANT_A_KEY) });
      expect(tenant.statusCode).toBe(403);
      expect(tenant.json()).toEqual({ error: 'forbidden', message: 'this endpoint needs an admin key' });
      expect((await app.inject({ method, url, headers: bearer(ADMIN_KEY) })).statusCode).toBe(method === 'POST' ? 202 : 200);
    }
  });

  it('opens /metrics when METRICS_PUBLIC says so', async () => {
    const a = securedApp(view, { keys, metricsPublic: true });
    expect((await get(a, '/metrics')).statusCode).toBe(200);
    expect((await get(a, '/v1/stats')).statusCode).toBe(401);
    await a.close();
  });

  it('accepts a key stored as a scrypt hash, again on the cached path', async () => {
    const first = await get(app, `/v1/tenants/${tenants.b}`, bearer(TENANT_B_KEY));
    expect(first.statusCode).toBe(200);
    expect(first.json().tenant_id).toBe(tenants.b);
    expect((await get(app, `/v1/tenants/${tenants.b}`, bearer(TENANT_B_KEY))).statusCode).toBe(200);
    expect((await get(app, `/v1/tenants/${tenants.b}`, bearer(`${TENANT_B_KEY}x`))).statusCode).toBe(401);
  });

  it('answers another tenant\'s VM exactly as a VM that does not exist', async () => {
    const foreignVm = runIndex(view.latestRun()!).vmsOfTenant.get(tenants.b)![0]!;
    const foreign = await get(app, `/v1/vms/${foreignVm}`, bearer(TENANT_A_KEY));
    const missing = await get(app, '/v1/vms/no-such-vm', bearer(TENANT_A_KEY));
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json()).toEqual({ error: 'unknown_vm', message: `no live VM with id "${foreignVm}"` });
    expect(missing.json()).toEqual({ error: 'unknown_vm', message: 'no live VM with id "no-such-vm"' });
    expect(foreign.headers['content-length']).toBe(String(missing.body.length - 'no-such-vm'.length + foreignVm.length));
    expect((await get(app, `/v1/vms/${foreignVm}`, bearer(ADMIN_KEY))).statusCode).toBe(200);
  });

  it('answers another tenant\'s record exactly as a tenant that does not exist', async () => {
    const foreign = await get(app, `/v1/tenants/${tenants.b}`, bearer(TENANT_A_KEY));
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json()).toEqual({ error: 'unknown_tenant', message: `no tenant with id "${tenants.b}"` });
    expect((await get(app, '/v1/tenants/nobody', bearer(TENANT_A_KEY))).json()).toEqual({ error: 'unknown_tenant', message: 'no tenant with id "nobody"' });
  });

  it('sends the security headers of helmet', async () => {
    const res = await get(app, '/healthz');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
    expect(res.headers['content-security-policy']).not.toContain('upgrade-insecure-requests');
    expect(res.headers['strict-transport-security']).toBeDefined();
  });
});

describe('rate limiting', () => {
  it('counts per key, else per client address, and leaves health probes alone', async () => {
    const a = securedApp(view, { keys, rateLimit: { max: 3, windowMs: 60_000 } });
    const statuses = async (headers: Record<string, string>, url = '/v1/tenants?limit=1') => {
      const out: number[] = [];
      for (let i = 0; i < 4; i++) out.push((await get(a, url, headers)).statusCode);
      return out;
    };
    expect(await statuses(bearer(TENANT_A_KEY))).toEqual([200, 200, 200, 429]);
    // Another key has its own budget; anonymous guesses share their address's.
    expect(await statuses(bearer(ADMIN_KEY))).toEqual([200, 200, 200, 429]);
    expect(await statuses({})).toEqual([401, 401, 401, 429]);
    expect(await statuses(bearer('guess-1'))).toEqual([429, 429, 429, 429]);
    expect(await statuses({}, '/healthz')).toEqual([200, 200, 200, 200]);
    // Without a trusted proxy, X-Forwarded-For does not give a client a fresh bucket.
    expect(await statuses({ 'x-forwarded-for': '203.0.113.7' })).toEqual([429, 429, 429, 429]);
    const limited = await get(a, '/v1/tenants', bearer(TENANT_A_KEY));
    expect(limited.json().error).toBe('rate_limited');
    expect(limited.headers['retry-after']).toBeDefined();
    await a.close();
  });
});

describe('CORS', () => {
  it('allows the configured origins only, and answers preflights without a key', async () => {
    const a = securedApp(view, { keys, corsOrigins: ['https://dash.example'] });
    const allowed = await get(a, '/v1/tenants?limit=1', { ...bearer(ADMIN_KEY), origin: 'https://dash.example' });
    expect(allowed.headers['access-control-allow-origin']).toBe('https://dash.example');
    const other = await get(a, '/v1/tenants?limit=1', { ...bearer(ADMIN_KEY), origin: 'https://evil.example' });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    const preflight = await a.inject({
      method: 'OPTIONS',
      url: '/v1/tenants',
      headers: { origin: 'https://dash.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    });
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers['access-control-allow-headers']).toBe('Authorization, Content-Type');
    await a.close();
  });
});

describe('configuration', () => {
  const sha = 'a'.repeat(64);
  const scrypt = `scrypt$16384$8$1$${'s'.repeat(22)}$${'h'.repeat(43)}`;

  it('defaults to an open API with a rate limit of 1200 a minute and no CORS', () => {
    expect(loadServiceConfig({}).security).toEqual({
      keys: [],
      metricsPublic: false,
      rateLimit: { max: 1200, windowMs: 60_000 },
      corsOrigins: null,
      trustProxy: null,
      keyCheckLimit: { max: 10, windowMs: 60_000 },
      allowedHosts: ['localhost', '127.0.0.1', '::1'],
    });
    expect(loadServiceConfig({ TRUST_PROXY: '1' }).security.trustProxy).toBe(1);
    expect(loadServiceConfig({ TRUST_PROXY: '10.0.0.0/8, loopback' }).security.trustProxy).toEqual(['10.0.0.0/8', 'loopback']);
    expect(() => loadServiceConfig({ TRUST_PROXY: 'true' })).toThrow(/TRUST_PROXY/);
    expect(loadServiceConfig({ RATE_LIMIT_MAX: '0' }).security.rateLimit).toBeNull();
  });

  it('reads the compact list and the JSON form of API_KEYS', () => {
    const compact = loadServiceConfig({ API_KEYS: `${sha}:admin, ${scrypt}:tenant:t:1\n` }).security.keys;
    expect(compact.map((k) => [k.id, k.hash.kind, k.scope])).toEqual([
      ['key-1', 'sha256', { kind: 'admin' }],
      ['key-2', 'scrypt', { kind: 'tenant', tenantId: 't:1' }],
    ]);
    const json = loadServiceConfig({ API_KEYS: JSON.stringify([{ hash: sha, scope: 'tenant:t,2', name: 'ops' }]) }).security.keys;
    expect(json.map((k) => [k.id, k.scope])).toEqual([['ops', { kind: 'tenant', tenantId: 't,2' }]]);
  });

  it('refuses bad entries with a line per problem that does not echo the hash', () => {
    expect(() => loadServiceConfig({ API_KEYS: `${sha}:root,${'b'.repeat(63)}:admin,${sha}:admin,scrypt$1000$8$1$a$b:admin` })).toThrow(
      [
        'invalid configuration:',
        '  API_KEYS: entry 1: scope must be admin or tenant:<tenant_id>, got "root"',
        '  API_KEYS: entry 2: not a SHA-256 hex digest (64 hex digits) nor scrypt$N$r$p$salt$hash',
        '  API_KEYS: entry 3: the same hash twice',
        '  API_KEYS: entry 4: scrypt hash: N must be a power of two up to 1048576',
      ].join('\n'),
    );
    expect(() => loadServiceConfig({ API_KEYS: '[{"hash": 1}]' })).toThrow(/API_KEYS: JSON form: \[0.hash\]/);
    expect(() => loadServiceConfig({ CORS_ORIGINS: 'not a url' })).toThrow(/CORS_ORIGINS/);
  });
});

describe('behind a trusted proxy', () => {
  it('keys the anonymous rate limit by the forwarded client address', async () => {
    // app.inject comes from 127.0.0.1: the "proxy".
    const a = securedApp(view, { keys, rateLimit: { max: 2, windowMs: 60_000 }, trustProxy: ['loopback'] });
    const status = async (client: string) => (await get(a, '/v1/tenants', { 'x-forwarded-for': client })).statusCode;
    expect([await status('203.0.113.7'), await status('203.0.113.7'), await status('203.0.113.7')]).toEqual([401, 401, 429]);
    expect(await status('198.51.100.9')).toBe(401);
    await a.close();
  });
});

describe('behind one trusted proxy hop', () => {
  it('takes the client address one hop back in X-Forwarded-For', async () => {
    const a = securedApp(view, { keys, rateLimit: { max: 1, windowMs: 60_000 }, trustProxy: 1 });
    const status = async (forwarded: string) => (await get(a, '/v1/tenants', { 'x-forwarded-for': forwarded })).statusCode;
    expect([await status('203.0.113.7'), await status('203.0.113.7'), await status('198.51.100.9')]).toEqual([401, 429, 401]);
    await a.close();
  });
});
