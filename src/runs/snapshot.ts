/**
 * A FleetSnapshot is the plain data a clustering run needs, taken from the live state at one watermark.
 * Plain arrays and typed arrays only, so that it can be posted to a worker thread.
 */
import type { FeatureMatrix } from '../clustering/types.ts';
import { extractVmFeatures, VM_FEATURE_COUNT, VM_FEATURES, type VmVolumes } from '../features/vm-features.ts';
import type { FleetState } from '../fleet/fleet-state.ts';

export interface TenantInfo {
  tenantId: string;
  name: string | null;
  tier: string | null;
  deleted: boolean;
}

export interface FleetSnapshot {
  /** Event time the snapshot describes (the watermark). */
  watermark: number;
  windowMs: number;
  vmIds: string[];
  /** Tenant of each VM from its attributes; null until they arrive. */
  vmTenants: (string | null)[];
  vmVpcs: (string | null)[];
  vmFeatures: FeatureMatrix;
  /**
   * Service bytes in the window per VM: total, to/from outside the overlay, and the part attributed to
   * its own tenant (total times the same-tenant share of its VM peers).
   */
  vmBytes: Float64Array;
  vmExternalBytes: Float64Array;
  vmSameTenantBytes: Float64Array;
  tenants: TenantInfo[];
}

export function takeSnapshot(fleet: FleetState): FleetSnapshot {
  const vms = fleet.liveVms();
  const n = vms.length;
  const data = new Float64Array(n * VM_FEATURE_COUNT);
  const vmBytes = new Float64Array(n);
  const vmExternalBytes = new Float64Array(n);
  const vmSameTenantBytes = new Float64Array(n);
  const volumes: VmVolumes = { bytes: 0, external: 0, sameTenant: 0 };
  const { first, last } = fleet.windowRange();
  const minutes = fleet.config.windowMs / 60_000;
  for (let i = 0; i < n; i++) {
    extractVmFeatures(vms[i]!, first, last, minutes, data, i * VM_FEATURE_COUNT, volumes, (serial) => fleet.vmBySerial(serial));
    vmBytes[i] = volumes.bytes;
    vmExternalBytes[i] = volumes.external;
    vmSameTenantBytes[i] = volumes.sameTenant;
  }
  const tenants: TenantInfo[] = [];
  for (const t of fleet.tenants.values())
    tenants.push({ tenantId: t.tenantId, name: t.name, tier: t.tier, deleted: t.deleted });
  tenants.sort((a, b) => (a.tenantId < b.tenantId ? -1 : a.tenantId > b.tenantId ? 1 : 0));
  return {
    watermark: fleet.watermark,
    windowMs: fleet.config.windowMs,
    vmIds: vms.map((v) => v.vmId),
    vmTenants: vms.map((v) => v.tenantId),
    vmVpcs: vms.map((v) => v.attributes?.vpcId ?? null),
    vmFeatures: { rows: n, cols: VM_FEATURE_COUNT, data, names: VM_FEATURES },
    vmBytes,
    vmExternalBytes,
    vmSameTenantBytes,
    tenants,
  };
}
