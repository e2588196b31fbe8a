/**
 * The run history as a tenant key sees it: the moves of its own VMs and of its own tenant record. Lifecycle
 * events (born, died, split, merged) are about fleet-wide clusters and their sizes, so a tenant gets none;
 * the run's aggregate figures (entities clustered, k, silhouette) stay, as on /v1/clusters.
 */
import type { RunRecord } from '../../runs/history.ts';
import type { ServiceView } from '../../service/types.ts';
import type { RunIndex } from '../run-index.ts';
import type { AccessScope } from '../../access/scope.ts';

/**
 * Which tenant a VM named in some past run belongs to: its live attributes, else the latest run's. A VM
 * known to neither (deleted since) is owned by nobody, so it is hidden from every tenant key.
 */
export function vmOwner(view: ServiceView, latest: RunIndex | null): (vmId: string) => string | null {
  return (vmId) => view.vm(vmId)?.tenantId ?? latest?.tenantOfVm.get(vmId) ?? null;
}

export function scopeRunRecord(record: RunRecord, scope: AccessScope, ownerOf: (vmId: string) => string | null): RunRecord {
  if (scope.kind === 'admin') return record;
  const { vms, tenants } = record.changes;
  return {
    ...record,
    changes: {
      ...record.changes,
      vms: { events: [], moved: vms.moved.filter((m) => ownerOf(m.id) === scope.tenantId) },
      tenants: { events: [], moved: tenants.moved.filter((m) => m.id === scope.tenantId) },
    },
  };
}
