/** The dashboard's endpoints behind API keys: a tenant key draws only its own VMs, groups and traffic. */
import type { FastifyInstance } from 'fastify';
import { beforeAll, describe, expect, test } from 'vitest';
import type { AffinityGraph, VmProjection } from '../../../src/http/dashboard-schemas.ts';
import type { ClusteringRun } from '../../../src/runs/clustering-run.ts';
import type { ServiceView } from '../../../src/service/types.ts';
import { replaySmall } from '../helpers.ts';
import { ADMIN_KEY, bearer, fleetOwners, foreignIds, keysFor, largestTenants, securedApp, TENANT_A_KEY, type Tenants } from '../auth/setup.ts';

let view: ServiceView;
let run: ClusteringRun;
let app: FastifyInstance;
let tenants: Tenants;
let owners: Map<string, string | null>;

beforeAll(async () => {
  ({ view, run } = await replaySmall());
  tenants = largestTenants(view);
  owners = fleetOwners(view);
  app = securedApp(view, { keys: await keysFor(tenants) });
});

async function get<T>(url: string, key?: string): Promise<{ status: number; body: T }> {
  const res = await app.inject({ method: 'GET', url, headers: key === undefined ? {} : bearer(key) });
  return { status: res.statusCode, body: res.json<T>() };
}

const vmsOf = (tenant: string): string[] => run.vms.ids.filter((_, row) => run.vmTenants[row] === tenant);

describe('dashboard endpoints behind API keys', () => {
  test('no key: the data needs one, the page does not', async () => {
    expect((await get('/v1/vm-projection')).status).toBe(401);
    expect((await get(`/v1/affinity-graph?vm_id=${run.vms.ids[0]}`)).status).toBe(401);
    const page = await app.inject('/ui/');
    expect(page.statusCode).toBe(200);
    expect((await app.inject('/ui/vendor/echarts.esm.min.mjs')).statusCode).toBe(200);
  });

  test('a tenant key sees its own VMs in the projection, whatever it asks for', async () => {
    const own = vmsOf(tenants.a);
    const mine = await get<VmProjection>('/v1/vm-projection', TENANT_A_KEY);
    expect(mine.status).toBe(200);
    expect([...mine.body.vm_id].sort()).toEqual([...own].sort());
    expect(mine.body.total).toBe(own.length);
    const theirs = await get<VmProjection>(`/v1/vm-projection?tenant_id=${tenants.b}`, TENANT_A_KEY);
    expect([theirs.body.total, theirs.body.vm_id]).toEqual([0, []]);
    const admin = await get<VmProjection>('/v1/vm-projection', ADMIN_KEY);
    expect(admin.body.total).toBe(run.vms.ids.length);
  });

  test('a tenant key\'s affinity graph holds only its VMs; another tenant\'s VM or group is unknown', async () => {
    const own = new Set(vmsOf(tenants.a));
    for (const vmId of own) {
      const graph = await get<AffinityGraph>(`/v1/affinity-graph?vm_id=${vmId}&limit=500`, TENANT_A_KEY);
      expect(graph.status).toBe(200);
      expect(foreignIds(graph.body, tenants.a, owners)).toEqual([]);
    }
    const group = run.affinity!.group[run.vms.ids.indexOf([...own][0]!)]!;
    const byGroup = await get<AffinityGraph>(`/v1/affinity-graph?group_id=g-${group}&limit=500`, TENANT_A_KEY);
    const adminGroup = await get<AffinityGraph>(`/v1/affinity-graph?group_id=g-${group}&limit=500`, ADMIN_KEY);
    expect(byGroup.body.nodes.map((n) => n.vm_id).sort()).toEqual(adminGroup.body.nodes.filter((n) => own.has(n.vm_id)).map((n) => n.vm_id).sort());
    expect(foreignIds(byGroup.body, tenants.a, owners)).toEqual([]);

    const foreignVm = vmsOf(tenants.b)[0]!;
    const denied = await get<{ error: string }>(`/v1/affinity-graph?vm_id=${foreignVm}`, TENANT_A_KEY);
    expect([denied.status, denied.body.error]).toEqual([404, 'unknown_vm']);
    const foreignGroups = new Set(vmsOf(tenants.b).map((id) => run.affinity!.group[run.vms.ids.indexOf(id)]!));
    for (const g of foreignGroups) {
      if ([...own].some((id) => run.affinity!.group[run.vms.ids.indexOf(id)] === g)) continue;
      const res = await get<{ error: string }>(`/v1/affinity-graph?group_id=g-${g}`, TENANT_A_KEY);
      expect([res.status, res.body.error]).toEqual([404, 'unknown_group']);
    }
  });
});
