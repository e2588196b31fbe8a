/**
 * Heap added by 20,000 tenants with 64 labels each and 20,000 far-future tombstones, with the default
 * caps and with the caps lifted (the behaviour before MAX_TENANTS, MAX_TENANT_LABELS, MAX_DELETED_VMS):
 *
 *   node --expose-gc --import tsx bench/state-caps-heap.ts
 */
import type { TenantAttributes } from '../src/contract/records.ts';
import { FleetState } from '../src/fleet/fleet-state.ts';
import { defaultWindowConfig, type WindowConfig } from '../src/windows/window-config.ts';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const T0 = Date.UTC(2026, 10, 1);
const FAR_FUTURE = Date.UTC(9999, 11, 31, 23, 59, 59);

function heapAdded(config: WindowConfig): Record<string, number> {
  gc?.();
  gc?.();
  const before = process.memoryUsage().heapUsed;
  const fleet = new FleetState(config);
  for (let i = 0; i < 20_000; i++) {
    const labels: Record<string, string> = Object.create(null) as Record<string, string>;
    for (let k = 0; k < 64; k++) labels[`label-key-${k}-${'k'.repeat(40)}`] = `value-${i}-${k}-${'v'.repeat(200)}`;
    const t: TenantAttributes = { ts: T0, tenantId: `tenant-${i}-${'t'.repeat(100)}`, name: null, tier: null, labels, deleted: false };
    fleet.applyTenantAttributes(t);
  }
  for (let i = 0; i < 20_000; i++) {
    fleet.applyVmAttributes({
      ts: FAR_FUTURE,
      vmId: `vm-${i}-${'x'.repeat(100)}`,
      tenantId: 't',
      vpcId: null,
      vni: null,
      subnetId: null,
      ip: null,
      image: null,
      hostId: null,
      vcpus: null,
      memoryMb: null,
      state: 'deleted',
      cpuUtil: null,
      labels: null,
    });
  }
  gc?.();
  gc?.();
  const mb = Math.round((process.memoryUsage().heapUsed - before) / 1e6);
  const result = { heap_added_mb: mb, tenants: fleet.tenants.size, tombstones: fleet.deleted.size, tenant_labels_refused: fleet.counters.tenantLabelsRefused };
  // Keeps the fleet alive until measured.
  if (fleet.tenants.size < 0) console.log(fleet);
  return result;
}

const lifted = { ...defaultWindowConfig, maxTenants: 10_000_000, maxTenantLabels: 100_000_000, maxDeletedVms: 10_000_000 };
console.log(JSON.stringify({ caps_lifted: heapAdded(lifted), default_caps: heapAdded(defaultWindowConfig) }));
