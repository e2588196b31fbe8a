import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { VmAttributes } from '../../contract/records.ts';
import { sees } from '../../access/scope.ts';
import { ApiError } from '../errors.ts';
import { page } from '../paging.ts';
import { featureMeans, type RunIndex, vmInsight } from '../run-index.ts';
import { type VmAttributesBody, VmDetail, type VmItem, VmListQuery, VmPage, VmParams } from '../schemas.ts';
import { errors, latestIndex, type RouteOptions, requireRun, scoped } from './context.ts';

const iso = (ms: number): string => new Date(ms).toISOString();

function vmAttributesBody(a: VmAttributes): VmAttributesBody {
  return {
    ts: iso(a.ts),
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
  };
}

/** JSON has no NaN: a feature that is undefined for a VM (no packets, no attributes) goes out as null. */
function finiteFeatures(features: Record<string, number>): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const [name, value] of Object.entries(features)) out[name] = Number.isFinite(value) ? value : null;
  return out;
}

export function vmItems(index: RunIndex, ids: readonly string[]): VmItem[] {
  return ids.map((id) => ({ vm_id: id, tenant_id: index.tenantOfVm.get(id) ?? null, cluster_id: index.vms.clusterOf.get(id)! }));
}

/** Sorted ids of the latest run's VMs that pass both filters. */
function selectVms(index: RunIndex, clusterId: string | undefined, tenantId: string | undefined): readonly string[] {
  const byCluster = clusterId === undefined ? undefined : (index.vms.members.get(clusterId) ?? []);
  const byTenant = tenantId === undefined ? undefined : (index.vmsOfTenant.get(tenantId) ?? []);
  if (byCluster !== undefined && byTenant !== undefined) {
    // Both lists are sorted; filtering the shorter keeps the order and the cost small.
    return byCluster.length <= byTenant.length
      ? byCluster.filter((id) => index.tenantOfVm.get(id) === tenantId)
      : byTenant.filter((id) => index.vms.clusterOf.get(id) === clusterId);
  }
  return byCluster ?? byTenant ?? index.vms.sorted;
}

export const vmRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { view }) => {
  app.get(
    '/v1/vms',
    {
      config: scoped,
      schema: {
        tags: ['vms'],
        summary: 'A page of the latest run\'s VMs, sorted by id, optionally by cluster and tenant',
        querystring: VmListQuery,
        response: { 200: VmPage, 400: errors[400], 500: errors[500], 503: errors[503] },
      },
    },
    async (request) => {
      const q = request.query;
      const index = requireRun(view, request.scope);
      const p = page(selectVms(index, q.cluster_id, q.tenant_id), q.limit, q.cursor);
      return { items: vmItems(index, p.ids), next_cursor: p.nextCursor };
    },
  );

  app.get(
    '/v1/vms/:vm_id',
    {
      config: scoped,
      schema: {
        tags: ['vms'],
        summary: 'One live VM: its cluster and why, anomaly score, affinity group, current features and attributes',
        params: VmParams,
        response: { 200: VmDetail, 400: errors[400], 404: errors[404], 500: errors[500] },
      },
    },
    async (request) => {
      const id = request.params.vm_id;
      const vm = view.vm(id);
      // Another tenant's VM gets the very answer of a VM that does not exist: nothing tells them apart.
      if (vm === null || !sees(request.scope, vm.tenantId)) throw new ApiError(404, 'unknown_vm', `no live VM with id ${JSON.stringify(id)}`);
      const index = latestIndex(view, request.scope);
      const run = view.latestRun();
      // The scoped index holds the VM only when the run agrees it is the tenant's; else no run figures.
      const insight = run === null || index === null ? null : vmInsight(run, index, id);
      const clusterId = index?.vms.clusterOf.get(id) ?? null;
      const means = run === null ? null : featureMeans(run, clusterId);
      return {
        vm_id: vm.vmId,
        tenant_id: vm.tenantId,
        cluster_id: clusterId,
        features: vm.features === null ? null : finiteFeatures(vm.features),
        attributes: vm.attributes === null ? null : vmAttributesBody(vm.attributes),
        last_seen: Number.isFinite(vm.lastSeen) ? iso(vm.lastSeen) : null,
        distance: insight?.distance ?? null,
        next_cluster_id: insight?.nextClusterId ?? null,
        confidence: insight?.confidence ?? null,
        anomaly_score: insight?.anomalyScore ?? null,
        affinity_group: insight?.affinityGroup ?? null,
        cluster_means: means?.cluster ?? null,
        fleet_means: means?.fleet ?? null,
      };
    },
  );
};
