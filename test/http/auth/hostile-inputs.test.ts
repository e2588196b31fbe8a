/**
 * Hostile input against every route, and tenant isolation walked over every endpoint and page, on the
 * fixture-fed service behind API keys. The figures go to test-output/security-report.json (README,
 * "Security"): inputs tried, server errors (must be 0), cross-tenant records returned (must be 0).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import type { FastifyInstance, InjectOptions } from 'fastify';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCursor } from '../../../src/http/paging.ts';
import { runIndex } from '../../../src/http/run-index.ts';
import type { RunRecord } from '../../../src/runs/history.ts';
import type { ServiceView } from '../../../src/service/types.ts';
import { replaySmall } from '../helpers.ts';
import { ADMIN_KEY, bearer, fleetOwners, foreignIds, keysFor, largestTenants, securedApp, TENANT_A_KEY, TENANT_B_KEY, type Tenants } from './setup.ts';

const REPORT = 'test-output/security-report.json';
const SEED = 20_261_125;
const RANDOM_REQUESTS = 2500;

let view: ServiceView;
let tenants: Tenants;
let app: FastifyInstance;
let owners: Map<string, string | null>;

const report = {
  generated_by: 'test/http/auth/hostile-inputs.test.ts',
  fixture: 'fixtures/small.jsonl.gz',
  seed: SEED,
  hostile_inputs: { requests: 0, exhaustive: 0, random: 0, by_status: {} as Record<string, number> },
  server_errors: 0,
  crashes: 0,
  bad_error_bodies: 0,
  state_altered: false,
  prototype_polluted: false,
  isolation: { tenants: 0, requests: 0, responses_checked: 0, cross_tenant_records: 0 },
  cross_tenant_records: 0,
};

/**
 * A run that moved VMs of both tenants and of others, with lifecycle events: the fixture's single final run
 * has no previous run, so nothing moved in it.
 */
function syntheticRun(base: RunRecord, t: Tenants): RunRecord {
  const index = runIndex(view.latestRun()!);
  const of = (tenant: string) => index.vmsOfTenant.get(tenant)!.slice(0, 3);
  const others = index.vms.sorted.filter((id) => index.tenantOfVm.get(id) !== t.a && index.tenantOfVm.get(id) !== t.b).slice(0, 3);
  const moved = [...of(t.a), ...of(t.b), ...others].sort().map((id) => ({ id, from: 'vm-90', to: 'vm-91' }));
  const tenantMoves = [t.a, t.b, index.tenants.sorted.find((id) => id !== t.a && id !== t.b)!].sort().map((id) => ({ id, from: 'tenant-8', to: 'tenant-9' }));
  const event = { type: 'born' as const, clusterId: 'vm-91', size: 40, from: ['vm-90'], into: [] };
  return {
    ...base,
    runId: 'run-999999',
    changes: { runId: 'run-999999', previousRunId: base.runId, vms: { events: [event], moved }, tenants: { events: [], moved: tenantMoves } },
  };
}

beforeAll(async () => {
  const replayed = await replaySmall();
  tenants = largestTenants(replayed.view);
  view = replayed.view;
  const history = view.runHistory();
  const extended = [...history, syntheticRun(history[history.length - 1]!, tenants)];
  view = { ...replayed.view, runHistory: () => extended };
  owners = fleetOwners(view);
  app = securedApp(view, { keys: await keysFor(tenants) });
  await app.ready();
});

afterAll(async () => {
  await app.close();
  report.cross_tenant_records = report.isolation.cross_tenant_records + report.cross_tenant_records;
  mkdirSync('test-output', { recursive: true });
  writeFileSync(REPORT, `${JSON.stringify(report, null, 2)}\n`);
});

// ---- tenant isolation ---------------------------------------------------------------------------------------

interface Walk {
  bodies: unknown[];
  requests: number;
}

async function fetchJson(walk: Walk, url: string, key: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await app.inject({ method: 'GET', url, headers: bearer(key) });
  walk.requests++;
  const body = res.json<Record<string, unknown>>();
  walk.bodies.push(body);
  return { status: res.statusCode, body };
}

/** Every page of a paged endpoint; `items` names the paged array. */
async function allPages(walk: Walk, url: string, key: string, items: string): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  let cursor: string | null = null;
  do {
    const sep = url.includes('?') ? '&' : '?';
    const page = await fetchJson(walk, `${url}${sep}limit=7${cursor === null ? '' : `&cursor=${cursor}`}`, key);
    if (page.status !== 200) return out;
    out.push(...(page.body[items] as Array<Record<string, unknown>>));
    cursor = page.body.next_cursor as string | null;
  } while (cursor !== null);
  return out;
}

/** Calls every endpoint a key can reach, every page of it, and the per-id endpoints with every id of the fleet. */
async function walkEverything(key: string): Promise<Walk & { vms: string[]; anomalies: string[]; clusterSizes: number; groupMembers: string[]; moved: unknown[] }> {
  const walk: Walk = { bodies: [], requests: 0 };
  const index = runIndex(view.latestRun()!);
  const vms = (await allPages(walk, '/v1/vms', key, 'items')).map((i) => i.vm_id as string);
  for (const tenant of index.tenants.sorted) await allPages(walk, `/v1/vms?tenant_id=${tenant}`, key, 'items');
  await fetchJson(walk, '/v1/assignments', key);
  const clusters = (await fetchJson(walk, '/v1/clusters/vms', key)).body.clusters as Array<{ cluster_id: string; size: number }>;
  await fetchJson(walk, '/v1/clusters/tenants', key);
  for (const clusterId of index.vms.members.keys()) {
    await allPages(walk, `/v1/clusters/vms/${clusterId}`, key, 'members');
    await allPages(walk, `/v1/vms?cluster_id=${clusterId}`, key, 'items');
  }
  for (const clusterId of index.tenants.members.keys()) {
    await allPages(walk, `/v1/clusters/tenants/${clusterId}`, key, 'members');
    await allPages(walk, `/v1/tenants?cluster_id=${clusterId}`, key, 'items');
  }
  await allPages(walk, '/v1/tenants', key, 'items');
  for (const id of owners.keys()) {
    await fetchJson(walk, `/v1/vms/${encodeURIComponent(id)}`, key);
    await fetchJson(walk, `/v1/tenants/${encodeURIComponent(id)}`, key);
  }
  const anomalies = ((await fetchJson(walk, '/v1/anomalies?limit=1000', key)).body.items as Array<{ vm_id: string }>).map((a) => a.vm_id);
  const groups = await allPages(walk, '/v1/affinity-groups', key, 'groups');
  const groupMembers: string[] = [];
  for (const groupId of index.affinity!.members.keys()) {
    groupMembers.push(...(await allPages(walk, `/v1/affinity-groups/${groupId}`, key, 'members')).map((m) => m.vm_id as string));
  }
  expect(groups.reduce((n, g) => n + (g.size as number), 0)).toBe(groupMembers.length);
  // The dashboard's endpoints: the scatter (with another tenant as filter too) and the traffic graphs.
  await fetchJson(walk, '/v1/vm-projection', key);
  for (const tenant of index.tenants.sorted) await fetchJson(walk, `/v1/vm-projection?tenant_id=${tenant}`, key);
  for (const id of index.vms.sorted) await fetchJson(walk, `/v1/affinity-graph?vm_id=${id}&limit=50`, key);
  for (const groupId of index.affinity!.members.keys()) await fetchJson(walk, `/v1/affinity-graph?group_id=${groupId}&limit=50`, key);
  const runs = (await fetchJson(walk, '/v1/runs', key)).body.runs as Array<{ run_id: string }>;
  const moved: unknown[] = [];
  for (const r of runs) {
    for (const side of ['vms', 'tenants']) {
      moved.push(...(await allPages(walk, `/v1/runs/${r.run_id}/changes?side=${side}`, key, 'moved')));
    }
  }
  return { ...walk, vms, anomalies, clusterSizes: clusters.reduce((n, c) => n + c.size, 0), groupMembers, moved };
}

describe('tenant isolation', () => {
  for (const [label, key, pick] of [
    ['tenant A', TENANT_A_KEY, (t: Tenants) => t.a],
    ['tenant B (scrypt key)', TENANT_B_KEY, (t: Tenants) => t.b],
  ] as const) {
    it(`${label}: every endpoint, every page, returns its own records and none of anyone else's`, async () => {
      const tenant = pick(tenants);
      const index = runIndex(view.latestRun()!);
      const own = index.vmsOfTenant.get(tenant)!;
      const walk = await walkEverything(key);
      const leaks = walk.bodies.flatMap((b) => foreignIds(b, tenant, owners));
      report.isolation.tenants++;
      report.isolation.requests += walk.requests;
      report.isolation.responses_checked += walk.bodies.length;
      report.isolation.cross_tenant_records += leaks.length;
      expect(leaks).toEqual([]);
      // Complete as well as isolated: everything of its own, counted over its own VMs only.
      expect(walk.vms).toEqual(own);
      expect(walk.clusterSizes).toBe(own.length);
      expect(walk.groupMembers.sort()).toEqual([...own].sort());
      const rows = new Set(own.map((id) => index.vmRow.get(id)));
      expect(walk.anomalies).toEqual(index.anomalyOrder.filter((r) => rows.has(r)).map((r) => view.latestRun()!.vms.ids[r]));
      const expectedMoves = syntheticRun(view.runHistory()[0]!, tenants).changes;
      expect(walk.moved).toEqual([
        ...expectedMoves.vms.moved.filter((m) => owners.get(m.id) === tenant),
        ...expectedMoves.tenants.moved.filter((m) => m.id === tenant),
      ]);
    });
  }

  it('the leak detector is not blind: the admin key sees the other tenants\' records', async () => {
    const walk: Walk = { bodies: [], requests: 0 };
    const vms = await allPages(walk, '/v1/vms', ADMIN_KEY, 'items');
    expect(vms).toHaveLength(view.latestRun()!.vms.ids.length);
    const seenByAdmin = new Set(walk.bodies.flatMap((b) => foreignIds(b, tenants.a, owners)));
    const othersVms = vms.map((v) => v.vm_id as string).filter((id) => owners.get(id) !== tenants.a);
    expect(othersVms).toHaveLength(vms.length - runIndex(view.latestRun()!).vmsOfTenant.get(tenants.a)!.length);
    expect(othersVms.filter((id) => !seenByAdmin.has(id))).toEqual([]);
  });

  it('a cursor made from another tenant\'s id pages over its own VMs only', async () => {
    const foreign = runIndex(view.latestRun()!).vmsOfTenant.get(tenants.b)![0]!;
    const res = await app.inject({ method: 'GET', url: `/v1/vms?cursor=${encodeCursor(foreign)}&limit=1000`, headers: bearer(TENANT_A_KEY) });
    expect(res.statusCode).toBe(200);
    expect(foreignIds(res.json(), tenants.a, owners)).toEqual([]);
  });
});

// ---- hostile input ------------------------------------------------------------------------------------------

interface Route {
  method: 'GET' | 'POST';
  /** `{}` marks the path parameter. */
  path: string;
  query: string[];
}

const ROUTES: Route[] = [
  { method: 'GET', path: '/v1/assignments', query: [] },
  { method: 'GET', path: '/v1/vms', query: ['cluster_id', 'tenant_id', 'limit', 'cursor'] },
  { method: 'GET', path: '/v1/vms/{}', query: [] },
  { method: 'GET', path: '/v1/clusters/vms', query: [] },
  { method: 'GET', path: '/v1/clusters/tenants', query: [] },
  { method: 'GET', path: '/v1/clusters/vms/{}', query: ['limit', 'cursor'] },
  { method: 'GET', path: '/v1/clusters/tenants/{}', query: ['limit', 'cursor'] },
  { method: 'GET', path: '/v1/tenants', query: ['cluster_id', 'limit', 'cursor'] },
  { method: 'GET', path: '/v1/tenants/{}', query: [] },
  { method: 'GET', path: '/v1/stats', query: [] },
  { method: 'GET', path: '/v1/runs', query: [] },
  { method: 'GET', path: '/v1/runs/{}/changes', query: ['side', 'limit', 'cursor'] },
  { method: 'GET', path: '/v1/anomalies', query: ['limit'] },
  { method: 'GET', path: '/v1/affinity-groups', query: ['limit', 'cursor'] },
  { method: 'GET', path: '/v1/affinity-groups/{}', query: ['limit', 'cursor'] },
  { method: 'GET', path: '/v1/vm-projection', query: ['limit', 'tenant_id', 'cluster_id'] },
  { method: 'GET', path: '/v1/affinity-graph', query: ['vm_id', 'group_id', 'limit'] },
  { method: 'POST', path: '/v1/recluster', query: [] },
  { method: 'GET', path: '/healthz', query: [] },
  { method: 'GET', path: '/readyz', query: [] },
  { method: 'GET', path: '/metrics', query: [] },
];

const POLLUTING_NAMES = ['__proto__', 'constructor', 'prototype', '__proto__[polluted]', 'constructor[prototype][polluted]', 'limit[]', 'toString'];

/** Values no client should send, the kinds that break parsers: pollution keys, odd numbers, odd text. */
const HOSTILE_VALUES = [
  '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '__defineGetter__', '',
  ' ', '\u0000', '%00', '%', '%zz', '%E0%A4%A', '..', '../../etc/passwd', 'null', 'undefined', 'true', '[]', '{}', '{"__proto__":{"polluted":1}}',
  '-1', '0', '-0', '1e309', '-1e309', 'NaN', 'Infinity', '-Infinity', '9007199254740993', '1.5', '0x10', '1_000', '١٢', '1000000000000',
  'x'.repeat(129), 'y'.repeat(2000), '😀', '\ud800', '\u202e', 'Ａ', 'g-0', 'g-1e3', 'g--1', 'g-0x1', 'vm-0', 'vm-99999', 'tenant-0', 'run-000001',
  encodeCursor('__proto__'), encodeCursor(''), 'AAAA', '====', '-_-_',
];

/** Percent-encodes the UTF-8 bytes (a lone surrogate included), so any string fits in a URL. */
const pct = (s: string): string =>
  Array.from(Buffer.from(s, 'utf8'), (b) => (/[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
/** Keeps URL syntax raw ('%', '&', '=', '/', '?'): malformed escapes, extra parameters, extra path segments. */
const rawish = (s: string): string => pct(s).replace(/%(25|26|3D|2F|3F|5B|5D)/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));

interface Attempt {
  route: Route;
  pathValue: string;
  query: Array<[string, string]>;
  encode: 'pct' | 'rawish';
  key: 'none' | 'admin' | 'a' | 'b' | 'garbage';
  method: InjectOptions['method'];
  body: string | null;
}

function url(a: Attempt): string {
  const enc = a.encode === 'pct' ? pct : rawish;
  const path = a.route.path.replace('{}', enc(a.pathValue));
  const q = a.query.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&');
  return q === '' ? path : `${path}?${q}`;
}

const KEYS = { none: null, admin: ADMIN_KEY, a: TENANT_A_KEY, b: TENANT_B_KEY, garbage: 'Bearer %%% not a key' } as const;

function headersOf(a: Attempt): Record<string, string> {
  const h: Record<string, string> = {};
  if (a.key === 'garbage') h.authorization = KEYS.garbage;
  else if (a.key !== 'none') h.authorization = `Bearer ${KEYS[a.key]}`;
  if (a.body !== null) h['content-type'] = 'application/json';
  return h;
}

const failures: string[] = [];

/** Sends one attempt and checks what must hold for any input: no 5xx, a JSON error body, no foreign record. */
async function attempt(a: Attempt): Promise<void> {
  const u = url(a);
  report.hostile_inputs.requests++;
  let res: Awaited<ReturnType<FastifyInstance['inject']>>;
  try {
    res = await app.inject({ method: a.method, url: u, headers: headersOf(a), ...(a.body === null ? {} : { payload: a.body }) });
  } catch (err) {
    report.crashes++;
    failures.push(`${a.method} ${u}: inject threw ${String(err)}`);
    return;
  }
  const status = res.statusCode;
  report.hostile_inputs.by_status[status] = (report.hostile_inputs.by_status[status] ?? 0) + 1;
  if (status >= 500) {
    report.server_errors++;
    failures.push(`${a.method} ${u} (${a.key}): ${status} ${res.body.slice(0, 200)}`);
    return;
  }
  if (status >= 400 && a.method !== 'HEAD') {
    let body: unknown;
    try {
      body = res.json();
    } catch {
      body = null;
    }
    const ok = body !== null && typeof body === 'object' && typeof (body as { error?: unknown }).error === 'string' && typeof (body as { message?: unknown }).message === 'string';
    if (!ok) {
      report.bad_error_bodies++;
      failures.push(`${a.method} ${u}: ${status} without an error body: ${res.body.slice(0, 200)}`);
    }
  }
  if (status === 200 && a.method !== 'HEAD' && (a.key === 'a' || a.key === 'b') && String(res.headers['content-type']).startsWith('application/json')) {
    const leaks = foreignIds(res.json(), a.key === 'a' ? tenants.a : tenants.b, owners);
    report.cross_tenant_records += leaks.length;
    if (leaks.length > 0) failures.push(`${a.method} ${u} (${a.key}): another tenant's ${leaks.slice(0, 3).join(', ')}`);
  }
}

function realValues(): string[] {
  const index = runIndex(view.latestRun()!);
  return [
    ...index.vms.sorted.slice(0, 3),
    index.vmsOfTenant.get(tenants.a)![0]!,
    index.vmsOfTenant.get(tenants.b)![0]!,
    tenants.a,
    tenants.b,
    ...index.vms.members.keys(),
    ...index.tenants.members.keys(),
    'g-0',
    'g-1',
    view.latestRun()!.runId,
    encodeCursor(index.vmsOfTenant.get(tenants.b)![0]!),
    encodeCursor(tenants.b),
  ];
}

describe('hostile input', () => {
  let before: { assignments: string; stats: string; prototype: string[] };

  beforeAll(async () => {
    const fetch = async (u: string) => (await app.inject({ method: 'GET', url: u, headers: bearer(ADMIN_KEY) })).body;
    before = { assignments: await fetch('/v1/assignments'), stats: await fetch('/v1/stats'), prototype: Object.getOwnPropertyNames(Object.prototype) };
  });

  it('every hostile value in every path and query parameter of every route, with each kind of key', async () => {
    for (const route of ROUTES) {
      const slots = [...(route.path.includes('{}') ? ['{}'] : []), ...route.query, ...POLLUTING_NAMES];
      for (const slot of slots) {
        for (const [i, value] of HOSTILE_VALUES.entries()) {
          // Admin and tenant keys in turn: both reach the handlers, and the tenant's answers are checked for leaks.
          const key = i % 2 === 0 ? 'admin' : 'a';
          const query: Array<[string, string]> = slot === '{}' ? [] : [[slot, value]];
          await attempt({ route, pathValue: slot === '{}' ? value : 'vm-0', query, encode: 'pct', key, method: route.method, body: null });
          report.hostile_inputs.exhaustive++;
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it(`${RANDOM_REQUESTS} random requests (fast-check, seed ${SEED}): repeated and polluting parameters, odd numbers, unicode, bodies`, async () => {
    const text = fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...HOSTILE_VALUES) },
      { weight: 3, arbitrary: fc.constantFrom(...realValues()) },
      { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
      { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
      { weight: 2, arbitrary: fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }).map(String) },
      { weight: 1, arbitrary: fc.double().map(String) },
      { weight: 1, arbitrary: fc.bigInt().map(String) },
      { weight: 1, arbitrary: fc.integer({ min: -5, max: 1500 }).map(String) },
    );
    const body = fc.oneof(
      fc.constant(null),
      fc.constantFrom('{"__proto__":{"polluted":true}}', '{"constructor":{"prototype":{"polluted":true}}}', '[[[[[[[[[[[[]]]]]]]]]]]]', '{', 'null', `"${'z'.repeat(70_000)}"`),
      fc.json({ maxDepth: 3 }),
    );
    const attempts = fc.sample(
      fc.record({
        route: fc.constantFrom(...ROUTES),
        pathValue: text,
        query: fc.array(fc.tuple(fc.oneof(fc.constantFrom(...ROUTES.flatMap((r) => r.query)), fc.constantFrom(...POLLUTING_NAMES), text), text), { maxLength: 6 }),
        encode: fc.constantFrom('pct' as const, 'rawish' as const),
        key: fc.constantFrom('none' as const, 'admin' as const, 'a' as const, 'b' as const, 'garbage' as const),
        methodSwap: fc.oneof({ weight: 9, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom('HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'POST') }),
        body,
      }),
      { numRuns: RANDOM_REQUESTS, seed: SEED },
    );
    for (const a of attempts) {
      const method = (a.methodSwap ?? a.route.method) as InjectOptions['method'];
      const sendsBody = method === 'POST' || method === 'PUT' || method === 'PATCH';
      await attempt({ ...a, method, body: sendsBody ? a.body : null });
      report.hostile_inputs.random++;
    }
    expect(failures).toEqual([]);
  });

  it('left the service\'s state and Object.prototype as they were', async () => {
    const fetch = async (u: string) => (await app.inject({ method: 'GET', url: u, headers: bearer(ADMIN_KEY) })).body;
    const after = { assignments: await fetch('/v1/assignments'), stats: await fetch('/v1/stats'), prototype: Object.getOwnPropertyNames(Object.prototype) };
    report.state_altered = after.assignments !== before.assignments || after.stats !== before.stats;
    report.prototype_polluted = after.prototype.join() !== before.prototype.join() || ({} as Record<string, unknown>).polluted !== undefined;
    expect(after).toEqual(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(report.hostile_inputs.requests).toBeGreaterThan(RANDOM_REQUESTS);
  });
});
