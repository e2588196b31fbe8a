/**
 * The clustering workers' requests as they cross the thread boundary: the run input's columns of ids
 * (VM, tenant, VPC and host ids, the previous run's ids) packed as typed arrays and transferred, where an
 * array of strings was structured-cloned: 11-13 ms of the event loop at 11.6k VMs on the sending side, a
 * V8 string per element on the other and their garbage after (docs/scale-out.md, "Reads during a run").
 * Each stage is sent only the previous run's side it reads. Packing and unpacking give back the same values.
 */
import { runToEnd } from '../core/slices.ts';
import { columnBuffers, packStrings, type StringColumn, unpackIds, unpackStrings } from '../core/string-column.ts';
import type { PreviousRun, PreviousSide, TenantInputs } from '../runs/clustering-run.ts';
import type { RunInput } from '../runs/run-input.ts';
import type { PlacementFacts } from '../placement/run-placement.ts';

export interface PackedSide extends Omit<PreviousSide, 'ids'> {
  ids: StringColumn;
}

/** One side of the previous run (the one the stage reads) and the forced search, which both stages read. */
export interface PackedPrevious {
  side: PackedSide | null;
  forceSearch: PreviousRun['forceSearch'];
}

export interface PackedTenantInputs extends Omit<TenantInputs, 'vmTenants' | 'vmVpcs'> {
  vmTenants: StringColumn;
  vmVpcs: StringColumn;
}

export type PlacementRequestInput = Pick<RunInput, 'windowMs' | 'vmIds' | 'vmTenants' | 'vmPairs' | 'placement'>;

export interface PackedPlacementInput extends Pick<RunInput, 'windowMs' | 'vmPairs'> {
  vmIds: StringColumn;
  vmTenants: StringColumn;
  placement?: PackedPlacementFacts;
}

/**
 * The placement facts as typed arrays: sizes with NaN for none (JSON has no NaN: no size is one), labels as
 * their JSON text. Cloned, the labels (one object per VM) held the sender's loop about 12 ms at 11.6k VMs.
 */
export interface PackedPlacementFacts extends Pick<PlacementFacts, 'hostCapacity'> {
  vmHosts: StringColumn;
  vmVcpus: Float64Array;
  vmMemoryMb: Float64Array;
  vmLabels: StringColumn;
}

/** A packed value and the buffers to transfer with it (copies where the sender keeps the original). */
export interface Packed<T> {
  value: T;
  transfer: ArrayBuffer[];
}

export function packPrevious(previous: PreviousRun | null, side: 'vms' | 'tenants'): Packed<PackedPrevious> {
  const s = previous?.[side] ?? null;
  if (s === null) return { value: { side: null, forceSearch: previous?.forceSearch ?? null }, transfer: [] };
  const ids = packStrings(s.ids);
  // The labels are the latest run's, which the service keeps serving: a copy goes.
  const labels = s.labels.slice();
  return {
    value: { side: { ...s, ids, labels }, forceSearch: previous?.forceSearch ?? null },
    transfer: [...columnBuffers(ids), labels.buffer as ArrayBuffer],
  };
}

export function unpackPrevious(packed: PackedPrevious, side: 'vms' | 'tenants'): PreviousRun {
  const s = packed.side === null ? null : { ...packed.side, ids: unpackIds(packed.side.ids) };
  return { vms: side === 'vms' ? s : null, tenants: side === 'tenants' ? s : null, forceSearch: packed.forceSearch };
}

export function packTenantInputs(inputs: TenantInputs): Packed<PackedTenantInputs> {
  const vmTenants = packStrings(inputs.vmTenants);
  const vmVpcs = packStrings(inputs.vmVpcs);
  return { value: { ...inputs, vmTenants, vmVpcs }, transfer: [...columnBuffers(vmTenants), ...columnBuffers(vmVpcs)] };
}

export function unpackTenantInputs(packed: PackedTenantInputs): TenantInputs {
  return { ...packed, vmTenants: unpackStrings(packed.vmTenants), vmVpcs: unpackStrings(packed.vmVpcs) };
}

export function packPlacementInput(input: PlacementRequestInput): Packed<PackedPlacementInput> {
  return runToEnd(packPlacementInputSteps(input));
}

/**
 * packPlacementInput as steps of a column, or of PACK_LABELS_PER_STEP VMs' labels, each: at 11.6k VMs the
 * whole was one block of 5-15 ms of the sender's loop (four string columns, the labels' JSON).
 */
export function* packPlacementInputSteps(input: PlacementRequestInput): Generator<void, Packed<PackedPlacementInput>, void> {
  const vmIds = packStrings(input.vmIds);
  yield;
  const vmTenants = packStrings(input.vmTenants);
  const transfer = [...columnBuffers(vmIds), ...columnBuffers(vmTenants)];
  const { windowMs, vmPairs } = input;
  if (input.placement === undefined) return { value: { windowMs, vmPairs, vmIds, vmTenants }, transfer };
  yield;
  const p = input.placement;
  const vmHosts = packStrings(p.vmHosts);
  yield;
  // Plain loops: TypedArray.from with a map function goes through the iterator protocol, several times slower.
  const n = p.vmVcpus.length;
  const vmVcpus = new Float64Array(n);
  const vmMemoryMb = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    vmVcpus[i] = p.vmVcpus[i] ?? Number.NaN;
    vmMemoryMb[i] = p.vmMemoryMb[i] ?? Number.NaN;
  }
  const labelTexts: (string | null)[] = [];
  for (let i = 0; i < p.vmLabels.length; i++) {
    if (i % PACK_LABELS_PER_STEP === PACK_LABELS_PER_STEP - 1) yield;
    const l = p.vmLabels[i] ?? null;
    labelTexts.push(l === null ? null : JSON.stringify(l));
  }
  yield;
  const vmLabels = packStrings(labelTexts);
  transfer.push(...columnBuffers(vmHosts), vmVcpus.buffer as ArrayBuffer, vmMemoryMb.buffer as ArrayBuffer, ...columnBuffers(vmLabels));
  return { value: { windowMs, vmPairs, vmIds, vmTenants, placement: { vmHosts, vmVcpus, vmMemoryMb, vmLabels, hostCapacity: p.hostCapacity } }, transfer };
}

/** VMs' labels turned to JSON text in one step of packPlacementInputSteps (a microsecond or so each). */
export const PACK_LABELS_PER_STEP = 2048;

export function unpackPlacementInput(packed: PackedPlacementInput): PlacementRequestInput {
  const { windowMs, vmPairs } = packed;
  const base = { windowMs, vmPairs, vmIds: unpackIds(packed.vmIds), vmTenants: unpackStrings(packed.vmTenants) };
  const p = packed.placement;
  if (p === undefined) return base;
  const size = (v: number): number | null => (Number.isNaN(v) ? null : v);
  return {
    ...base,
    placement: {
      vmHosts: unpackStrings(p.vmHosts),
      vmVcpus: Array.from(p.vmVcpus, size),
      vmMemoryMb: Array.from(p.vmMemoryMb, size),
      vmLabels: unpackStrings(p.vmLabels).map((l) => (l === null ? null : (JSON.parse(l) as Record<string, string>))),
      hostCapacity: p.hostCapacity,
    },
  };
}
