/**
 * The edge of the API as a hostile client meets it (issue 10, section 3): unknown paths under the same rate
 * limit and answering alike for every key, scrypt checks bounded per client and for the process, an open
 * API refused off loopback unless asked for, and the Host header checked when the API is open.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadServiceConfig } from '../../../src/config/service-config.ts';
import type { SecurityOptions } from '../../../src/http/auth/access-control.ts';
import type { ApiKey } from '../../../src/access/api-keys.ts';
import { KeyCheckLimit } from '../../../src/http/auth/key-check-limit.ts';
import type { ServiceView } from '../../../src/service/types.ts';
import { replaySmall } from '../helpers.ts';
import { ADMIN_KEY, bearer, keysFor, largestTenants, securedApp, TENANT_A_KEY, TENANT_B_KEY, type Tenants } from './setup.ts';

let view: ServiceView;
let tenants: Tenants;
let keys: ApiKey[];
const apps: FastifyInstance[] = [];

beforeAll(async () => {
  ({ view } = await replaySmall());
  tenants = largestTenants(view);
  keys = await keysFor(tenants);
});

afterAll(async () => {
  for (const a of apps) await a.close();
});

function appWith(security: Partial<SecurityOptions>): FastifyInstance {
  const a = securedApp(view, { keys, ...security });
  apps.push(a);
  return a;
}

interface Answer {
  status: number;
  body: unknown;
}

async function send(a: FastifyInstance, url: string, headers: Record<string, string> = {}, remoteAddress = '127.0.0.1'): Promise<Answer> {
  const res = await a.inject({ method: 'GET', url, headers, remoteAddress });
  return { status: res.statusCode, body: res.json() };
}

const statuses = async (a: FastifyInstance, n: number, url: string, headers: Record<string, string> = {}, remoteAddress?: string): Promise<number[]> => {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await send(a, url, headers, remoteAddress)).status);
  return out;
};

const NOT_FOUND = { status: 404, body: { error: 'not_found', message: 'no route GET /no-such-route' } };

describe('unknown paths', () => {
  it('count against the same rate limit as every route, in both orders', async () => {
    const a = appWith({ rateLimit: { max: 3, windowMs: 60_000 } });
    expect(await statuses(a, 3, '/v1/vms', bearer('guess'))).toEqual([401, 401, 401]);
    expect(await statuses(a, 2, '/no-such-route', bearer('guess'))).toEqual([429, 429]);
    const b = appWith({ rateLimit: { max: 3, windowMs: 60_000 } });
    expect(await statuses(b, 4, '/no-such-route')).toEqual([404, 404, 404, 429]);
    expect(await statuses(b, 1, '/v1/vms')).toEqual([429]);
    const limited = await b.inject({ method: 'GET', url: '/no-such-route' });
    expect(limited.json().error).toBe('rate_limited');
    expect(limited.headers['retry-after']).toBeDefined();
  });

  it('answer alike for no key, a wrong key and each right key, before and after the limit', async () => {
    const a = appWith({ rateLimit: { max: 4, windowMs: 60_000 } });
    const presented = [{}, bearer('not-a-key'), bearer(ADMIN_KEY), bearer(TENANT_B_KEY)];
    const before: Answer[] = [];
    for (const headers of presented) before.push(await send(a, '/no-such-route', headers));
    expect(before).toEqual([NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND]);
    // The budget of this address is spent: a right key gets no bucket of its own on an unknown path.
    const after: number[] = [];
    for (const headers of presented) after.push((await send(a, '/no-such-route', headers)).status);
    expect(after).toEqual([429, 429, 429, 429]);
  });

  it('run no scrypt check: eight guesses through them leave the client its whole key-check budget', async () => {
    const a = appWith({ rateLimit: { max: 100, windowMs: 60_000 }, keyCheckLimit: { max: 1, windowMs: 60_000 } });
    for (let i = 0; i < 8; i++) expect(await send(a, '/no-such-route', bearer(`guess-${i}`))).toEqual(NOT_FOUND);
    expect(await statuses(a, 2, '/v1/vms', bearer('guess-9'))).toEqual([401, 429]);
  });
});

describe('scrypt key checks', () => {
  it('are bounded per client, and a spent budget answers a right scrypt key like a wrong one', async () => {
    const a = appWith({ keyCheckLimit: { max: 2, windowMs: 60_000 } });
    const url = `/v1/tenants/${tenants.b}`;
    expect(await statuses(a, 2, url, bearer('guess'), '203.0.113.1')).toEqual([401, 401]);
    const spent = await a.inject({ method: 'GET', url, headers: bearer('guess'), remoteAddress: '203.0.113.1' });
    expect(spent.statusCode).toBe(429);
    expect(spent.json()).toEqual({ error: 'rate_limited', message: expect.stringMatching(/^too many key checks from this client; retry in \d+ seconds?$/) });
    expect(Number(spent.headers['retry-after'])).toBeGreaterThan(0);
    expect((await send(a, url, bearer(TENANT_B_KEY), '203.0.113.1')).status).toBe(429);
    // Another client has its own budget and proves the key; the spent client still cannot tell it is right.
    expect((await send(a, url, bearer(TENANT_B_KEY), '198.51.100.2')).status).toBe(200);
    expect((await send(a, url, bearer(TENANT_B_KEY), '203.0.113.1')).status).toBe(429);
    // SHA-256 keys need no scrypt: the spent client's admin key still works.
    expect((await send(a, '/v1/stats', bearer(ADMIN_KEY), '203.0.113.1')).status).toBe(200);
  });

  it('count an IPv6 client by its /64, so stepping through its own addresses buys no fresh budget', async () => {
    const a = appWith({ rateLimit: { max: 100, windowMs: 60_000 }, keyCheckLimit: { max: 2, windowMs: 60_000 } });
    const from = ['2001:db8:1:2::1', '2001:db8:1:2::2', '2001:db8:1:2:ffff::3'];
    const out: number[] = [];
    for (const address of from) out.push((await send(a, '/v1/vms', bearer('guess'), address)).status);
    expect(out).toEqual([401, 401, 429]);
    expect((await send(a, '/v1/vms', bearer('guess'), '2001:db8:1:3::1')).status).toBe(401);
  });

  it('a proven scrypt key counts against its address, so the general limit tells nothing of it either', async () => {
    const a = appWith({ rateLimit: { max: 3, windowMs: 60_000 } });
    const url = `/v1/tenants/${tenants.b}`;
    expect((await send(a, url, bearer(TENANT_B_KEY), '198.51.100.2')).status).toBe(200);
    expect(await statuses(a, 3, url, bearer('guess'), '203.0.113.1')).toEqual([401, 401, 401]);
    expect((await send(a, url, bearer(TENANT_B_KEY), '203.0.113.1')).status).toBe(429);
    expect((await send(a, `/v1/tenants/${tenants.a}`, bearer(TENANT_A_KEY), '203.0.113.1')).status).toBe(200);
  });

  it('run one at a time for the whole process, and refuse past a short queue', async () => {
    const a = appWith({});
    // Twenty clients at once, each with its own budget: one check runs, sixteen wait, three are refused.
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => a.inject({ method: 'GET', url: '/v1/vms', headers: bearer(`guess-${i}`), remoteAddress: `203.0.113.${i + 1}` })),
    );
    const count = (s: number) => answers.filter((r) => r.statusCode === s).length;
    expect([count(401), count(429)]).toEqual([17, 3]);
    expect(answers.find((r) => r.statusCode === 429)!.json().message).toBe('too many key checks at once; retry in 1 second');
  });
});

describe('KeyCheckLimit', () => {
  it('never runs more checks at once than its concurrency, and passes slots on in order', async () => {
    const limit = new KeyCheckLimit({ perClient: null, concurrency: 2, queue: 3 });
    let running = 0;
    let most = 0;
    const order: number[] = [];
    const check = (i: number) => async () => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      order.push(i);
      return i;
    };
    const results = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => limit.run(`c${i}`, check(i))));
    expect(most).toBe(2);
    expect(results.slice(0, 5)).toEqual([0, 1, 2, 3, 4]);
    expect(results[5]).toEqual({ reason: 'busy', retryAfterSeconds: 1 });
    expect(order).toEqual([0, 1, 2, 3, 4]);
    // The slots are all given back.
    expect(await Promise.all([6, 7].map((i) => limit.run('c', check(i))))).toEqual([6, 7]);
  });

  it('counts per client within a fixed window, then starts afresh', async () => {
    let now = 1_000;
    const limit = new KeyCheckLimit({ perClient: { max: 2, windowMs: 10_000 }, now: () => now });
    const ok = async () => true;
    expect([await limit.run('a', ok), await limit.run('a', ok), await limit.run('b', ok)]).toEqual([true, true, true]);
    now = 4_000;
    expect(await limit.run('a', ok)).toEqual({ reason: 'client', retryAfterSeconds: 7 });
    now = 11_000;
    expect(limit.refusal('a')).toBeNull();
  });
});

describe('an open API', () => {
  const loopback = ['localhost', '127.0.0.1', '::1'];

  it('answers only to the allowed Host names (DNS rebinding); health probes answer to any', async () => {
    const a = securedApp(view, { keys: [], allowedHosts: loopback });
    apps.push(a);
    for (const host of ['localhost:8080', '127.0.0.1', '[::1]:8080', 'LocalHost.']) {
      expect((await send(a, '/v1/stats', { host })).status).toBe(200);
    }
    for (const [url, host] of [
      ['/v1/stats', 'attacker.example:8080'],
      ['/v1/vms', 'attacker.example'],
      ['/no-such-route', '10.0.0.1:8080'],
      ['/ui', 'localhost.attacker.example'],
    ] as const) {
      expect(await send(a, url, { host })).toEqual({
        status: 421,
        body: { error: 'unknown_host', message: 'this service does not answer to the host named in the Host header (see ALLOWED_HOSTS)' },
      });
    }
    expect((await send(a, '/healthz', { host: 'attacker.example' })).status).toBe(200);
    expect((await send(a, '/readyz', { host: 'attacker.example' })).status).toBe(200);
  });

  it('is refused off loopback unless ALLOW_OPEN_API says so, with a line saying what to set', () => {
    const message =
      'invalid configuration:\n  HOST: 0.0.0.0 is not a loopback address and API_KEYS is unset: anyone who reaches the port would be admin. ' +
      'Set API_KEYS (npm run hash-key -- --generate --scope admin), or ALLOW_OPEN_API=true to serve an open API on purpose.';
    expect(() => loadServiceConfig({ HOST: '0.0.0.0' })).toThrow(message);
    for (const host of ['::', '10.1.2.3', 'clusters.example', '::ffff:10.0.0.1']) expect(() => loadServiceConfig({ HOST: host })).toThrow(/is not a loopback address/);
    for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) expect(loadServiceConfig({ HOST: host }).security.keys).toEqual([]);
    expect(loadServiceConfig({ HOST: '0.0.0.0', ALLOW_OPEN_API: 'true' }).security.allowedHosts).toEqual(loopback);
    expect(loadServiceConfig({ HOST: '10.1.2.3', ALLOW_OPEN_API: 'true' }).security.allowedHosts).toEqual([...loopback, '10.1.2.3']);
    expect(() => loadServiceConfig({ HOST: '0.0.0.0', ALLOW_OPEN_API: 'false' })).toThrow(/is not a loopback address/);
  });

  it('takes ALLOWED_HOSTS as given (* for any), and checks no Host behind keys unless told to', () => {
    const keyed = { HOST: '0.0.0.0', API_KEYS: `${'a'.repeat(64)}:admin` };
    expect(loadServiceConfig(keyed).security.allowedHosts).toBeNull();
    expect(loadServiceConfig({ ...keyed, ALLOWED_HOSTS: 'Clusters.Example, 10.0.0.5' }).security.allowedHosts).toEqual(['clusters.example', '10.0.0.5']);
    expect(loadServiceConfig({ ALLOWED_HOSTS: '*' }).security.allowedHosts).toBeNull();
    // compose passes an unset variable through as empty: the default holds.
    expect(loadServiceConfig({ ALLOWED_HOSTS: '' }).security.allowedHosts).toEqual(['localhost', '127.0.0.1', '::1']);
    expect(() => loadServiceConfig({ ALLOWED_HOSTS: 'clusters.example:8080/x' })).toThrow(/ALLOWED_HOSTS/);
    expect(loadServiceConfig({ SCRYPT_RATE_LIMIT_MAX: '0' }).security.keyCheckLimit).toBeNull();
    expect(loadServiceConfig({ SCRYPT_RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_SECONDS: '10' }).security.keyCheckLimit).toEqual({ max: 3, windowMs: 10_000 });
  });
});
