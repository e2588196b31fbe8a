/**
 * The leader's half of a tick (pure): every window partition's features at the same point of the stream,
 * merged into the RunInput one process would have taken there, so that the clustering run is the
 * existing one, unchanged. What no partition can compute alone is finished here: the share of a VM's
 * peers in its own tenant (peers live in other partitions) and the VM-pair graph's rows.
 */
import { VM_FEATURES, VM_FEATURE_COUNT } from '../features/vm-features.ts';
import type { VmAttributes } from '../contract/records.ts';
import type { PlacementFacts } from '../placement/run-placement.ts';
import type { RunInput, TenantInfo } from '../runs/run-input.ts';
import { vmKey } from './by-vm.ts';
import type { PartitionFeatures } from './partition-state.ts';

const SAME_TENANT = VM_FEATURES.indexOf('same_tenant_peer_share');

interface Row {
  part: PartitionFeatures;
  i: number;
}

/** The latest attributes of every VM of a tick, by VM id: what `/v1/vms/{id}` serves on every member. */
export function gatherAttributes(parts: readonly PartitionFeatures[]): Array<[string, VmAttributes]> {
  const out: Array<[string, VmAttributes]> = [];
  for (const part of parts)
    // Absent in features published by an earlier version.
    part.vmAttributes?.forEach((a, i) => {
      if (a !== null) out.push([part.vmIds[i]!, a]);
    });
  return out;
}

export function gatherSnapshot(parts: readonly PartitionFeatures[], tenants: TenantInfo[], hostCapacity: PlacementFacts['hostCapacity']): RunInput {
  const rows: Row[] = [];
  for (const part of parts) for (let i = 0; i < part.vmIds.length; i++) rows.push({ part, i });
  // liveVms() sorts by id: the same row order as one process, so the same clustering.
  rows.sort((x, y) => {
    const a = x.part.vmIds[x.i]!;
    const b = y.part.vmIds[y.i]!;
    return a < b ? -1 : a > b ? 1 : 0;
  });
  const n = rows.length;
  const C = VM_FEATURE_COUNT;
  const data = new Float64Array(n * C);
  const vmBytes = new Float64Array(n);
  const vmExternalBytes = new Float64Array(n);
  const vmSameTenantBytes = new Float64Array(n);
  const vmIds: string[] = [];
  const vmTenants: (string | null)[] = [];
  const vmVpcs: (string | null)[] = [];
  const placement: PlacementFacts = { vmHosts: [], vmVcpus: [], vmMemoryMb: [], vmLabels: [], hostCapacity };

  // Tenants of every VM held anywhere, by key: FleetState resolves peers among its held VMs the same way.
  const tenantOfKey = new Map<number, string | null>();
  for (const part of parts) part.heldIds.forEach((id, j) => void tenantOfKey.set(vmKey(id), part.heldTenants[j] ?? null));
  // Where each partition's peer keys of row i start.
  const peerStart = new Map<PartitionFeatures, Int32Array>();
  for (const part of parts) {
    const start = new Int32Array(part.vmIds.length + 1);
    for (let i = 0; i < part.vmIds.length; i++) start[i + 1] = start[i]! + part.peerCounts[2 * i]! + part.peerCounts[2 * i + 1]!;
    peerStart.set(part, start);
  }

  const rowOfKey = new Map<number, number>();
  rows.forEach(({ part, i }, r) => {
    const id = part.vmIds[i]!;
    vmIds.push(id);
    rowOfKey.set(vmKey(id), r);
    const tenant = part.vmTenants[i] ?? null;
    vmTenants.push(tenant);
    vmVpcs.push(part.vmVpcs[i] ?? null);
    data.set(part.features.subarray(i * C, (i + 1) * C), r * C);
    vmBytes[r] = part.vmBytes[i]!;
    vmExternalBytes[r] = part.vmExternalBytes[i]!;
    let share = 0;
    if (tenant !== null) {
      const start = peerStart.get(part)!;
      let peers = 0;
      let same = 0;
      for (let k = start[i]!; k < start[i + 1]!; k++) {
        const key = part.peerKeys[k]!;
        if (!tenantOfKey.has(key)) continue;
        peers++;
        if (tenantOfKey.get(key) === tenant) same++;
      }
      share = peers > 0 ? same / peers : 0;
    }
    data[r * C + SAME_TENANT] = share;
    vmSameTenantBytes[r] = vmBytes[r]! * share;
    placement.vmHosts.push(part.placement.vmHosts[i] ?? null);
    placement.vmVcpus.push(part.placement.vmVcpus[i] ?? null);
    placement.vmMemoryMb.push(part.placement.vmMemoryMb[i] ?? null);
    placement.vmLabels.push(part.placement.vmLabels[i] ?? null);
  });

  const as: number[] = [];
  const bs: number[] = [];
  const ws: number[] = [];
  for (const part of parts) {
    for (let j = 0; j < part.pairLo.length; j++) {
      // Pairs whose VM is not in this run (deleted, left the window) are not edges of its graph.
      const ra = rowOfKey.get(part.pairLo[j]!);
      const rb = rowOfKey.get(part.pairHi[j]!);
      if (ra === undefined || rb === undefined) continue;
      as.push(Math.min(ra, rb));
      bs.push(Math.max(ra, rb));
      ws.push(part.pairBytes[j]!);
    }
  }
  const order = Array.from(as.keys()).sort((x, y) => as[x]! - as[y]! || bs[x]! - bs[y]!);
  return {
    watermark: Math.max(...parts.map((p) => p.watermark)),
    windowMs: parts[0]?.windowMs ?? 0,
    vmIds,
    vmTenants,
    vmVpcs,
    vmFeatures: { rows: n, cols: C, data, names: VM_FEATURES },
    vmBytes,
    vmExternalBytes,
    vmSameTenantBytes,
    tenants,
    vmPairs: {
      a: Int32Array.from(order, (i) => as[i]!),
      b: Int32Array.from(order, (i) => bs[i]!),
      bytes: Float64Array.from(order, (i) => ws[i]!),
    },
    placement,
  };
}
