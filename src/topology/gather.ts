/**
 * The leader's half of a tick (pure): every window partition's features at the same point of the stream,
 * merged into the RunInput one process would have taken there, so that the clustering run is the
 * existing one, unchanged. What no partition can compute alone is finished here: the share of a VM's
 * peers in its own tenant (peers live in other partitions) and the VM-pair graph's rows.
 */
import { VM_FEATURES, VM_FEATURE_COUNT } from '../features/vm-features.ts';
import type { VmAttributes } from '../contract/records.ts';
import type { PlacementFacts } from '../placement/run-placement.ts';
import { inSlices, runToEnd } from '../core/slices.ts';
import { type RunInput, sortPairsSteps, type TenantInfo } from '../runs/run-input.ts';
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
  return runToEnd(gatherSnapshotSteps(parts, tenants, hostCapacity, Number.POSITIVE_INFINITY));
}

/**
 * The same input, yielding to the event loop between steps of at most GATHER_ITEMS_PER_STEP rows, peers or
 * pairs: the leader gathers while it serves reads (one block took 77 ms at 11.6k VMs, idle, 0.9 s at load 22).
 */
export function gatherSnapshotInSlices(parts: readonly PartitionFeatures[], tenants: TenantInfo[], hostCapacity: PlacementFacts['hostCapacity']): Promise<RunInput> {
  return inSlices(gatherSnapshotSteps(parts, tenants, hostCapacity, GATHER_ITEMS_PER_STEP), GATHER_SLICE_MS);
}

/** A step of the gather: about a millisecond of work on this machine, idle. */
export const GATHER_ITEMS_PER_STEP = 2000;

/** Longest the gather holds the event loop at once (steps are run together up to it). */
const GATHER_SLICE_MS = 4;

/** The rows of every partition in id order: each partition's VMs are sorted already (liveVms), so a merge. */
function* mergedRows(parts: readonly PartitionFeatures[], perStep: number): Generator<number, Row[], void> {
  const sorted = parts.every((part) => part.vmIds.every((id, i) => i === 0 || part.vmIds[i - 1]! < id));
  const rows: Row[] = [];
  if (!sorted) {
    // Features of another version, not sorted: the sort one process does, at once.
    for (const part of parts) for (let i = 0; i < part.vmIds.length; i++) rows.push({ part, i });
    rows.sort((x, y) => {
      const a = x.part.vmIds[x.i]!;
      const b = y.part.vmIds[y.i]!;
      return a < b ? -1 : a > b ? 1 : 0;
    });
    return rows;
  }
  const at = parts.map(() => 0);
  let inStep = 0;
  for (;;) {
    let best = -1;
    for (let p = 0; p < parts.length; p++) {
      const id = parts[p]!.vmIds[at[p]!];
      // Equal ids (a VM in two partitions) keep the partitions' order, as the stable sort did.
      if (id !== undefined && (best < 0 || id < parts[best]!.vmIds[at[best]!]!)) best = p;
    }
    if (best < 0) return rows;
    rows.push({ part: parts[best]!, i: at[best]!++ });
    if (++inStep >= perStep) {
      yield inStep;
      inStep = 0;
    }
  }
}

/** gatherSnapshot as steps of at most `perStep` rows, peer keys or pairs (each step yields how many it covered). */
export function* gatherSnapshotSteps(
  parts: readonly PartitionFeatures[],
  tenants: TenantInfo[],
  hostCapacity: PlacementFacts['hostCapacity'],
  perStep: number,
): Generator<number, RunInput, void> {
  // liveVms() sorts by id: the same row order as one process, so the same clustering.
  const rows = yield* mergedRows(parts, perStep);
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
  let inStep = 0;
  // The work of the step done last (what it yields).
  let stepDone = 0;
  // Counts `k` items of work: true once a step's worth is done (then the next step starts).
  const counted = (k: number): boolean => {
    inStep += k;
    if (inStep < perStep) return false;
    stepDone = inStep;
    inStep = 0;
    return true;
  };

  // Tenants of every VM held anywhere, by key: FleetState resolves peers among its held VMs the same way.
  const tenantOfKey = new Map<number, string | null>();
  for (const part of parts)
    for (let j = 0; j < part.heldIds.length; j++) {
      tenantOfKey.set(vmKey(part.heldIds[j]!), part.heldTenants[j] ?? null);
      if (counted(1)) yield stepDone;
    }
  // Where each partition's peer keys of row i start.
  const peerStart = new Map<PartitionFeatures, Int32Array>();
  for (const part of parts) {
    const start = new Int32Array(part.vmIds.length + 1);
    for (let i = 0; i < part.vmIds.length; i++) {
      start[i + 1] = start[i]! + part.peerCounts[2 * i]! + part.peerCounts[2 * i + 1]!;
      if (counted(1)) yield stepDone;
    }
    peerStart.set(part, start);
  }

  const rowOfKey = new Map<number, number>();
  for (let r = 0; r < n; r++) {
    const { part, i } = rows[r]!;
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
    let peersSeen = 0;
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
      peersSeen = start[i + 1]! - start[i]!;
      share = peers > 0 ? same / peers : 0;
    }
    data[r * C + SAME_TENANT] = share;
    vmSameTenantBytes[r] = vmBytes[r]! * share;
    placement.vmHosts.push(part.placement.vmHosts[i] ?? null);
    placement.vmVcpus.push(part.placement.vmVcpus[i] ?? null);
    placement.vmMemoryMb.push(part.placement.vmMemoryMb[i] ?? null);
    placement.vmLabels.push(part.placement.vmLabels[i] ?? null);
    if (counted(1 + peersSeen)) yield stepDone;
  }

  const as: number[] = [];
  const bs: number[] = [];
  const ws: number[] = [];
  for (const part of parts) {
    for (let j = 0; j < part.pairLo.length; j++) {
      // Pairs whose VM is not in this run (deleted, left the window) are not edges of its graph.
      const ra = rowOfKey.get(part.pairLo[j]!);
      const rb = rowOfKey.get(part.pairHi[j]!);
      if (counted(1)) yield stepDone;
      if (ra === undefined || rb === undefined) continue;
      as.push(Math.min(ra, rb));
      bs.push(Math.max(ra, rb));
      ws.push(part.pairBytes[j]!);
    }
  }
  if (inStep > 0) yield inStep;
  const vmPairs = yield* sortPairsSteps(as, bs, ws, n, perStep);
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
    vmPairs,
    placement,
  };
}
