/**
 * Placement advice as a stage of a clustering run: its input from the run's input (each VM's host,
 * size and labels, the hosts' announced capacity) and the run's affinity groups.
 */
import { type PlacementPlan, planPlacement } from './advice.ts';
import type { Capacity, PlacementInput, PlacementOptions, PlacementVm } from './types.ts';

/** What a run input keeps for placement, parallel to its VM ids; plain data for the worker boundary. */
export interface PlacementFacts {
  vmHosts: (string | null)[];
  vmVcpus: (number | null)[];
  vmMemoryMb: (number | null)[];
  vmLabels: (Readonly<Record<string, string>> | null)[];
  /** Capacity of each host that announced one (host-attributes topic), sorted by host id. */
  hostCapacity: Array<[string, Capacity]>;
}

/** The advice a run carries: the plan for the whole fleet and the input it was made from. */
export interface RunPlacement {
  plan: PlacementPlan;
  input: PlacementInput;
}

export function placementInput(
  vmIds: readonly string[],
  vmTenants: readonly (string | null)[],
  s: PlacementFacts,
  pairs: PlacementInput['pairs'],
  groups: Int32Array | null,
  windowMs: number,
): PlacementInput {
  const vms: PlacementVm[] = vmIds.map((id, i) => ({
    id,
    tenant: vmTenants[i] ?? null,
    host: s.vmHosts[i] ?? null,
    vcpus: s.vmVcpus[i] ?? null,
    memoryMb: s.vmMemoryMb[i] ?? null,
    labels: s.vmLabels[i] ?? null,
  }));
  return { vms, pairs, hostCapacity: new Map(s.hostCapacity), groups, windowMinutes: windowMs / 60_000 };
}

export function placeRun(input: PlacementInput, options: Partial<PlacementOptions> = {}): RunPlacement {
  return { plan: planPlacement(input, options), input };
}
