/** The two endpoints the dashboard draws from, and the static files of /ui (app.inject, no browser). */
import type { FastifyInstance } from 'fastify';
import { beforeAll, describe, expect, test } from 'vitest';
import type { AffinityGraph, VmProjection } from '../../../src/http/dashboard-schemas.ts';
import { idHash } from '../../../src/http/routes/vm-projection.ts';
import type { Assignments, VmPage } from '../../../src/http/schemas.ts';
import type { ClusteringRun } from '../../../src/runs/clustering-run.ts';
import type { ServiceView } from '../../../src/service/types.ts';
import { appFor, getJson, type Replayed, replaySmall } from '../helpers.ts';

let replayed: Replayed;
let run: ClusteringRun;
let app: FastifyInstance;

beforeAll(async () => {
  replayed = await replaySmall();
  run = replayed.run;
  app = appFor(replayed.view).app;
});

function withRun(r: ClusteringRun | null): FastifyInstance {
  const view: ServiceView = { ...replayed.view, latestRun: () => r };
  return appFor(view).app;
}

/** Bytes between two rows of the run, from its pair list (0 when they exchanged nothing). */
function bytesBetween(a: number, b: number): number {
  const pairs = run.vmPairs!;
  for (let e = 0; e < pairs.a.length; e++) if (pairs.a[e] === Math.min(a, b) && pairs.b[e] === Math.max(a, b)) return pairs.bytes[e]!;
  return 0;
}

describe('GET /v1/vm-projection', () => {
  test('every VM of the run with its cluster, as parallel arrays', async () => {
    const { status, body } = await getJson<VmProjection>(app, '/v1/vm-projection');
    const assignments = (await getJson<Assignments>(app, '/v1/assignments')).body.vm_clusters;
    expect(status).toBe(200);
    expect(body.run_id).toBe(run.runId);
    expect(body.total).toBe(485);
    expect(body.sampled).toBe(false);
    expect([...body.vm_id].sort()).toEqual(Object.keys(assignments).sort());
    expect(body.cluster_id).toEqual(body.vm_id.map((id) => assignments[id]));
    expect(body.x).toHaveLength(485);
    expect(body.y).toHaveLength(485);
    const row = run.vms.ids.indexOf(body.vm_id[0]!);
    expect(body.x[0]).toBe(Number(run.vmProjection!.x[row]!.toPrecision(4)));
    expect(body.explained[0]).toBeGreaterThan(body.explained[1]!);
    expect(body.explained[0]! + body.explained[1]!).toBeLessThanOrEqual(1);
  });

  test('above the limit, the VMs whose ids hash lowest, the same on every call', async () => {
    const { body } = await getJson<VmProjection>(app, '/v1/vm-projection?limit=50');
    const expected = [...run.vms.ids].sort((a, b) => idHash(a) - idHash(b)).slice(0, 50);
    expect(body.total).toBe(485);
    expect(body.sampled).toBe(true);
    expect(body.vm_id).toEqual(expected);
    expect((await getJson<VmProjection>(app, '/v1/vm-projection?limit=50')).body).toEqual(body);
  });

  test('filters by tenant and by cluster', async () => {
    const tenant = run.vmTenants.find((t) => t !== null)!;
    const tenantVms = (await getJson<VmPage>(app, `/v1/vms?tenant_id=${tenant}&limit=1000`)).body.items.map((v) => v.vm_id);
    const byTenant = (await getJson<VmProjection>(app, `/v1/vm-projection?tenant_id=${tenant}`)).body;
    expect([...byTenant.vm_id].sort()).toEqual(tenantVms);
    expect(byTenant.total).toBe(tenantVms.length);

    const cluster = run.vms.clusterIds[0]!;
    const byCluster = (await getJson<VmProjection>(app, `/v1/vm-projection?cluster_id=${cluster}`)).body;
    expect(byCluster.total).toBe(run.vms.clusterIds.filter((c) => c === cluster).length);
    expect(new Set(byCluster.cluster_id)).toEqual(new Set([cluster]));

    const none = (await getJson<VmProjection>(app, '/v1/vm-projection?tenant_id=no-such-tenant')).body;
    expect([none.total, none.vm_id.length, none.sampled]).toEqual([0, 0, false]);
  });

  test('a bad limit is a 400, no run yet a 503, a run without a projection counts its VMs but places none', async () => {
    for (const limit of ['0', '20001', 'many', '1.5']) {
      const res = await getJson<{ error: string }>(app, `/v1/vm-projection?limit=${limit}`);
      expect([res.status, res.body.error]).toEqual([400, 'bad_request']);
    }
    const early = await getJson<{ error: string }>(withRun(null), '/v1/vm-projection');
    expect([early.status, early.body.error]).toEqual([503, 'no_run']);
    const restored = (await getJson<VmProjection>(withRun({ ...run, vmProjection: undefined }), '/v1/vm-projection')).body;
    expect([restored.total, restored.vm_id.length, restored.sampled, restored.explained]).toEqual([485, 0, false, [0, 0]]);
  });
});

describe('GET /v1/affinity-graph', () => {
  test('a VM and its peers, heaviest first, with the traffic among them', async () => {
    const pairs = run.vmPairs!;
    const row = pairs.a[0]!;
    const vmId = run.vms.ids[row]!;
    const { status, body } = await getJson<AffinityGraph>(app, `/v1/affinity-graph?vm_id=${vmId}&limit=500`);
    expect(status).toBe(200);
    const peers = new Set<number>();
    for (let e = 0; e < pairs.a.length; e++) {
      if (pairs.a[e] === row) peers.add(pairs.b[e]!);
      if (pairs.b[e] === row) peers.add(pairs.a[e]!);
    }
    expect(body.focus).toEqual({ vm_id: vmId, group_id: null });
    expect(body.total_nodes).toBe(peers.size + 1);
    expect(body.nodes[0]!.vm_id).toBe(vmId);
    const rows = body.nodes.map((n) => run.vms.ids.indexOf(n.vm_id));
    expect(new Set(rows.slice(1))).toEqual(peers);
    const toFocus = rows.slice(1).map((r) => bytesBetween(row, r));
    expect(toFocus).toEqual([...toFocus].sort((a, b) => b - a));
    for (const e of body.edges) expect(e.bytes).toBe(bytesBetween(run.vms.ids.indexOf(e.source), run.vms.ids.indexOf(e.target)));
    // Every pair of nodes that exchanged traffic is an edge, once.
    let expectedEdges = 0;
    for (let i = 0; i < rows.length; i++) for (let j = i + 1; j < rows.length; j++) if (bytesBetween(rows[i]!, rows[j]!) > 0) expectedEdges++;
    expect(body.edges).toHaveLength(expectedEdges);
    const node = body.nodes[0]!;
    expect([node.cluster_id, node.tenant_id]).toEqual([run.vms.clusterIds[row], run.vmTenants[row]]);
  });

  test('a group\'s members up to the limit, all of that group', async () => {
    const size = run.affinity!.sizes[0]!;
    const { body } = await getJson<AffinityGraph>(app, '/v1/affinity-graph?group_id=g-0&limit=10');
    expect(body.total_nodes).toBe(size);
    expect(body.nodes).toHaveLength(Math.min(10, size));
    expect(new Set(body.nodes.map((n) => n.group_id))).toEqual(new Set(['g-0']));
    const ids = new Set(body.nodes.map((n) => n.vm_id));
    for (const e of body.edges) expect(ids.has(e.source) && ids.has(e.target)).toBe(true);
  });

  test('exactly one focus, known ids, and a run with a traffic graph', async () => {
    const vmId = run.vms.ids[0]!;
    for (const query of ['', `?vm_id=${vmId}&group_id=g-0`, `?vm_id=${vmId}&limit=1`, `?vm_id=${vmId}&limit=501`]) {
      const res = await getJson<{ error: string }>(app, `/v1/affinity-graph${query}`);
      expect([query, res.status, res.body.error]).toEqual([query, 400, 'bad_request']);
    }
    expect((await getJson<{ error: string }>(app, '/v1/affinity-graph?vm_id=nope')).body.error).toBe('unknown_vm');
    expect((await getJson<{ error: string }>(app, '/v1/affinity-graph?group_id=g-99999')).body.error).toBe('unknown_group');
    const res = await getJson<{ error: string }>(withRun({ ...run, vmPairs: undefined }), `/v1/affinity-graph?vm_id=${vmId}`);
    expect([res.status, res.body.error]).toEqual([404, 'no_affinity']);
  });
});

describe('/ui static files', () => {
  test('the page, its modules and the vendored chart bundle; nothing else of node_modules', async () => {
    const redirect = await app.inject('/ui');
    expect([redirect.statusCode, redirect.headers.location]).toEqual([302, '/ui/']);
    // The root leads a browser to the dashboard rather than answering a JSON 404.
    const root = await app.inject('/');
    expect([root.statusCode, root.headers.location]).toEqual([302, '/ui/']);
    const page = await app.inject('/ui/');
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.body).toContain('<script type="module" src="js/main.js">');
    for (const path of ['/ui/js/main.js', '/ui/js/api.js', '/ui/js/charts.js', '/ui/styles.css', '/ui/vendor/echarts.esm.min.mjs']) {
      const res = await app.inject(path);
      expect([path, res.statusCode]).toEqual([path, 200]);
    }
    expect((await app.inject('/ui/vendor/echarts.esm.min.mjs')).headers['content-type']).toMatch(/javascript/);
    for (const path of ['/ui/vendor/echarts.js', '/ui/vendor/../package.json', '/ui/../../package.json', '/ui/nothing.html']) {
      const res = await app.inject(path);
      expect([path, res.statusCode, res.json<{ error: string }>().error]).toEqual([path, 404, 'not_found']);
    }
  });

  test('the OpenAPI document lists the dashboard\'s endpoints but not its files', async () => {
    const doc = (await getJson<{ paths: Record<string, unknown> }>(app, '/docs/json')).body;
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/vm-projection', '/v1/affinity-graph']));
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/ui') || p === '/')).toEqual([]);
  });
});
