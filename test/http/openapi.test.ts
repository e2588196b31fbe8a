/**
 * The OpenAPI document against the service it describes, per configuration: the security it declares, the
 * 401, 403 and 429 it lists (each checked by a request, so the document and the edge cannot drift apart),
 * the exactly-one-of rule of /v1/affinity-graph, and the 405 rule. Schemathesis fuzzes the rest
 * (schemathesis.test.ts).
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SecurityOptions } from '../../src/http/auth/access-control.ts';
import type { ApiKey } from '../../src/access/api-keys.ts';
import type { ServiceView } from '../../src/service/types.ts';
import { replaySmall } from './helpers.ts';
import { ADMIN_KEY, bearer, keysFor, largestTenants, securedApp, TENANT_A_KEY } from './auth/setup.ts';

interface Operation {
  security?: Array<Record<string, string[]>>;
  responses: Record<string, { description: string; headers?: Record<string, unknown> }>;
  parameters?: Array<{ name: string; in: string; required: boolean; schema: Record<string, unknown> }>;
}
interface Document {
  info: { description: string };
  components: { securitySchemes?: Record<string, unknown> };
  paths: Record<string, Record<string, Operation>>;
}
interface Op {
  method: 'GET' | 'POST';
  path: string;
  operation: Operation;
}

let view: ServiceView;
let keys: ApiKey[];

beforeAll(async () => {
  ({ view } = await replaySmall());
  keys = await keysFor(largestTenants(view));
});

const opened: FastifyInstance[] = [];
afterAll(async () => {
  await Promise.all(opened.map((a) => a.close()));
});

function appWith(security: SecurityOptions): FastifyInstance {
  const app = securedApp(view, security);
  opened.push(app);
  return app;
}

async function documentOf(app: FastifyInstance): Promise<Document> {
  const res = await app.inject({ method: 'GET', url: '/docs/json' });
  expect(res.statusCode).toBe(200);
  return res.json<Document>();
}

function operations(doc: Document): Op[] {
  return Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, operation]) => ({ method: method.toUpperCase() as Op['method'], path, operation })),
  );
}

/** A concrete URL for an operation: any id will do, auth and the rate limit answer before any lookup. */
const urlOf = (op: Op): string => op.path.replace(/\{\w+\}/g, 'x') + (op.path === '/v1/affinity-graph' ? '?vm_id=x' : '');

const OPEN = ['GET /healthz', 'GET /readyz'];
const ADMIN_ONLY = ['GET /metrics', 'GET /v1/stats', 'POST /v1/recluster'];
const label = (op: Op): string => `${op.method} ${op.path}`;

describe('without API keys', () => {
  it('declares no security scheme and no 401 or 403 anywhere', async () => {
    const doc = await documentOf(appWith({ keys: [] }));
    expect(doc.components.securitySchemes).toBeUndefined();
    const ops = operations(doc);
    expect(ops).toHaveLength(23);
    for (const op of ops) {
      expect(op.operation.security, label(op)).toBeUndefined();
      expect(Object.keys(op.operation.responses), label(op)).not.toContain('401');
      expect(Object.keys(op.operation.responses), label(op)).not.toContain('403');
      // No Authorization header parameter either: nothing asks a client for a key.
      expect(op.operation.parameters?.some((p) => p.in === 'header') ?? false, label(op)).toBe(false);
    }
    expect(doc.info.description).toContain('No API keys are configured: every operation is open.');
  });
});

describe('with API keys', () => {
  it('declares the Bearer scheme on exactly the operations that need a key, with 401 (and 403 where admin)', async () => {
    const doc = await documentOf(appWith({ keys }));
    expect(doc.components.securitySchemes).toEqual({ apiKey: { type: 'http', scheme: 'bearer', description: 'An API key: Authorization: Bearer <key>' } });
    for (const op of operations(doc)) {
      const open = OPEN.includes(label(op));
      expect(op.operation.security, label(op)).toEqual(open ? undefined : [{ apiKey: [] }]);
      expect('401' in op.operation.responses, label(op)).toBe(!open);
      expect('403' in op.operation.responses, label(op)).toBe(ADMIN_ONLY.includes(label(op)));
      if (!open) expect(op.operation.responses['401']!.headers, label(op)).toHaveProperty('WWW-Authenticate');
    }
  });

  it('answers 401 without a key and 403 for a tenant key exactly where the document says', async () => {
    const app = appWith({ keys });
    for (const op of operations(await documentOf(app))) {
      const anonymous = await app.inject({ method: op.method, url: urlOf(op) });
      expect(anonymous.statusCode === 401, `${label(op)} without a key: ${anonymous.statusCode}`).toBe('401' in op.operation.responses);
      const tenant = await app.inject({ method: op.method, url: urlOf(op), headers: bearer(TENANT_A_KEY) });
      expect(tenant.statusCode === 403, `${label(op)} with a tenant key: ${tenant.statusCode}`).toBe('403' in op.operation.responses);
      const admin = await app.inject({ method: op.method, url: urlOf(op), headers: bearer(ADMIN_KEY) });
      expect(admin.statusCode, label(op)).not.toBe(401);
      expect(Object.keys(op.operation.responses), `${label(op)} answered ${admin.statusCode}`).toContain(String(admin.statusCode));
    }
  });

  it('documents /metrics as open when METRICS_PUBLIC says so', async () => {
    const doc = await documentOf(appWith({ keys, metricsPublic: true }));
    const metrics = doc.paths['/metrics']!.get!;
    expect(metrics.security).toBeUndefined();
    expect(Object.keys(metrics.responses).sort()).toEqual(['200', '500']);
    expect(metrics.responses['200']).toEqual({ description: 'Prometheus text exposition format 0.0.4', content: { 'text/plain': { schema: { type: 'string' } } } });
  });
});

describe('rate limit', () => {
  it('lists 429 only when a limit is configured', async () => {
    const ops = operations(await documentOf(appWith({ keys: [] })));
    expect(ops.filter((op) => '429' in op.operation.responses)).toEqual([]);
  });

  it('lists 429 on the operations that check a key when scrypt key checks are bounded, even without a limit', async () => {
    const withScrypt = operations(await documentOf(appWith({ keys })));
    expect(keys.some((k) => k.hash.kind === 'scrypt')).toBe(true);
    expect(withScrypt.filter((op) => !('429' in op.operation.responses)).map(label).sort()).toEqual(OPEN);
    const sha256Only = operations(await documentOf(appWith({ keys: keys.filter((k) => k.hash.kind === 'sha256') })));
    expect(sha256Only.filter((op) => '429' in op.operation.responses)).toEqual([]);
  });

  it('lists 429 exactly on the operations the limiter counts', async () => {
    const limited = { keys: [], rateLimit: { max: 1, windowMs: 60_000 } };
    const ops = operations(await documentOf(appWith(limited)));
    expect(ops.filter((op) => !('429' in op.operation.responses)).map(label).sort()).toEqual(OPEN);
    for (const op of ops) {
      // A fresh limiter per operation: the first request passes, the second is over the limit of one.
      const app = appWith(limited);
      await app.inject({ method: op.method, url: urlOf(op) });
      const second = await app.inject({ method: op.method, url: urlOf(op) });
      expect(second.statusCode === 429, `${label(op)}: ${second.statusCode}`).toBe('429' in op.operation.responses);
      if (second.statusCode === 429) expect(second.headers['retry-after'], label(op)).toMatch(/^\d+$/);
    }
  });
});

describe('Host check', () => {
  it('lists 421 on every operation but the health probes when the Host header is checked, and nowhere otherwise', async () => {
    // A variable, not a literal: the list of Host names is the access control's to hold (ALLOWED_HOSTS).
    const checked = { keys: [], allowedHosts: ['localhost', '127.0.0.1', '::1'] };
    const ops = operations(await documentOf(appWith(checked)));
    expect(ops.filter((op) => !('421' in op.operation.responses)).map(label).sort()).toEqual(OPEN);
    const any = operations(await documentOf(appWith({ keys: [] })));
    expect(any.filter((op) => '421' in op.operation.responses)).toEqual([]);
  });
});

describe('/v1/affinity-graph', () => {
  it('documents exactly one of vm_id and group_id as one object parameter with oneOf', async () => {
    const graph = (await documentOf(appWith({ keys: [] }))).paths['/v1/affinity-graph']!.get!;
    const focus = graph.parameters!.find((p) => p.name === 'focus')!;
    expect(focus.in).toBe('query');
    expect(focus.required).toBe(true);
    expect(focus.schema.oneOf).toEqual([{ required: ['vm_id'] }, { required: ['group_id'] }]);
    expect(focus.schema.additionalProperties).toBe(false);
    expect(Object.keys(focus.schema.properties as object)).toEqual(['vm_id', 'group_id']);
    expect(graph.parameters!.map((p) => p.name).sort()).toEqual(['focus', 'limit']);
  });

  it('refuses neither and both with a clear 400', async () => {
    const app = appWith({ keys: [] });
    for (const query of ['', '?limit=5', '?vm_id=a&group_id=g-0']) {
      const res = await app.inject({ method: 'GET', url: `/v1/affinity-graph${query}` });
      expect(res.statusCode, query).toBe(400);
      expect(res.json(), query).toEqual({ error: 'bad_request', message: 'querystring: give exactly one of vm_id and group_id' });
    }
  });
});

describe('undeclared methods', () => {
  it('says in the document that they answer 405 with Allow', async () => {
    const doc = await documentOf(appWith({ keys: [] }));
    expect(doc.info.description).toContain('answered 405 (method_not_allowed) with an `Allow` header');
  });

  it('answer 405 with the declared methods in Allow on every documented path, before asking for a key', async () => {
    const app = appWith({ keys });
    for (const op of operations(await documentOf(app))) {
      const other = op.method === 'GET' ? 'DELETE' : 'PUT';
      const res = await app.inject({ method: other, url: urlOf(op) });
      expect(res.statusCode, label(op)).toBe(405);
      expect(res.headers.allow, label(op)).toBe(op.method === 'GET' ? 'GET, HEAD' : 'POST');
    }
  });

  it('name OPTIONS in Allow too when CORS answers preflights on every path', async () => {
    const app = appWith({ keys: [], corsOrigins: ['https://dashboard.example'] });
    const res = await app.inject({ method: 'DELETE', url: '/v1/vms' });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD, OPTIONS');
    expect((await app.inject({ method: 'DELETE', url: '/v1/nothing-here' })).statusCode).toBe(404);
  });
});
