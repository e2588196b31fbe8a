import { afterEach, describe, expect, it } from 'vitest';
import type { ServiceView } from '../../src/service/types.ts';
import { appFor, getJson } from './helpers.ts';

/** A view of a service that has started but not yet clustered: one VM known, no run. */
function emptyView(overrides: Partial<ServiceView> = {}): ServiceView {
  return {
    latestRun: () => null,
    runInProgress: () => null,
    vm: (vmId) => (vmId === 'vm-a' ? { vmId, tenantId: null, attributes: null, features: null, lastSeen: 1_700_000_000_000 } : null),
    tenant: () => null,
    requestRecluster: () => ({ runId: 'run-000001', started: false }),
    ingestStats: () => ({
      messages: 0,
      records: { flows: 0, vmAttributes: 0, tenantAttributes: 0 },
      rejected: { count: 0, by_reason: {} },
      watermark: null,
      vmsTracked: 1,
      tenantsTracked: 0,
    }),
    inputsReady: () => false,
    firstRunCompleted: () => false,
    runHistory: () => [],
    ...overrides,
  };
}

const apps: Array<{ close(): Promise<unknown> }> = [];
function app(view: ServiceView) {
  const a = appFor(view).app;
  apps.push(a);
  return a;
}
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

const noStack = (text: string) => {
  expect(text).not.toMatch(/\bat .*\(.*:\d+:\d+\)|\.ts:\d+|node_modules|stack/i);
};

describe('before the first run', () => {
  it.each([
    '/v1/assignments',
    '/v1/vms',
    '/v1/tenants',
    '/v1/clusters/vms',
    '/v1/clusters/tenants',
    '/v1/clusters/vms/vm-0',
    '/v1/clusters/tenants/tenant-0',
    '/v1/anomalies',
    '/v1/security-groups',
    '/v1/affinity-groups',
    '/v1/affinity-groups/g-0',
  ])('%s is 503 no_run', async (url) => {
    const { status, body } = await getJson(app(emptyView()), url);
    expect(status).toBe(503);
    expect(body).toEqual({ error: 'no_run', message: expect.any(String) });
  });

  it('still answers a known VM, with no cluster', async () => {
    const { status, body } = await getJson(app(emptyView()), '/v1/vms/vm-a');
    expect(status).toBe(200);
    expect(body).toEqual({
      vm_id: 'vm-a',
      tenant_id: null,
      cluster_id: null,
      features: null,
      attributes: null,
      last_seen: '2023-11-14T22:13:20.000Z',
      distance: null,
      next_cluster_id: null,
      confidence: null,
      anomaly_score: null,
      affinity_group: null,
      cluster_means: null,
      fleet_means: null,
    });
  });

  it('answers a tenant known only from its attributes', async () => {
    const view = emptyView({
      tenant: (tenantId) => (tenantId === 't1' ? { ts: 0, tenantId, name: 'Acme', tier: 'gold', labels: { env: 'prod' }, deleted: false } : null),
    });
    const { status, body } = await getJson(app(view), '/v1/tenants/t1');
    expect(status).toBe(200);
    expect(body).toEqual({ tenant_id: 't1', cluster_id: null, name: 'Acme', tier: 'gold', labels: { env: 'prod' }, deleted: false, vm_count: 0 });
  });

  it('is live but not ready, and says what is missing', async () => {
    const a = app(emptyView({ runInProgress: () => ({ runId: 'run-000001', startedAt: 0, reason: 'schedule' }) }));
    expect(await getJson(a, '/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
    expect(await getJson(a, '/readyz')).toEqual({
      status: 503,
      body: { status: 'not_ready', missing: ['inputs', 'first_run'], reasons: [expect.stringMatching(/^the inputs are not connected/), 'no clustering run has completed yet; run-000001 is in progress'] },
    });
    const ready = app(emptyView({ inputsReady: () => true }));
    expect(await getJson(ready, '/readyz')).toEqual({ status: 503, body: { status: 'not_ready', missing: ['first_run'], reasons: ['no clustering run has completed yet'] } });
  });

  it('accepts a recluster request while a run is in progress', async () => {
    const res = await app(emptyView()).inject({ method: 'POST', url: '/v1/recluster' });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ run_id: 'run-000001', started: false });
  });
});

describe('errors', () => {
  it('is 404 not_found for an unknown route', async () => {
    const a = app(emptyView());
    for (const [method, url] of [
      ['GET', '/v2/assignments'],
      ['GET', '/v1'],
      ['DELETE', '/v1/assignment'],
    ] as const) {
      const res = await a.inject({ method, url });
      expect(res.statusCode, url).toBe(404);
      expect(res.json()).toEqual({ error: 'not_found', message: expect.stringContaining(url) });
    }
  });

  it('is 405 method_not_allowed with an Allow header for a method a known path does not declare', async () => {
    const a = app(emptyView());
    for (const [method, url, allow] of [
      ['DELETE', '/v1/assignments', 'GET, HEAD'],
      ['POST', '/v1/vms/vm-1?limit=3', 'GET, HEAD'],
      ['PUT', '/v1/runs/run-000001/changes', 'GET, HEAD'],
      ['GET', '/v1/recluster', 'POST'],
      ['OPTIONS', '/healthz', 'GET, HEAD'],
      ['TRACE', '/ui/index.html', 'GET, HEAD'],
    ] as const) {
      const res = await a.inject({ method, url });
      expect(res.statusCode, `${method} ${url}`).toBe(405);
      expect(res.headers.allow, `${method} ${url}`).toBe(allow);
      expect(res.json()).toEqual({ error: 'method_not_allowed', message: `${method} is not allowed here; allowed: ${allow}` });
    }
    // A method with a body is answered before the body is read: no content type, no parse error.
    const query = await a.inject({ method: 'QUERY' as 'GET', url: '/v1/vms/vm-1', payload: 'x' });
    expect(query.statusCode).toBe(405);
    expect(query.headers.allow).toBe('GET, HEAD');
  });

  it('is 500 internal with no details when the view throws', async () => {
    const secret = new Error('ENOENT: /var/lib/alcor/state.bin');
    const view = emptyView({
      latestRun: () => {
        throw secret;
      },
      vm: () => {
        throw new TypeError("Cannot read properties of undefined (reading 'x')");
      },
    });
    const a = app(view);
    for (const url of ['/v1/assignments', '/v1/vms/vm-a', '/readyz']) {
      const res = await a.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(500);
      expect(res.json()).toEqual({ error: 'internal', message: 'internal error' });
      expect(res.body).not.toContain('ENOENT');
      expect(res.body).not.toContain('Cannot read');
      noStack(res.body);
    }
  });

  it('is 500 internal when a response does not match its schema', async () => {
    const view = emptyView({ requestRecluster: () => ({ runId: 42 as unknown as string, started: true }) });
    const res = await app(view).inject({ method: 'POST', url: '/v1/recluster' });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ error: 'internal', message: 'internal error' });
  });

  it('rejects bodies that are too large, malformed or poisoned, without a stack', async () => {
    const a = app(emptyView());
    const post = (payload: string) => a.inject({ method: 'POST', url: '/v1/recluster', payload, headers: { 'content-type': 'application/json' } });
    const big = await post(JSON.stringify({ pad: 'x'.repeat(70 * 1024) }));
    expect(big.statusCode).toBe(413);
    expect(big.json()).toMatchObject({ error: 'payload_too_large' });
    const bad = await post('{"a":');
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: 'bad_request' });
    const poisoned = await post('{"__proto__":{"admin":true}}');
    expect(poisoned.statusCode).toBe(400);
    expect(poisoned.json()).toMatchObject({ error: 'bad_request' });
    const ctor = await post('{"constructor":{"prototype":{"admin":true}}}');
    expect(ctor.statusCode).toBe(400);
    for (const r of [big, bad, poisoned, ctor]) {
      expect(Object.keys(r.json()).sort()).toEqual(['error', 'message']);
      noStack(r.body);
    }
  });

  it('answers a malformed URL in the same shape', async () => {
    const res = await app(emptyView()).inject({ method: 'GET', url: '/v1/vms/%E0%A4%A' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: 'bad_request', message: expect.any(String) });
  });

  it('names every bad query parameter', async () => {
    const { status, body } = await getJson<{ error: string; message: string }>(app(emptyView()), '/v1/tenants?limit=-1&cursor=');
    expect(status).toBe(400);
    expect(body.error).toBe('bad_request');
    expect(body.message).toMatch(/limit: /);
    expect(body.message).toMatch(/cursor: /);
  });
});
