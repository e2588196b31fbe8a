import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VM_FEATURES } from '../../src/features/vm-features.ts';
import type { ServiceMetrics } from '../../src/observability/service-metrics.ts';
import { assignments, buildResult } from '../../src/runs/result.ts';
import type { ClusteringRun } from '../../src/runs/clustering-run.ts';
import type { ServiceView } from '../../src/service/types.ts';
import { appFor, getJson, replaySmall } from './helpers.ts';

interface Item {
  vm_id: string;
  tenant_id: string | null;
  cluster_id: string;
}
interface TenantItem {
  tenant_id: string;
  name: string | null;
  cluster_id: string;
  vm_count: number;
}
interface Page<T> {
  items: T[];
  next_cursor: string | null;
}
interface ErrorBody {
  error: string;
  message: string;
}

let run: ClusteringRun;
let view: ServiceView;
let app: FastifyInstance;
let metrics: ServiceMetrics;

beforeAll(async () => {
  ({ run, view } = await replaySmall());
  ({ app, metrics } = appFor(view));
  await app.ready();
});

afterAll(async () => {
  await app?.close();
});

/** Follows next_cursor from the first page to the last, returning every page. */
async function walk<T>(url: string): Promise<Page<T>[]> {
  const pages: Page<T>[] = [];
  let cursor: string | null = null;
  do {
    const sep = url.includes('?') ? '&' : '?';
    const target: string = cursor === null ? url : `${url}${sep}cursor=${cursor}`;
    const { status, body } = await getJson<Page<T>>(app, target);
    expect(status).toBe(200);
    pages.push(body);
    cursor = body.next_cursor;
  } while (cursor !== null && pages.length < 10_000);
  return pages;
}

const sorted = (xs: readonly string[]) => [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

describe('GET /v1/assignments', () => {
  it('answers the latest run\'s maps, as in the replay result', async () => {
    const { status, body } = await getJson<Record<string, unknown>>(app, '/v1/assignments');
    expect(status).toBe(200);
    expect(body).toEqual({
      run_id: run.runId,
      computed_at: new Date(run.computedAt).toISOString(),
      vm_clusters: assignments(run.vms),
      tenant_clusters: assignments(run.tenants),
    });
    expect(Object.keys(body.vm_clusters as object).length).toBeGreaterThan(50);
  });
});

describe('GET /v1/vms', () => {
  it('walks every VM of the run exactly once, in id order, 7 at a time', async () => {
    const pages = await walk<Item>('/v1/vms?limit=7');
    const ids = pages.flatMap((p) => p.items.map((i) => i.vm_id));
    expect(ids).toEqual(sorted(run.vms.ids));
    expect(new Set(ids).size).toBe(run.vms.ids.length);
    expect(pages.slice(0, -1).every((p) => p.items.length === 7)).toBe(true);
    expect(pages.length).toBe(Math.ceil(run.vms.ids.length / 7));
    const byId = assignments(run.vms);
    for (const item of pages.flatMap((p) => p.items)) {
      const row = run.vms.ids.indexOf(item.vm_id);
      expect(item).toEqual({ vm_id: item.vm_id, tenant_id: run.vmTenants[row] ?? null, cluster_id: byId[item.vm_id] });
    }
  });

  it('defaults to 100 items and accepts up to 1000', async () => {
    const first = await getJson<Page<Item>>(app, '/v1/vms');
    expect(first.body.items).toHaveLength(Math.min(100, run.vms.ids.length));
    const all = await getJson<Page<Item>>(app, '/v1/vms?limit=1000');
    expect(all.body.items).toHaveLength(run.vms.ids.length);
    expect(all.body.next_cursor).toBeNull();
  });

  it('filters by cluster, by tenant and by both', async () => {
    const clusterId = run.vms.clusterIds[0]!;
    const tenantId = run.vmTenants.find((t) => t !== null)!;
    const inCluster = run.vms.ids.filter((_, i) => run.vms.clusterIds[i] === clusterId);
    const ofTenant = run.vms.ids.filter((_, i) => run.vmTenants[i] === tenantId);
    const both = run.vms.ids.filter((_, i) => run.vms.clusterIds[i] === clusterId && run.vmTenants[i] === tenantId);

    const ids = async (url: string) => (await walk<Item>(url)).flatMap((p) => p.items.map((i) => i.vm_id));
    expect(await ids(`/v1/vms?cluster_id=${clusterId}&limit=3`)).toEqual(sorted(inCluster));
    expect(await ids(`/v1/vms?tenant_id=${tenantId}&limit=3`)).toEqual(sorted(ofTenant));
    expect(await ids(`/v1/vms?cluster_id=${clusterId}&tenant_id=${tenantId}&limit=3`)).toEqual(sorted(both));
    expect(await ids('/v1/vms?cluster_id=vm-9999')).toEqual([]);
  });

  it('rejects a bad limit or cursor with 400 and the parameter\'s name', async () => {
    for (const q of ['limit=0', 'limit=1001', 'limit=abc', 'limit=2.5']) {
      const { status, body } = await getJson<ErrorBody>(app, `/v1/vms?${q}`);
      expect(status, q).toBe(400);
      expect(body.error).toBe('bad_request');
      expect(body.message).toMatch(/^limit: /);
    }
    for (const cursor of ['%%%', 'not*base64', 'AAAA=', encodeURIComponent('a b')]) {
      const { status, body } = await getJson<ErrorBody>(app, `/v1/vms?cursor=${cursor}`);
      expect(status, cursor).toBe(400);
      expect(body.error).toBe('bad_cursor');
    }
  });
});

describe('GET /v1/vms/{vm_id}', () => {
  it('answers the VM with its cluster, named features, attributes and last_seen', async () => {
    const row = run.vmTenants.findIndex((t) => t !== null);
    const id = run.vms.ids[row]!;
    const { status, body } = await getJson<Record<string, unknown>>(app, `/v1/vms/${encodeURIComponent(id)}`);
    expect(status).toBe(200);
    const live = view.vm(id)!;
    expect(body.vm_id).toBe(id);
    expect(body.tenant_id).toBe(run.vmTenants[row]);
    expect(body.cluster_id).toBe(run.vms.clusterIds[row]);
    expect(Object.keys(body.features as object)).toEqual([...VM_FEATURES]);
    for (const [name, value] of Object.entries(body.features as Record<string, number | null>)) {
      const expected = live.features![name]!;
      expect(value, name).toBe(Number.isFinite(expected) ? expected : null);
    }
    expect(body.last_seen).toBe(new Date(live.lastSeen).toISOString());
    // Every feature's mean over its cluster and over the fleet, in the run's feature order.
    const label = run.vms.labelIds.indexOf(run.vms.clusterIds[row]!);
    const byName = (values: readonly number[]) => Object.fromEntries(VM_FEATURES.map((name, j) => [name, values[j]]));
    expect(body.cluster_means).toEqual(byName(run.vms.outcome.clusters[label]!.centroid));
    expect(body.fleet_means).toEqual(byName(run.vms.outcome.model.means));
    const overall = run.vms.outcome.clusters[label]!.distinguishing[0]!;
    expect((body.fleet_means as Record<string, number>)[overall.feature]).toBe(overall.overall);
    expect((body.cluster_means as Record<string, number>)[overall.feature]).toBe(overall.value);
    const a = live.attributes!;
    expect(body.attributes).toEqual({
      ts: new Date(a.ts).toISOString(),
      vm_id: a.vmId,
      tenant_id: a.tenantId,
      vpc_id: a.vpcId,
      subnet_id: a.subnetId,
      ip: a.ip,
      image: a.image,
      host_id: a.hostId,
      vcpus: a.vcpus,
      memory_mb: a.memoryMb,
      state: a.state,
      cpu_util: a.cpuUtil,
      labels: a.labels,
    });
  });

  it('is 404 unknown_vm for an id it does not know', async () => {
    const { status, body } = await getJson<ErrorBody>(app, '/v1/vms/no-such-vm');
    expect(status).toBe(404);
    expect(body.error).toBe('unknown_vm');
    expect(Object.keys(body).sort()).toEqual(['error', 'message']);
  });

  it('is 400 for an id longer than the contract allows', async () => {
    const { status, body } = await getJson<ErrorBody>(app, `/v1/vms/${'x'.repeat(129)}`);
    expect(status).toBe(400);
    expect(body.error).toBe('bad_request');
    expect(body.message).toMatch(/^vm_id: /);
  });
});

describe('GET /v1/clusters', () => {
  it.each(['vms', 'tenants'] as const)('lists the %s clusters as the replay result describes them', async (side) => {
    const doc = buildResult(run, { count: 0, by_reason: {} }, {}).run!;
    const { status, body } = await getJson(app, `/v1/clusters/${side}`);
    expect(status).toBe(200);
    expect(body).toEqual({ run_id: run.runId, computed_at: doc.computed_at, ...doc[side] });
  });

  it('answers one VM cluster with its members, paged', async () => {
    const doc = buildResult(run, { count: 0, by_reason: {} }, {}).run!;
    const c = doc.vms.clusters[0]!;
    const members: string[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/v1/clusters/vms/${c.cluster_id}?limit=5${cursor === null ? '' : `&cursor=${cursor}`}`;
      const { status, body } = await getJson<Record<string, unknown> & { members: Item[]; next_cursor: string | null }>(app, url);
      expect(status).toBe(200);
      expect(body).toMatchObject({ run_id: run.runId, cluster_id: c.cluster_id, size: c.size, distinguishing: c.distinguishing });
      members.push(...body.members.map((m) => m.vm_id));
      cursor = body.next_cursor;
    } while (cursor !== null);
    expect(members).toEqual(sorted(run.vms.ids.filter((_, i) => run.vms.clusterIds[i] === c.cluster_id)));
    expect(members).toHaveLength(c.size);
  });

  it('answers one tenant cluster with its members', async () => {
    const clusterId = run.tenants.clusterIds[0]!;
    const { status, body } = await getJson<{ members: TenantItem[]; size: number; next_cursor: string | null }>(
      app,
      `/v1/clusters/tenants/${clusterId}?limit=1000`,
    );
    expect(status).toBe(200);
    const expected = sorted(run.tenants.ids.filter((_, i) => run.tenants.clusterIds[i] === clusterId));
    expect(body.members.map((m) => m.tenant_id)).toEqual(expected);
    expect(body.size).toBe(expected.length);
    expect(body.next_cursor).toBeNull();
  });

  it('sends values JSON cannot carry as null instead of failing', async () => {
    const o = run.vms.outcome;
    const odd: ClusteringRun = {
      ...run,
      vms: {
        ...run.vms,
        outcome: {
          ...o,
          parameters: { ...o.parameters, eps: Number.NaN },
          quality: { ...o.quality, silhouette: Number.NaN, inertia: Number.POSITIVE_INFINITY },
          clusters: o.clusters.map((c) => ({ ...c, distinguishing: c.distinguishing.map((d) => ({ ...d, z: Number.NaN })) })),
        },
      },
    };
    const { app: other } = appFor({ ...view, latestRun: () => odd });
    const { status, body } = await getJson<{ parameters: Record<string, unknown>; quality: Record<string, unknown>; clusters: Array<{ distinguishing: Array<{ z: unknown }> }> }>(
      other,
      '/v1/clusters/vms',
    );
    await other.close();
    expect(status).toBe(200);
    expect(body.parameters.eps).toBe('NaN');
    expect(body.quality).toMatchObject({ silhouette: null, inertia: null });
    expect(body.clusters.flatMap((c) => c.distinguishing.map((d) => d.z)).every((z) => z === null)).toBe(true);
  });

  it('is 404 unknown_cluster for a cluster the run does not have', async () => {
    for (const url of ['/v1/clusters/vms/vm-9999', '/v1/clusters/tenants/vm-0', '/v1/clusters/vms/tenant-0']) {
      const { status, body } = await getJson<ErrorBody>(app, url);
      expect(status, url).toBe(404);
      expect(body.error).toBe('unknown_cluster');
    }
  });
});

describe('tenants', () => {
  it('walks every tenant of the run once, with its cluster and VM count', async () => {
    const pages = await walk<TenantItem>('/v1/tenants?limit=7');
    const items = pages.flatMap((p) => p.items);
    expect(items.map((t) => t.tenant_id)).toEqual(sorted(run.tenants.ids));
    const clusters = assignments(run.tenants);
    for (const t of items) {
      expect(t.cluster_id).toBe(clusters[t.tenant_id]);
      expect(t.name).toBe(view.tenant(t.tenant_id)?.name ?? null);
      expect(t.vm_count).toBe(run.vmTenants.filter((x) => x === t.tenant_id).length);
    }
  });

  it('filters tenants by cluster', async () => {
    const clusterId = run.tenants.clusterIds.at(-1)!;
    const pages = await walk<TenantItem>(`/v1/tenants?cluster_id=${clusterId}&limit=2`);
    const expected = sorted(run.tenants.ids.filter((_, i) => run.tenants.clusterIds[i] === clusterId));
    expect(pages.flatMap((p) => p.items.map((t) => t.tenant_id))).toEqual(expected);
  });

  it('answers one tenant with its attributes', async () => {
    const id = run.tenants.ids[0]!;
    const a = view.tenant(id);
    const { status, body } = await getJson(app, `/v1/tenants/${id}`);
    expect(status).toBe(200);
    expect(body).toEqual({
      tenant_id: id,
      cluster_id: run.tenants.clusterIds[0],
      name: a?.name ?? null,
      tier: a?.tier ?? null,
      labels: a?.labels ?? null,
      deleted: a?.deleted ?? false,
      vm_count: run.vmTenants.filter((x) => x === id).length,
    });
  });

  it('is 404 unknown_tenant for a tenant neither in the run nor known', async () => {
    const { status, body } = await getJson<ErrorBody>(app, '/v1/tenants/no-such-tenant');
    expect(status).toBe(404);
    expect(body.error).toBe('unknown_tenant');
  });
});

describe('POST /v1/recluster', () => {
  it('answers 202 with the run id the view gives', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/recluster' });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ run_id: 'run-request-1', started: true });
  });
});

describe('operations', () => {
  it('is ready with inputs and a run', async () => {
    expect(await getJson(app, '/readyz')).toEqual({ status: 200, body: { status: 'ready', missing: [], reasons: [] } });
    expect(await getJson(app, '/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
  });

  it('exposes the service metrics as Prometheus text', async () => {
    metrics.runCompleted(run);
    metrics.recordsIn('overlay-flows', 10);
    metrics.rejected('too_late');
    metrics.consumerLag('overlay-flows', 0, 42);
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const text = res.body;
    for (const name of [
      'alcor_records_in_total{topic="overlay-flows"} 10',
      'alcor_records_rejected_total{reason="too_late"} 1',
      'alcor_consumer_lag{topic="overlay-flows",partition="0"} 42',
      'alcor_vms_tracked',
      'alcor_tenants_tracked',
      'alcor_window_seconds 900',
      'alcor_run_duration_seconds_count{side="vm"} 1',
      'alcor_run_duration_seconds_count{side="tenant"} 1',
      `alcor_clusters{side="vm"} ${run.vms.outcome.k}`,
      `alcor_clusters{side="tenant"} ${run.tenants.outcome.k}`,
      'alcor_runs_total 1',
      'alcor_http_request_duration_seconds_bucket',
      'route="/v1/vms/:vm_id"',
      'alcor_process_cpu_seconds_total',
    ]) {
      expect(text, name).toContain(name);
    }
    expect(text).toContain(`alcor_vms_tracked ${view.ingestStats().vmsTracked}`);
  });

  it('serves an OpenAPI document that lists every route, and the browsable page', async () => {
    const { status, body } = await getJson<{ openapi: string; paths: Record<string, Record<string, unknown>> }>(app, '/docs/json');
    expect(status).toBe(200);
    expect(body.openapi).toMatch(/^3\./);
    const routes = Object.entries(body.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    expect(routes.sort()).toEqual(
      [
        'GET /v1/assignments',
        'GET /v1/vms',
        'GET /v1/vms/{vm_id}',
        'GET /v1/clusters/vms',
        'GET /v1/clusters/tenants',
        'GET /v1/clusters/vms/{cluster_id}',
        'GET /v1/clusters/tenants/{cluster_id}',
        'GET /v1/tenants',
        'GET /v1/tenants/{tenant_id}',
        'POST /v1/recluster',
        'GET /v1/stats',
        'GET /v1/anomalies',
        'GET /v1/security-groups',
        'GET /v1/placement',
        'GET /v1/affinity-groups',
        'GET /v1/affinity-groups/{group_id}',
        'GET /v1/runs',
        'GET /v1/runs/{run_id}/changes',
        'GET /v1/vm-projection',
        'GET /v1/affinity-graph',
        'GET /healthz',
        'GET /readyz',
        'GET /metrics',
      ].sort(),
    );
    for (const [path, ops] of Object.entries(body.paths)) {
      for (const op of Object.values(ops) as Array<{ responses: object; parameters?: Array<{ name: string; in: string; required: boolean }> }>) {
        expect(Object.keys(op.responses).length, path).toBeGreaterThan(0);
        const pathParams = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
        const declared = (op.parameters ?? []).filter((p) => p.in === 'path');
        expect(declared.map((p) => p.name), path).toEqual(pathParams);
        expect(declared.every((p) => p.required)).toBe(true);
      }
    }
    const vmList = body.paths['/v1/vms']!.get as { parameters: Array<{ name: string; in: string }> };
    expect(vmList.parameters.map((p) => p.name).sort()).toEqual(['cluster_id', 'cursor', 'limit', 'tenant_id']);
    const page = await app.inject({ method: 'GET', url: '/docs/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
  });
});

describe('GET /v1/stats', () => {
  it('reports what came in: records by kind, rejections, watermark and the latest run', async () => {
    const { app: statsApp } = appFor(view);
    const { status, body } = await getJson<{ records: { flows: number }; rejected: { count: number }; watermark: string; latest_run_id: string }>(
      statsApp,
      '/v1/stats',
    );
    expect(status).toBe(200);
    expect(body.records.flows).toBe(70_578);
    expect(body.rejected.count).toBe(69);
    expect(body.watermark).toBe('2026-11-01T00:45:03.000Z');
    expect(body.latest_run_id).toBe(run.runId);
    await statsApp.close();
  });
});
