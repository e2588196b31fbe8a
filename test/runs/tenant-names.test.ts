/**
 * Tenant cluster names: a hand-made fleet whose every band and phrase is known, then the committed small
 * fixture, whose six tenant clusters are its six kinds of tenant.
 */
import { describe, expect, it } from 'vitest';
import { cluster } from '../../src/clustering/index.ts';
import { buildTenantMatrix, tenantClusteringInput, tenantClusteringScaling } from '../../src/features/tenant-features.ts';
import { fixtureReplay } from '../helpers/fixture-replay.ts';
import { clusterIdOf } from '../../src/runs/clustering-run.ts';
import { nameTenantClusters } from '../../src/runs/explain.ts';
import { buildResult } from '../../src/runs/result.ts';

interface HandTenant {
  id: string;
  /** VM cluster label of each of its VMs. */
  labels: number[];
  /** Bytes per minute of each VM, and the shares of them that leave the overlay or stay in the tenant. */
  bytesPerVm: number;
  external: number;
  sameTenant: number;
}

const ROLES = ['web servers', 'database servers', 'storage clients'];

function handMade(tenants: HandTenant[]) {
  const vmTenants: string[] = [];
  const labels: number[] = [];
  const bytes: number[] = [];
  for (const t of tenants)
    for (const l of t.labels) {
      vmTenants.push(t.id);
      labels.push(l);
      bytes.push(t.bytesPerVm);
    }
  const matrix = buildTenantMatrix({
    tenantIds: tenants.map((t) => t.id),
    vmTenants,
    vmVpcs: vmTenants.map((t) => `${t}-vpc`),
    vmLabels: Int32Array.from(labels),
    vmBytes: Float64Array.from(bytes),
    vmExternalBytes: Float64Array.from(vmTenants, (t, i) => bytes[i]! * tenants.find((x) => x.id === t)!.external),
    vmSameTenantBytes: Float64Array.from(vmTenants, (t, i) => bytes[i]! * tenants.find((x) => x.id === t)!.sameTenant),
    windowMinutes: 1,
    vmClusterIds: ROLES.map((_, c) => `vm-${c}`),
  });
  return matrix;
}

describe('tenant cluster names', () => {
  it('names each cluster by size, traffic, exposure and the roles of its VMs', () => {
    const tenants: HandTenant[] = [
      // 40 and 36 VMs, geometric mean 38: large; 4.0e9 and 3.6e9 B/min, over 100 Mbit/s: heavy.
      { id: 'shop-a', labels: [...Array(30).fill(0), ...Array(10).fill(1)], bytesPerVm: 1e8, external: 0.6, sameTenant: 0.4 },
      { id: 'shop-b', labels: [...Array(28).fill(0), ...Array(8).fill(1)], bytesPerVm: 1e8, external: 0.55, sameTenant: 0.45 },
      // 3 and 2 VMs, geometric mean 2.46: small; 3e5 B/min = 0.04 Mbit/s: light; 4 of 5 VMs storage clients.
      { id: 'lab-a', labels: [2, 2, 2], bytesPerVm: 1e5, external: 0, sameTenant: 1 },
      { id: 'lab-b', labels: [2, 1], bytesPerVm: 1e5, external: 0, sameTenant: 1 },
      // 5 VMs at 1e8 B/min = 66.7 Mbit/s: moderate; most traffic with other tenants; 2 + 2 + 1 VMs.
      { id: 'duo-a', labels: [0, 0, 1, 1, 2], bytesPerVm: 1e8, external: 0.3, sameTenant: 0.2 },
      { id: 'duo-b', labels: [0, 1, 0, 1, 2], bytesPerVm: 1e8, external: 0.3, sameTenant: 0.2 },
      // 1 VM at 1e9 B/min = 133 Mbit/s.
      { id: 'solo', labels: [1], bytesPerVm: 1e9, external: 0.2, sameTenant: 0.8 },
    ];
    const m = handMade(tenants);
    const outcome = cluster(tenantClusteringInput(m), { k: 4, seed: 1, ...tenantClusteringScaling(m.cols) });
    const names = nameTenantClusters(outcome, m, ROLES);
    const nameOf = (tenant: string) => names[outcome.labels[tenants.findIndex((t) => t.id === tenant)]!];
    // The groups are the ones built above.
    const groups = ['shop-a', 'shop-b', 'lab-a', 'lab-b', 'duo-a', 'duo-b', 'solo'].map((t) => outcome.labels[tenants.findIndex((x) => x.id === t)]);
    expect(new Set(groups).size).toBe(4);
    expect(groups[0]).toBe(groups[1]);
    expect(groups[2]).toBe(groups[3]);
    expect(groups[4]).toBe(groups[5]);

    expect(nameOf('shop-a')).toBe('large, heavy traffic, external-facing, mostly web servers');
    expect(nameOf('lab-a')).toBe('small, light traffic, internal, mostly storage clients');
    // Equal shares: the larger role first, then by name.
    expect(nameOf('duo-a')).toBe('small, moderate traffic, cross-tenant, database servers and web servers');
    expect(nameOf('solo')).toBe('single-VM, heavy traffic, partly external, mostly database servers');
  });

  it('says "mixed roles" when no role has half the VMs and the second has under a fifth', () => {
    const roles = ['a servers', 'b servers', 'c clients', 'd clients', 'e VMs'];
    const m = buildTenantMatrix({
      tenantIds: ['t'],
      vmTenants: Array(20).fill('t'),
      vmVpcs: Array(20).fill(null),
      // 9, 3, 3, 3, 2 of 20 VMs.
      vmLabels: Int32Array.from([...Array(9).fill(0), 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4]),
      vmBytes: new Float64Array(20).fill(1e9),
      vmExternalBytes: new Float64Array(20).fill(1e9),
      vmSameTenantBytes: new Float64Array(20),
      windowMinutes: 1,
      vmClusterIds: roles.map((_, c) => `vm-${c}`),
    });
    // One tenant, one cluster whose centroid is the tenant's own row.
    const outcome = {
      labels: Int32Array.from([0]),
      clusters: [{ index: 0, size: 1, centroid: Array.from(m.data), distinguishing: [] }],
    };
    expect(nameTenantClusters(outcome as unknown as Parameters<typeof nameTenantClusters>[0], m, roles)).toEqual([
      'medium, heavy traffic, external-facing, mixed roles',
    ]);
  });

  it('names the six kinds of tenant of the small fixture, in the REST and replay results too', async () => {
    const { lastRun } = await fixtureReplay('small', 0);
    const run = lastRun!;
    const named = Object.fromEntries(run.tenants.outcome.clusters.map((c) => [clusterIdOf(run.tenants, c.index), run.tenantClusterNames![c.index]]));
    expect(named).toEqual({
      'tenant-0': 'medium, light traffic, partly external, mostly web servers',
      'tenant-1': 'medium, moderate traffic, internal, mostly storage clients',
      'tenant-2': 'medium, moderate traffic, internal, mostly messaging clients',
      'tenant-3': 'small, heavy traffic, internal, mostly peer-to-peer VMs',
      'tenant-4': 'medium, heavy traffic, external-facing, mostly web servers',
      'tenant-5': 'medium, moderate traffic, external-facing, mostly web clients',
    });
    const result = buildResult(run, { count: 0, by_reason: {} }, {});
    expect(Object.fromEntries(result.run!.tenants.clusters.map((c) => [c.cluster_id, c.name]))).toEqual(named);
  }, 60_000);
});
