/**
 * Tenants are grouped by what they run, not by how big they are (issue 11 item 3): two tenants running the
 * same mix of VM clusters at a hundred times the scale fall in one tenant cluster, while size and volume
 * still describe the cluster.
 */
import { describe, expect, it } from 'vitest';
import { clusterTenants, type TenantInputs } from '../../src/runs/clustering-run.ts';

/** Kind A runs VM clusters 0 and 1 half and half; kind B runs 2 and 3, 60/40. Small tenants: 5 VMs; big: 100x traffic, 100 VMs. */
function fleet(): { inputs: TenantInputs; labels: Int32Array; kindOf: Map<string, string> } {
  const vmTenants: string[] = [];
  const vmVpcs: string[] = [];
  const labels: number[] = [];
  const bytes: number[] = [];
  const kindOf = new Map<string, string>();
  const add = (tenant: string, kind: 'A' | 'B', vms: number, perVm: number) => {
    kindOf.set(tenant, kind);
    for (let i = 0; i < vms; i++) {
      vmTenants.push(tenant);
      vmVpcs.push(`${tenant}-vpc-${i % (vms > 50 ? 4 : 1)}`);
      labels.push(kind === 'A' ? (i % 2 === 0 ? 0 : 1) : i % 5 < 3 ? 2 : 3);
      bytes.push(perVm);
    }
  };
  for (let t = 0; t < 6; t++) {
    add(`a-small-${t}`, 'A', 10, 1e6);
    add(`a-big-${t}`, 'A', 100, 1e8);
    add(`b-small-${t}`, 'B', 10, 2e6);
    add(`b-big-${t}`, 'B', 100, 2e8);
  }
  const n = vmTenants.length;
  const vmBytes = Float64Array.from(bytes);
  const inputs: TenantInputs = {
    windowMs: 15 * 60_000,
    tenants: [],
    vmTenants,
    vmVpcs,
    vmBytes,
    vmExternalBytes: Float64Array.from(bytes, (b) => b * 0.2),
    vmSameTenantBytes: Float64Array.from(bytes, (b) => b * 0.8),
  };
  expect(n).toBe(6 * 220);
  return { inputs, labels: Int32Array.from(labels), kindOf };
}

describe('tenant clusters', () => {
  it('put tenants of one mix in one cluster whatever their size and volume', () => {
    const { inputs, labels, kindOf } = fleet();
    const { tenantIds, outcome } = clusterTenants(inputs, labels, 4);
    expect(outcome.k).toBe(2);
    const clusterOfKind = new Map<string, number>();
    tenantIds.forEach((t, i) => {
      const kind = kindOf.get(t)!;
      const c = outcome.labels[i]!;
      if (!clusterOfKind.has(kind)) clusterOfKind.set(kind, c);
      expect(c).toBe(clusterOfKind.get(kind));
    });
    expect(new Set(clusterOfKind.values()).size).toBe(2);
    // Size still describes each cluster: its mean log_vms lies between the small and the big tenants'.
    const logVms = outcome.clusters[0]!.centroid[0]!;
    expect(logVms).toBeCloseTo((Math.log2(11) + Math.log2(101)) / 2, 10);
  });
});
