/**
 * Inputs and outputs of the placement advice (docs/placement.md): plain data, so that the advice can be
 * computed wherever a run's VMs and traffic graph are (replay, service, bench, crosscheck).
 */

/** What placement needs to know about one VM, from its attributes. */
export interface PlacementVm {
  id: string;
  tenant: string | null;
  host: string | null;
  vcpus: number | null;
  memoryMb: number | null;
  labels: Readonly<Record<string, string>> | null;
}

export interface Capacity {
  vcpus: number;
  memoryMb: number;
  /** The host's labels (host-attributes topic): where the rack and zone labels of tiered costs come from. */
  labels?: Readonly<Record<string, string>>;
}

/**
 * Distances of tiered costs (docs/placement.md#tiers): a pair costs its traffic times the distance of its
 * hosts, 0 on one host. Tiers apply only when some host carries the rack or zone label; without them every
 * pair across hosts costs 1, the cross-host traffic.
 */
export interface PlacementTierOptions {
  rackLabel: string;
  zoneLabel: string;
  sameRack: number;
  sameZone: number;
  acrossZones: number;
}

export const defaultTierOptions: PlacementTierOptions = { rackLabel: 'rack', zoneLabel: 'zone', sameRack: 1, sameZone: 2, acrossZones: 3 };

export interface PlacementInput {
  vms: readonly PlacementVm[];
  /** The window's VM-to-VM traffic: undirected edges between rows of `vms`, bytes both ways. */
  pairs: { a: Int32Array; b: Int32Array; bytes: Float64Array };
  /** Capacity of the hosts that announced it (host-attributes topic). */
  hostCapacity: ReadonlyMap<string, Capacity>;
  /** Affinity group of each VM row (affinity.ts), or null when the run has none. */
  groups: Int32Array | null;
  windowMinutes: number;
}

export interface PlacementOptions {
  /** Most VM migrations the advice may suggest. */
  maxMoves: number;
  /**
   * Capacity of a host that never announced one: a fixed size, the largest load observed on any host
   * ('max-observed'), or null (such hosts take no VMs).
   */
  defaultCapacity: Capacity | 'max-observed' | null;
  /** Label key whose value names a VM's anti-affinity group. */
  antiAffinityLabel: string;
  /** Label key that pins a VM to its host when its value is "true". */
  pinnedLabel: string;
  /** 'best' runs every strategy and keeps the one that saves most; 'single' is the plain greedy baseline. */
  strategy: 'best' | PlacementStrategy;
  tiers: PlacementTierOptions;
}

export type PlacementStrategy = 'single' | 'groups' | 'group-density' | 'pairs';

export const defaultPlacementOptions: PlacementOptions = {
  maxMoves: 20,
  defaultCapacity: 'max-observed',
  antiAffinityLabel: 'anti_affinity',
  pinnedLabel: 'pinned',
  strategy: 'best',
  tiers: defaultTierOptions,
};

/** Why a move with more benefit than the one taken (or any move) was not suggested. */
export type PlacementConstraint =
  | 'vcpus'
  | 'memory_mb'
  | 'host_without_capacity'
  | 'host_over_capacity'
  | 'anti_affinity'
  | 'pinned'
  | 'size_unknown'
  | 'move_budget';

export interface HostLoad {
  vcpus: number;
  memory_mb: number;
  /** Null when the host has no capacity (unknown host and no default). */
  vcpus_capacity: number | null;
  memory_mb_capacity: number | null;
}

export interface PlacementMove {
  /**
   * Moves with the same step are one decision, to apply together: a pair of VMs from two hosts brought
   * onto a third, where the first move alone may save nothing (its saving can be 0 or negative).
   */
  step: number;
  /** The VMs moved together: one VM, or the part of an affinity group that sat on `from_host`. */
  vm_ids: string[];
  affinity_group: string | null;
  from_host: string;
  to_host: string;
  /** Cross-host traffic this move takes off the fabric, bytes per minute over the window. */
  bytes_per_minute_saved: number;
  /** Loads of both hosts right after this move (moves apply in order). */
  from_load: HostLoad;
  to_load: HostLoad;
  /** The move of these VMs that would have saved more, and the constraint that stopped it. */
  better_blocked: BlockedMove | null;
  /** With tiers only: the weighted cost (traffic x host distance, per minute) this move saves. */
  cost_saved?: number;
}

export interface BlockedMove {
  vm_ids: string[];
  to_host: string;
  bytes_per_minute_saved: number;
  constraint: PlacementConstraint;
  /** With tiers only: the weighted cost this move would have saved (what made it better). */
  cost_saved?: number;
}

export interface HostSummary {
  host_id: string;
  load_before: HostLoad;
  load_after: HostLoad;
  cross_host_bytes_per_minute_before: number;
  cross_host_bytes_per_minute_after: number;
}

/** Why the advice holds no moves. */
export type NoMoveReason =
  | 'no_vms'
  | 'no_vm_has_a_host'
  | 'no_traffic'
  | 'no_cross_host_traffic'
  | 'no_host_has_capacity'
  | 'move_budget_zero'
  | 'no_feasible_move'
  | 'no_move_for_tenant';

export interface PlacementAdvice {
  /** Moves in the order to apply them, most benefit first. */
  moves: PlacementMove[];
  migrations: number;
  max_moves: number;
  cross_host_bytes_per_minute: { before: number; after: number };
  /** Null when there are moves. */
  no_moves_reason: NoMoveReason | null;
  /** The most valuable moves no constraint allowed (at most 10), most benefit first. */
  blocked: BlockedMove[];
  hosts: HostSummary[];
  issues: {
    vms_without_host: number;
    vms_without_size: number;
    pinned_vms: number;
    /** Pairs left out because one of their VMs has no host. */
    pairs_without_host: number;
    hosts_without_capacity: string[];
    hosts_over_capacity: string[];
  };
  strategy: PlacementStrategy;
  /**
   * With tiers only (some host has a rack or zone label): the objective the advice minimised, traffic x host
   * distance in bytes per minute, the whole fleet's (or, for a tenant, of pairs touching its VMs).
   */
  weighted_cost?: WeightedCost;
}

export interface WeightedCost {
  before: number;
  after: number;
  distances: { same_host: 0; same_rack: number; same_zone: number; across_zones: number };
  rack_label: string;
  zone_label: string;
}
