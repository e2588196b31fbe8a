/**
 * A RunInput is the plain data a clustering run needs, taken from the live state at one watermark.
 * Plain arrays and typed arrays only, so that it can be posted to a worker thread.
 */
import type { FeatureMatrix } from '../clustering/types.ts';
import { buildTenantMatrix } from '../features/tenant-features.ts';
import { fleetVmFeatures, VM_FEATURE_COUNT, VM_FEATURES, type VmVolumes } from '../features/vm-features.ts';
import type { FleetState } from '../fleet/fleet-state.ts';
import { trackedTenantIds } from '../fleet/tracked-tenants.ts';
import type { PlacementFacts } from '../placement/run-placement.ts';
import { runToEnd } from '../core/slices.ts';

export interface TenantInfo {
  tenantId: string;
  name: string | null;
  tier: string | null;
  deleted: boolean;
}

export interface RunInput {
  /** Event time the input describes (the watermark). */
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
  /** The window's VM-to-VM traffic graph: undirected edges between rows of vmIds, bytes both ways. */
  vmPairs: VmPairs;
  /** Hosts, sizes and labels of the VMs and the hosts' capacity, for the placement advice. */
  placement?: PlacementFacts;
}

/** Edges sorted by (a, b) with a < b, so that the same state gives the same list whatever the table's order. */
export interface VmPairs {
  a: Int32Array;
  b: Int32Array;
  bytes: Float64Array;
}

/**
 * The window's edges between live VMs, as steps of about `vmsPerStep` VMs' share of the pair table and of
 * the sort (a fleet of 11.6k VMs holds a few hundred thousand pairs: one block of them held a single
 * process's loop for tens of milliseconds). Nothing may change the fleet until the last step.
 */
function* exportPairsSteps(fleet: FleetState, rowOfSerial: Map<number, number>, first: number, last: number, vmsPerStep: number): Generator<number, VmPairs, void> {
  const as: number[] = [];
  const bs: number[] = [];
  const ws: number[] = [];
  const visit = (lo: number, hi: number, bytes: number): void => {
    // Pairs whose VM was deleted or left the window are not edges of this run's graph.
    const ra = rowOfSerial.get(lo);
    const rb = rowOfSerial.get(hi);
    if (ra === undefined || rb === undefined) return;
    as.push(Math.min(ra, rb));
    bs.push(Math.max(ra, rb));
    ws.push(bytes);
  };
  const perStep = vmsPerStep * PAIRS_PER_VM;
  yield* fleet.pairs.forEachSteps(first, last, visit, Number.isFinite(perStep) ? perStep : Number.MAX_SAFE_INTEGER);
  return yield* sortPairsSteps(as, bs, ws, rowOfSerial.size, perStep);
}

/** VMs the sort of the live VMs places per VM of takeRunInputSteps' step (a placement is a comparison or two). */
const SORTED_PER_VM = 32;

/** Pair-table slots and edges a step covers per VM of takeRunInputSteps' step: about as long as its VMs' features. */
const PAIRS_PER_VM = 50;

/**
 * The edges `as[i]`-`bs[i]` (rows below `rows`) ordered by (a, b), ties in their given order: what a stable
 * sort by (a, b) gives, as steps of at most `perStep` edges (each yields how many it covered), so that a
 * scale-out leader orders a fleet's graph (a hundred thousand edges and more) while it serves reads. A
 * counting sort by a, then each a's few edges by b.
 */
export function* sortPairsSteps(as: readonly number[], bs: readonly number[], ws: readonly number[], rows: number, perStep: number): Generator<number, VmPairs, void> {
  const m = as.length;
  const chunk = Math.max(1, Math.min(m, perStep));
  const start = new Int32Array(rows + 1);
  for (let from = 0; from < m; from += chunk) {
    const to = Math.min(m, from + chunk);
    for (let i = from; i < to; i++) start[as[i]! + 1]!++;
    yield to - from;
  }
  for (let r = 0; r < rows; r++) start[r + 1]! += start[r]!;
  const order = new Int32Array(m);
  const next = start.slice(0, rows);
  for (let from = 0; from < m; from += chunk) {
    const to = Math.min(m, from + chunk);
    for (let i = from; i < to; i++) order[next[as[i]!]!++] = i;
    yield to - from;
  }
  let inStep = 0;
  for (let r = 0; r < rows; r++) {
    const from = start[r]!;
    const to = start[r + 1]!;
    if (to - from > 1) sortRowByB(order, from, to, bs);
    inStep += to - from;
    if (inStep >= perStep) {
      yield inStep;
      inStep = 0;
    }
  }
  if (inStep > 0) yield inStep;
  const a = new Int32Array(m);
  const b = new Int32Array(m);
  const bytes = new Float64Array(m);
  for (let from = 0; from < m; from += chunk) {
    const to = Math.min(m, from + chunk);
    for (let j = from; j < to; j++) {
      const i = order[j]!;
      a[j] = as[i]!;
      b[j] = bs[i]!;
      bytes[j] = ws[i]!;
    }
    yield to - from;
  }
  return { a, b, bytes };
}

/** One row's edges (order[from..to)) by b, ties by index: stable, as the sort sortPairsSteps replaces. */
function sortRowByB(order: Int32Array, from: number, to: number, bs: readonly number[]): void {
  if (to - from <= 16) {
    for (let j = from + 1; j < to; j++) {
      const e = order[j]!;
      let k = j - 1;
      while (k >= from && bs[order[k]!]! > bs[e]!) {
        order[k + 1] = order[k]!;
        k--;
      }
      order[k + 1] = e;
    }
    return;
  }
  // A hub VM's many peers: a typed array's sort, by b and then index.
  order.subarray(from, to).sort((x, y) => bs[x]! - bs[y]! || x - y);
}

export function takeRunInput(fleet: FleetState): RunInput {
  return runToEnd(takeRunInputSteps(fleet, Number.POSITIVE_INFINITY));
}

/**
 * takeRunInput as steps of at most `vmsPerStep` VMs' features (each step yields how many it covered): the
 * caller applies nothing to the fleet until the last step. The live VMs' sort comes first, in steps of
 * SORTED_PER_VM times as many VMs placed; the traffic graph in steps of about as many VMs' pairs; the
 * tenants and the host capacities are one step.
 */
export function* takeRunInputSteps(fleet: FleetState, vmsPerStep: number): Generator<number, RunInput, void> {
  const vms = yield* fleet.liveVmsSteps(vmsPerStep * SORTED_PER_VM);
  const n = vms.length;
  const data = new Float64Array(n * VM_FEATURE_COUNT);
  const vmBytes = new Float64Array(n);
  const vmExternalBytes = new Float64Array(n);
  const vmSameTenantBytes = new Float64Array(n);
  const volumes: VmVolumes = { bytes: 0, external: 0, sameTenant: 0 };
  // The per-VM columns filled in the same steps as the features: taken after them, they were one step of
  // 11.6k VMs' ids and attributes (about 7 ms of the loop at once).
  // Pushed in order, not preallocated: a holey array serialises (run records, snapshots) element by element.
  const vmIds: string[] = [];
  const vmTenants: (string | null)[] = [];
  const vmVpcs: (string | null)[] = [];
  const placement: PlacementFacts = { vmHosts: [], vmVcpus: [], vmMemoryMb: [], vmLabels: [], hostCapacity: [] };
  const { first, last } = fleet.windowRange();
  let inStep = 0;
  for (let i = 0; i < n; i++) {
    if (inStep === vmsPerStep) {
      yield inStep;
      inStep = 0;
    }
    const v = vms[i]!;
    fleetVmFeatures(fleet, v, data, i * VM_FEATURE_COUNT, volumes);
    vmBytes[i] = volumes.bytes;
    vmExternalBytes[i] = volumes.external;
    vmSameTenantBytes[i] = volumes.sameTenant;
    vmIds.push(v.vmId);
    vmTenants.push(v.tenantId);
    vmVpcs.push(v.attributes?.vpcId ?? null);
    placement.vmHosts.push(v.attributes?.hostId ?? null);
    placement.vmVcpus.push(v.attributes?.vcpus ?? null);
    placement.vmMemoryMb.push(v.attributes?.memoryMb ?? null);
    placement.vmLabels.push(v.attributes?.labels ?? null);
    inStep++;
  }
  yield inStep;
  const rowOfSerial = new Map<number, number>();
  vms.forEach((v, row) => {
    rowOfSerial.set(v.serial, row);
  });
  const vmPairs = yield* exportPairsSteps(fleet, rowOfSerial, first, last, vmsPerStep);
  const tenants: TenantInfo[] = [];
  for (const t of fleet.tenants.values())
    tenants.push({ tenantId: t.tenantId, name: t.name, tier: t.tier, deleted: t.deleted });
  tenants.sort((a, b) => (a.tenantId < b.tenantId ? -1 : a.tenantId > b.tenantId ? 1 : 0));
  placement.hostCapacity = hostCapacityFacts(fleet);
  return {
    watermark: fleet.watermark,
    windowMs: fleet.config.windowMs,
    vmIds,
    vmTenants,
    vmVpcs,
    vmFeatures: { rows: n, cols: VM_FEATURE_COUNT, data, names: VM_FEATURES },
    vmBytes,
    vmExternalBytes,
    vmSameTenantBytes,
    tenants,
    vmPairs,
    placement,
  };
}

/** The hosts' announced capacities as a run takes them, sorted by host id (a scale-out leader: from its host table). */
export function hostCapacityFacts(fleet: FleetState): PlacementFacts['hostCapacity'] {
  return [...fleet.hostCapacity.entries()]
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([host, c]) => [host, c.labels === undefined ? { vcpus: c.vcpus, memoryMb: c.memoryMb } : { vcpus: c.vcpus, memoryMb: c.memoryMb, labels: c.labels }]);
}

/**
 * The tenants a run clusters (those named by a live VM's attributes and not deleted), sorted, with their
 * feature matrix for the given VM labels (vmClusterIds[l] is the id of label l).
 */
export function tenantMatrixOf(
  input: Pick<RunInput, 'windowMs' | 'tenants' | 'vmTenants' | 'vmVpcs' | 'vmBytes' | 'vmExternalBytes' | 'vmSameTenantBytes'>,
  vmLabels: Int32Array,
  vmClusterIds: readonly string[],
): { tenantIds: string[]; matrix: FeatureMatrix } {
  const deletedTenants = new Set(input.tenants.filter((t) => t.deleted).map((t) => t.tenantId));
  const tenantIds = trackedTenantIds(input.vmTenants, (t) => deletedTenants.has(t));
  const matrix = buildTenantMatrix({
    tenantIds,
    vmTenants: input.vmTenants,
    vmVpcs: input.vmVpcs,
    vmLabels,
    vmBytes: input.vmBytes,
    vmExternalBytes: input.vmExternalBytes,
    vmSameTenantBytes: input.vmSameTenantBytes,
    windowMinutes: input.windowMs / 60_000,
    vmClusterIds,
  });
  return { tenantIds, matrix };
}
