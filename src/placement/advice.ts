/**
 * Placement advice (docs/placement.md): which VMs to move so that VMs that talk a lot share a host, never
 * pushing a host over its capacity, never putting two members of an anti-affinity group on one host,
 * never moving a pinned VM, at most `maxMoves` migrations. Pure: the same input gives the same advice.
 *
 * `planPlacement` computes the plan for the whole fleet once; `describePlacement` turns it into the
 * document for the whole fleet or one tenant (only moves of its VMs, and the traffic touching them).
 */
import { affinityGroupId } from '../contract/ids.ts';
import { crossHostByHost, crossHostTraffic, hostDistance, type PlacementFleet, placementCost, prepareFleet } from './fleet.ts';
import { blockedMoves, greedyPlan, hostLoads, type Plan } from './greedy.ts';
import { defaultImproveLimits, improvePlan } from './improve.ts';
import {
  type BlockedMove,
  defaultPlacementOptions,
  type HostLoad,
  type NoMoveReason,
  type PlacementAdvice,
  type PlacementInput,
  type PlacementOptions,
  type PlacementStrategy,
  type WeightedCost,
} from './types.ts';

export interface PlacementPlan {
  fleet: PlacementFleet;
  plan: Plan;
  before: number;
  after: number;
  blocked: ReturnType<typeof blockedMoves>;
  options: PlacementOptions;
}

const BLOCKED_SHOWN = 10;
const STRATEGIES: readonly PlacementStrategy[] = ['groups', 'group-density', 'pairs', 'single'];

export function planPlacement(input: PlacementInput, options: Partial<PlacementOptions> = {}): PlacementPlan {
  const o: PlacementOptions = { ...defaultPlacementOptions, ...options };
  const maxMoves = Math.max(0, Math.floor(o.maxMoves));
  const fleet = prepareFleet(input, o);
  const strategies = o.strategy === 'best' ? STRATEGIES : [o.strategy];
  const greedy = strategies.map((s) => greedyPlan(fleet, input.groups, s, maxMoves));
  // The baseline alone stays the baseline; otherwise every start is improved on small fleets (where a
  // different start often ends better) and the best greedy plan only on large ones (to bound the cost).
  const improve = o.strategy === 'best';
  const starts = improve && fleet.vmCount > defaultImproveLimits.exhaustiveVms ? [bestOf(greedy)] : greedy;
  const plan = bestOf(starts.map((g) => (improve ? improvePlan(fleet, g, maxMoves) : g)));
  const before = crossHostTraffic(fleet, fleet.hostOf);
  const after = crossHostTraffic(fleet, plan.host);
  return { fleet, plan, before, after, blocked: blockedMoves(fleet, plan, BLOCKED_SHOWN * 10), options: { ...o, maxMoves } };
}

/** The plan that saves most; ties keep the earlier one unless another saves as much with fewer migrations. */
function bestOf(plans: readonly Plan[]): Plan {
  let best = plans[0]!;
  for (const p of plans) if (p.saved > best.saved + 1e-9 || (Math.abs(p.saved - best.saved) <= 1e-9 && p.migrations < best.migrations)) best = p;
  return best;
}

const round = (x: number): number => Math.round(x * 1000) / 1000;

function load(f: PlacementFleet, h: number, vcpus: number, memoryMb: number): HostLoad {
  const cv = f.capVcpus[h]!;
  const cm = f.capMemoryMb[h]!;
  return {
    vcpus: round(vcpus),
    memory_mb: round(memoryMb),
    vcpus_capacity: Number.isNaN(cv) ? null : cv,
    memory_mb_capacity: Number.isNaN(cm) ? null : cm,
  };
}

/**
 * The advice document. With a tenant, only moves of its VMs (other tenants' VMs moved with them are left
 * out of `vm_ids`), the hosts its VMs sit on, and the cross-host traffic of pairs that touch its VMs.
 */
export function describePlacement(p: PlacementPlan, input: PlacementInput, tenant: string | null = null): PlacementAdvice {
  const { fleet: f, plan } = p;
  const ids = input.vms;
  const mine = (v: number): boolean => tenant === null || ids[v]!.tenant === tenant;
  const tiered = f.tiers !== null;
  // With tiers a gain is weighted cost; the cross-host bytes of each move are counted apart, on the placement it applies to.
  const replay = f.hostOf.slice();
  const crossSaved = plan.steps.map((s) => {
    if (!tiered) return { move: s.gain, better: s.better?.gain ?? 0 };
    const move = crossHostGain(f, replay, s.members, s.to);
    const better = s.better === null ? 0 : crossHostGain(f, replay, s.members, s.better.to);
    for (const m of s.members) replay[m] = s.to;
    return { move, better };
  });
  const moves = plan.steps
    .map((s, i) => ({
      step: s.step,
      vm_ids: s.members.filter(mine).map((v) => ids[v]!.id),
      affinity_group: s.group >= 0 ? affinityGroupId(s.group) : null,
      from_host: f.hostIds[s.from]!,
      to_host: f.hostIds[s.to]!,
      bytes_per_minute_saved: round(crossSaved[i]!.move),
      from_load: load(f, s.from, s.fromLoad[0], s.fromLoad[1]),
      to_load: load(f, s.to, s.toLoad[0], s.toLoad[1]),
      better_blocked:
        s.better === null
          ? null
          : {
              vm_ids: s.members.filter(mine).map((v) => ids[v]!.id),
              to_host: f.hostIds[s.better.to]!,
              bytes_per_minute_saved: round(crossSaved[i]!.better),
              constraint: s.better.constraint,
              ...(tiered ? { cost_saved: round(s.better.gain) } : {}),
            },
      ...(tiered ? { cost_saved: round(s.gain) } : {}),
    }))
    .filter((m) => m.vm_ids.length > 0);
  const blocked: BlockedMove[] = p.blocked
    .filter((b) => mine(b.vm))
    .slice(0, BLOCKED_SHOWN)
    .map((b) => ({
      vm_ids: [ids[b.vm]!.id],
      to_host: f.hostIds[b.to]!,
      bytes_per_minute_saved: round(tiered ? crossHostGain(f, plan.host, [b.vm], b.to) : b.gain),
      constraint: b.constraint,
      ...(tiered ? { cost_saved: round(b.gain) } : {}),
    }));
  const before = tenant === null ? p.before : tenantCrossHost(f, f.hostOf, mine);
  const after = tenant === null ? p.after : tenantCrossHost(f, plan.host, mine);
  const hostsShown = new Set<number>();
  for (let v = 0; v < f.vmCount; v++) {
    if (!mine(v)) continue;
    if (f.hostOf[v]! >= 0) hostsShown.add(f.hostOf[v]!);
    if (plan.host[v]! >= 0) hostsShown.add(plan.host[v]!);
  }
  if (tenant === null) for (let h = 0; h < f.hostIds.length; h++) hostsShown.add(h);
  const loadsBefore = hostLoads(f, f.hostOf);
  const crossBefore = crossHostByHost(f, f.hostOf);
  const crossAfter = crossHostByHost(f, plan.host);
  const hosts = [...hostsShown]
    .sort((a, b) => a - b)
    .map((h) => ({
      host_id: f.hostIds[h]!,
      load_before: load(f, h, loadsBefore.vcpus[h]!, loadsBefore.memoryMb[h]!),
      load_after: load(f, h, plan.loadVcpus[h]!, plan.loadMemoryMb[h]!),
      cross_host_bytes_per_minute_before: round(crossBefore[h]!),
      cross_host_bytes_per_minute_after: round(crossAfter[h]!),
    }));
  const hostsWithoutCapacity: string[] = [];
  const hostsOver: string[] = [];
  for (let h = 0; h < f.hostIds.length; h++) {
    if (Number.isNaN(f.capVcpus[h]!)) hostsWithoutCapacity.push(f.hostIds[h]!);
    else if (loadsBefore.vcpus[h]! > f.capVcpus[h]! || loadsBefore.memoryMb[h]! > f.capMemoryMb[h]!) hostsOver.push(f.hostIds[h]!);
  }
  let withoutHost = 0;
  let withoutSize = 0;
  let pinned = 0;
  for (let v = 0; v < f.vmCount; v++) {
    if (!mine(v)) continue;
    if (f.hostOf[v]! < 0) withoutHost++;
    if (f.sized[v] === 0) withoutSize++;
    if (f.pinned[v] === 1) pinned++;
  }
  return {
    moves,
    migrations: moves.reduce((n, m) => n + m.vm_ids.length, 0),
    max_moves: p.options.maxMoves,
    cross_host_bytes_per_minute: { before: round(before), after: round(after) },
    no_moves_reason: moves.length > 0 ? null : noMoveReason(p, tenant, before),
    blocked,
    hosts,
    issues: {
      vms_without_host: withoutHost,
      vms_without_size: withoutSize,
      pinned_vms: pinned,
      pairs_without_host: f.pairsWithoutHost,
      hosts_without_capacity: tenant === null ? hostsWithoutCapacity : hostsWithoutCapacity.filter((h) => hosts.some((x) => x.host_id === h)),
      hosts_over_capacity: tenant === null ? hostsOver : hostsOver.filter((h) => hosts.some((x) => x.host_id === h)),
    },
    strategy: plan.strategy,
    ...(tiered ? { weighted_cost: weightedCost(p, tenant === null ? null : mine) } : {}),
  };
}

/** Cross-host bytes per minute that moving `members` together to `to` takes off the fabric, on placement `host`. */
function crossHostGain(f: PlacementFleet, host: Int32Array, members: readonly number[], to: number): number {
  const moving = new Set(members);
  let gain = 0;
  for (const m of members)
    for (let j = f.adjStart[m]!; j < f.adjStart[m + 1]!; j++) {
      const x = f.adjTo[j]!;
      const w = f.adjWeight[j]!;
      // A pair inside the moving set ends on one host; seen from both ends, each end counts half.
      if (moving.has(x)) gain += host[x] !== host[m] ? w / 2 : 0;
      else gain += (host[x] !== host[m] ? w : 0) - (host[x] !== to ? w : 0);
    }
  return gain;
}

function weightedCost(p: PlacementPlan, mine: ((v: number) => boolean) | null): WeightedCost {
  const { fleet: f, plan } = p;
  const t = p.options.tiers;
  const cost = (host: Int32Array): number => (mine === null ? placementCost(f, host) : tenantCost(f, host, mine));
  return {
    before: round(cost(f.hostOf)),
    after: round(cost(plan.host)),
    distances: { same_host: 0, same_rack: t.sameRack, same_zone: t.sameZone, across_zones: t.acrossZones },
    rack_label: t.rackLabel,
    zone_label: t.zoneLabel,
  };
}

function tenantCost(f: PlacementFleet, host: Int32Array, mine: (v: number) => boolean): number {
  let sum = 0;
  for (let v = 0; v < f.vmCount; v++)
    for (let j = f.adjStart[v]!; j < f.adjStart[v + 1]!; j++) {
      const x = f.adjTo[j]!;
      if (x > v && host[x] !== host[v] && (mine(v) || mine(x))) sum += f.adjWeight[j]! * hostDistance(f, host[v]!, host[x]!);
    }
  return sum;
}

function tenantCrossHost(f: PlacementFleet, host: Int32Array, mine: (v: number) => boolean): number {
  let sum = 0;
  for (let v = 0; v < f.vmCount; v++)
    for (let j = f.adjStart[v]!; j < f.adjStart[v + 1]!; j++) {
      const x = f.adjTo[j]!;
      if (x > v && host[x] !== host[v] && (mine(v) || mine(x))) sum += f.adjWeight[j]!;
    }
  return sum;
}

function noMoveReason(p: PlacementPlan, tenant: string | null, before: number): NoMoveReason {
  const f = p.fleet;
  if (f.vmCount === 0) return 'no_vms';
  if (!f.hostOf.some((h) => h >= 0)) return 'no_vm_has_a_host';
  if (f.pairs === 0) return 'no_traffic';
  if (p.before <= 0) return 'no_cross_host_traffic';
  if (!f.capVcpus.some((c) => !Number.isNaN(c))) return 'no_host_has_capacity';
  if (p.options.maxMoves === 0) return 'move_budget_zero';
  if (tenant !== null && before <= 0) return 'no_cross_host_traffic';
  if (tenant !== null && p.plan.steps.length > 0) return 'no_move_for_tenant';
  return 'no_feasible_move';
}
