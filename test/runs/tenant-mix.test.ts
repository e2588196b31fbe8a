/**
 * The tenant features that hold a tenant's mix of VM clusters, as a person reads them: named by the stable
 * VM cluster id shown everywhere else, and valued as the share itself (whatever the clustering compares
 * inside), in the replay result, the replay table and /v1/clusters/tenants. On the committed small fixture,
 * whose tenant-3 (peer-to-peer training jobs) holds 68% of its VMs in vm-6, which is label 5 of the run.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { clusterTable } from '../../src/cli/summary.ts';
import { TENANT_BASE_FEATURES } from '../../src/features/tenant-features.ts';
import type { ClusterList } from '../../src/http/schemas.ts';
import { type ClusteringRun, NOISE_CLUSTER_ID } from '../../src/runs/clustering-run.ts';
import { buildResult, type ReplayResult } from '../../src/runs/result.ts';
import type { ServiceView } from '../../src/service/types.ts';
import { appFor, getJson, replaySmall } from '../http/helpers.ts';

let run: ClusteringRun;
let view: ServiceView;
let result: ReplayResult;

beforeAll(async () => {
  // Every five minutes of event time, as `alcor-clusters replay` does: ten runs, so stable ids and labels differ.
  ({ run, view } = await replaySmall(5));
  result = buildResult(run, { count: 0, by_reason: {} }, {});
}, 120_000);

const MIX = /^(.+)_(vm|byte)_share$/;

/** A tenant's share of VMs in a VM cluster, from the assignment maps alone: VMs in it over its clustered VMs. */
function vmShare(tenantId: string, vmClusterId: string): number {
  let inCluster = 0;
  let clustered = 0;
  run.vms.ids.forEach((vmId, i) => {
    if (run.vmTenants[i] !== tenantId) return;
    const c = result.vm_clusters[vmId]!;
    if (c === NOISE_CLUSTER_ID) return;
    clustered++;
    if (c === vmClusterId) inCluster++;
  });
  return clustered > 0 ? inCluster / clustered : 0;
}

const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;

describe('tenant mix features', () => {
  it('are named by the stable VM cluster ids, and each tenant\'s VM shares and byte shares add up to one', () => {
    const names = run.tenants.features.names;
    expect(names).toEqual([...TENANT_BASE_FEATURES, ...run.vms.labelIds.map((id) => `${id}_vm_share`), ...run.vms.labelIds.map((id) => `${id}_byte_share`)]);
    // vm-6 is the sixth cluster by size: its label is 5, the name once used for it.
    expect(run.vms.labelIds.indexOf('vm-6')).toBe(5);
    const { rows, cols, data } = run.tenants.features;
    const base = TENANT_BASE_FEATURES.length;
    const k = run.vms.labelIds.length;
    for (let r = 0; r < rows; r++) {
      let vms = 0;
      let bytes = 0;
      for (let c = 0; c < k; c++) {
        vms += data[r * cols + base + c]!;
        bytes += data[r * cols + base + k + c]!;
      }
      expect(vms).toBeCloseTo(1, 12);
      expect(bytes).toBeCloseTo(1, 12);
    }
  });

  it('are shares in the replay result: a cluster\'s value is its tenants\' mean share, the overall the fleet\'s', () => {
    const tenantsOf = new Map<string, string[]>();
    for (const [tenant, c] of Object.entries(result.tenant_clusters)) tenantsOf.set(c, [...(tenantsOf.get(c) ?? []), tenant]);
    const vmClusterIds = new Set(result.run!.vms.clusters.map((c) => c.cluster_id));
    let checked = 0;
    for (const c of result.run!.tenants.clusters) {
      for (const d of c.distinguishing) {
        const mix = MIX.exec(d.feature);
        if (mix === null) continue;
        expect(vmClusterIds.has(mix[1]!)).toBe(true);
        expect(d.value).toBeGreaterThanOrEqual(0);
        expect(d.value).toBeLessThanOrEqual(1);
        if (mix[2] !== 'vm') continue;
        expect(d.value).toBeCloseTo(mean(tenantsOf.get(c.cluster_id)!.map((t) => vmShare(t, mix[1]!))), 4);
        expect(d.overall).toBeCloseTo(mean(run.tenants.ids.map((t) => vmShare(t, mix[1]!))), 4);
        checked++;
      }
    }
    expect(checked).toBe(7);
    const p2p = result.run!.tenants.clusters.find((c) => c.cluster_id === 'tenant-3')!;
    expect(p2p.distinguishing.slice(0, 2)).toEqual([
      { feature: 'vm-6_byte_share', value: 0.8132, overall: 0.1423, z: 0.742 },
      { feature: 'vm-6_vm_share', value: 0.6758, overall: 0.1183, z: 0.676 },
    ]);
  });

  it('read the same in the replay table and in /v1/clusters/tenants', async () => {
    const table = clusterTable(result.run!.tenants, 'tenants');
    expect(table).toContain('vm-6_byte_share 0.813 (+0.7σ), vm-6_vm_share 0.676 (+0.7σ)');
    expect(table).not.toMatch(/vm_cluster_\d/);
    const { app } = appFor(view);
    const { status, body } = await getJson<ClusterList>(app, '/v1/clusters/tenants');
    expect(status).toBe(200);
    expect(body.clusters.map((c) => c.distinguishing)).toEqual(result.run!.tenants.clusters.map((c) => c.distinguishing));
    expect(body.clusters.find((c) => c.cluster_id === 'tenant-3')!.distinguishing[1]).toEqual({ feature: 'vm-6_vm_share', value: 0.6758, overall: 0.1183, z: 0.676 });
    await app.close();
  });
});
