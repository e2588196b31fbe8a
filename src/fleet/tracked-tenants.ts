/**
 * Which tenants count, defined once for every figure an operator reads: `tenants_tracked` of /v1/stats, the
 * `alcor_tenants_tracked` gauge, and the tenants a clustering run clusters (so /v1/runs, /v1/clusters/tenants,
 * the replay's "N tenants" and the dashboard). A tenant is tracked when the attributes of at least one live
 * VM (seen in the window that ends at the watermark, not deleted) name it, and no tenant attributes message
 * marked it deleted. A tenant attributes message alone does not make a tenant tracked: it describes a tenant,
 * it does not show that the tenant has traffic.
 */
import type { FleetState } from './fleet-state.ts';

/** The tracked tenants among the tenants of live VMs (null: a VM whose attributes have not arrived), sorted. */
export function trackedTenantIds(liveVmTenants: Iterable<string | null>, isDeleted: (tenantId: string) => boolean): string[] {
  const ids = new Set<string>();
  for (const t of liveVmTenants) if (t !== null && !isDeleted(t)) ids.add(t);
  return [...ids].sort();
}

/** The tracked tenants of the live state, at its watermark; linear in the VMs held (no sort of the VMs). */
export function trackedTenantCount(fleet: FleetState): number {
  const since = fleet.liveSince();
  const tenants = new Set<string>();
  for (const e of fleet.vms.values()) {
    const t = e.tenantId;
    if (t !== null && e.lastSeen > since) tenants.add(t);
  }
  return trackedTenantIds(tenants, (t) => fleet.tenants.get(t)?.deleted === true).length;
}
