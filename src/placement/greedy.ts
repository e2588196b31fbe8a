/**
 * The fast heuristic: greedy moves of units (one VM, or the part of an affinity group that sits on one
 * host) to the host that takes the most of their traffic off the fabric, within capacity and
 * anti-affinity, until the move budget is spent or no move gains. Gains are kept in a max-heap and
 * re-evaluated only for the units a move touches (neighbours of the moved VMs, and units that waited for
 * room on the host it left), so a run costs a few passes over the traffic graph whatever the fleet size.
 *
 * A VM moves at most once: the advice is a list of migrations, and moving a VM twice is one migration too
 * many. The 'single' strategy is the plain baseline (the single VM with the largest gain, repeat).
 */
import { hostDistance, type PlacementFleet } from './fleet.ts';
import type { PlacementConstraint, PlacementStrategy } from './types.ts';

const EPS = 1e-9;
/** Roomiest hosts kept as targets for pairs: enough to skip a few that anti-affinity rules out. */
const ROOMY_HOSTS = 8;

function isMemberHost(host: Int32Array, members: ArrayLike<number>, h: number): boolean {
  for (let i = 0; i < members.length; i++) if (host[members[i]!] === h) return true;
  return false;
}

export interface PlanStep {
  /** Moves with the same step are one decision: a pair from two hosts moved onto a third. */
  step: number;
  members: number[];
  /** Affinity group of a group unit, -1 for a single VM. */
  group: number;
  from: number;
  to: number;
  gain: number;
  better: { to: number; gain: number; constraint: PlacementConstraint } | null;
  /** Loads after the step: [vcpus, memory] of from and to. */
  fromLoad: [number, number];
  toLoad: [number, number];
}

export interface Plan {
  strategy: PlacementStrategy;
  steps: PlanStep[];
  host: Int32Array;
  saved: number;
  migrations: number;
  /** Load of each host after the plan. */
  loadVcpus: Float64Array;
  loadMemoryMb: Float64Array;
}

interface Evaluation {
  to: number;
  gain: number;
  /** The best move ignoring constraints, when a constraint stopped it (gain above the feasible one's). */
  blockedTo: number;
  blockedGain: number;
  constraint: PlacementConstraint | null;
}

/** Loads of each host for a placement. */
export function hostLoads(f: PlacementFleet, host: Int32Array): { vcpus: Float64Array; memoryMb: Float64Array } {
  const vcpus = new Float64Array(f.hostIds.length);
  const memoryMb = new Float64Array(f.hostIds.length);
  for (let v = 0; v < f.vmCount; v++) {
    const h = host[v]!;
    if (h < 0) continue;
    vcpus[h]! += f.vcpus[v]!;
    memoryMb[h]! += f.memoryMb[v]!;
  }
  return { vcpus, memoryMb };
}

/** Units as CSR: members of unit u are members[start[u] .. start[u + 1]). Singles first (unit v is VM v). */
interface Units {
  start: Int32Array;
  members: Int32Array;
  group: Int32Array;
  /** Group unit of each VM, -1 when none. */
  groupUnitOf: Int32Array;
  /** Pair units each VM belongs to. */
  pairUnitsOf: Map<number, number[]>;
}

function buildUnits(f: PlacementFleet, groups: Int32Array | null, withGroups: boolean, withPairs: boolean, maxMoves: number): Units {
  const n = f.vmCount;
  const lists: number[][] = [];
  const pairUnitsOf = new Map<number, number[]>();
  const groupOfUnit: number[] = [];
  const groupUnitOf = new Int32Array(n).fill(-1);
  if (withGroups && groups !== null) {
    const byKey = new Map<number, number[]>();
    const H = f.hostIds.length + 1;
    for (let v = 0; v < n; v++) {
      const h = f.hostOf[v]!;
      if (h < 0) continue;
      const key = groups[v]! * H + h;
      const list = byKey.get(key);
      if (list === undefined) byKey.set(key, [v]);
      else list.push(v);
    }
    for (const list of byKey.values()) {
      // A fragment larger than the budget could never move; a fragment of one is its VM's single unit.
      if (list.length < 2 || list.length > maxMoves) continue;
      for (const v of list) groupUnitOf[v] = n + lists.length;
      groupOfUnit.push(groups[list[0]!]!);
      lists.push(list);
    }
  }
  if (withPairs && maxMoves >= 2) {
    // Each VM with its heaviest peer on another host: when neither host has room for the other, both can
    // still meet on a third host, a move no single VM gains by on its own.
    const seen = new Set<number>();
    for (let v = 0; v < n; v++) {
      let best = -1;
      let bestW = 0;
      for (let j = f.adjStart[v]!; j < f.adjStart[v + 1]!; j++) {
        const x = f.adjTo[j]!;
        if (f.hostOf[x] !== f.hostOf[v] && f.adjWeight[j]! > bestW) {
          bestW = f.adjWeight[j]!;
          best = x;
        }
      }
      if (best < 0) continue;
      const key = Math.min(v, best) * n + Math.max(v, best);
      if (seen.has(key)) continue;
      seen.add(key);
      const u = n + lists.length;
      for (const m of [v, best]) {
        const l = pairUnitsOf.get(m);
        if (l === undefined) pairUnitsOf.set(m, [u]);
        else l.push(u);
      }
      groupOfUnit.push(-1);
      lists.push([Math.min(v, best), Math.max(v, best)]);
    }
  }
  const total = n + lists.length;
  const start = new Int32Array(total + 1);
  let size = n;
  for (const l of lists) size += l.length;
  const members = new Int32Array(size);
  const group = new Int32Array(total).fill(-1);
  for (let v = 0; v < n; v++) {
    start[v] = v;
    members[v] = v;
  }
  let o = n;
  lists.forEach((l, i) => {
    start[n + i] = o;
    group[n + i] = groupOfUnit[i]!;
    for (const v of l) members[o++] = v;
  });
  start[total] = o;
  return { start, members, group, groupUnitOf, pairUnitsOf };
}

/** Max-heap of (score, unit, version); ties by smaller unit so that runs are deterministic. */
class UnitHeap {
  private score: number[] = [];
  private unit: number[] = [];
  private version: number[] = [];

  get size(): number {
    return this.score.length;
  }

  private above(i: number, j: number): boolean {
    const s = this.score;
    return s[i]! > s[j]! || (s[i] === s[j] && this.unit[i]! < this.unit[j]!);
  }

  private swap(i: number, j: number): void {
    for (const a of [this.score, this.unit, this.version]) {
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
  }

  push(score: number, unit: number, version: number): void {
    this.score.push(score);
    this.unit.push(unit);
    this.version.push(version);
    let i = this.score.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.above(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  pop(): { score: number; unit: number; version: number } {
    const top = { score: this.score[0]!, unit: this.unit[0]!, version: this.version[0]! };
    const last = this.score.length - 1;
    this.swap(0, last);
    this.score.pop();
    this.unit.pop();
    this.version.pop();
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < last && this.above(l, m)) m = l;
      if (r < last && this.above(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    return top;
  }

  peekScore(): number {
    return this.score.length === 0 ? Number.NEGATIVE_INFINITY : this.score[0]!;
  }
}

/** The placement state a strategy changes as it moves VMs. */
export class PlacementState {
  readonly host: Int32Array;
  readonly loadVcpus: Float64Array;
  readonly loadMemoryMb: Float64Array;
  readonly moved: Uint8Array;
  /** Members of each anti-affinity group per host, keyed host * groups + group. */
  private readonly aaCount = new Map<number, number>();
  private readonly hostWeight: Float64Array;
  private readonly mark: Int32Array;
  private tick = 0;
  private readonly hostMark: Int32Array;
  private hostTick = 0;
  /** With tiers: the last evaluation that priced each rack (or zone) of peers. */
  private readonly hoodMark: Int32Array;
  /** The hosts with the most free vCPUs: where a pair from two full hosts can meet. */
  private roomy: number[] = [];
  private roomyStale = true;

  constructor(readonly f: PlacementFleet) {
    this.host = f.hostOf.slice();
    const loads = hostLoads(f, this.host);
    this.loadVcpus = loads.vcpus;
    this.loadMemoryMb = loads.memoryMb;
    this.moved = new Uint8Array(f.vmCount);
    for (let v = 0; v < f.vmCount; v++) {
      const g = f.antiAffinity[v]!;
      if (g >= 0 && this.host[v]! >= 0) this.bumpAa(this.host[v]!, g, 1);
    }
    this.hostWeight = new Float64Array(f.hostIds.length);
    this.mark = new Int32Array(f.vmCount);
    this.hostMark = new Int32Array(f.hostIds.length);
    this.hoodMark = new Int32Array(f.tiers?.neighbourhoods.length ?? 0);
  }

  /** The ROOMY_HOSTS hosts with the most free vCPUs (ties by index), found again only after a move. */
  roomyHosts(): number[] {
    if (!this.roomyStale) return this.roomy;
    const f = this.f;
    const top: number[] = [];
    const room = (h: number): number => f.capVcpus[h]! - this.loadVcpus[h]!;
    for (let h = 0; h < f.hostIds.length; h++) {
      const r = room(h);
      if (!(r > 0) || !(f.capMemoryMb[h]! > this.loadMemoryMb[h]!)) continue;
      if (top.length === ROOMY_HOSTS && r <= room(top[top.length - 1]!)) continue;
      let i = top.length < ROOMY_HOSTS ? top.length : top.length - 1;
      top[i] = h;
      while (i > 0 && room(top[i - 1]!) < r) {
        top[i] = top[i - 1]!;
        top[i - 1] = h;
        i--;
      }
    }
    this.roomy = top;
    this.roomyStale = false;
    return top;
  }

  /** Gain of moving VM m alone to h, in the current placement. */
  singleGain(m: number, h: number): number {
    const f = this.f;
    let gain = 0;
    const own = this.host[m]!;
    if (f.tiers !== null) {
      for (let j = f.adjStart[m]!; j < f.adjStart[m + 1]!; j++) {
        const hx = this.host[f.adjTo[j]!]!;
        gain += f.adjWeight[j]! * (hostDistance(f, own, hx) - hostDistance(f, h, hx));
      }
      return gain;
    }
    for (let j = f.adjStart[m]!; j < f.adjStart[m + 1]!; j++) {
      const hx = this.host[f.adjTo[j]!]!;
      if (hx === h) gain += f.adjWeight[j]!;
      else if (hx === own) gain -= f.adjWeight[j]!;
    }
    return gain;
  }

  private bumpAa(h: number, g: number, d: number): void {
    const key = h * this.f.antiAffinityGroups + g;
    this.aaCount.set(key, (this.aaCount.get(key) ?? 0) + d);
  }

  /** Members of anti-affinity group g on host h. */
  aaOn(h: number, g: number): number {
    return this.aaCount.get(h * this.f.antiAffinityGroups + g) ?? 0;
  }

  /** Why `members` (all on one host) may not move to h, or null when they may. */
  constraintOn(members: ArrayLike<number>, h: number, sumV: number, sumM: number): PlacementConstraint | null {
    const f = this.f;
    const cv = f.capVcpus[h]!;
    const cm = f.capMemoryMb[h]!;
    if (Number.isNaN(cv) || Number.isNaN(cm)) return 'host_without_capacity';
    if (this.loadVcpus[h]! > cv || this.loadMemoryMb[h]! > cm) return 'host_over_capacity';
    if (this.loadVcpus[h]! + sumV > cv) return 'vcpus';
    if (this.loadMemoryMb[h]! + sumM > cm) return 'memory_mb';
    for (let i = 0; i < members.length; i++) {
      const g = f.antiAffinity[members[i]!]!;
      if (g >= 0 && this.aaOn(h, g) > 0) return 'anti_affinity';
    }
    return null;
  }

  /**
   * The best move of `members` (all on one host, none moved yet): the feasible target with the largest
   * gain, and the better one a constraint stopped. Null when the unit cannot move at all (moved, no host).
   */
  evaluate(members: ArrayLike<number>, budget: number): Evaluation | null {
    const f = this.f;
    const k = members.length;
    const first = members[0]!;
    const from = this.host[first]!;
    if (from < 0) return null;
    let sumV = 0;
    let sumM = 0;
    let fixed: PlacementConstraint | null = null;
    let oneHost = true;
    const tick = ++this.tick;
    const seenAa = new Set<number>();
    for (let i = 0; i < k; i++) {
      const m = members[i]!;
      if (this.moved[m] === 1 || this.host[m]! < 0) return null;
      if (this.host[m] !== from) oneHost = false;
      this.mark[m] = tick;
      sumV += f.vcpus[m]!;
      sumM += f.memoryMb[m]!;
      if (f.pinned[m] === 1) fixed ??= 'pinned';
      if (f.sized[m] === 0) fixed ??= 'size_unknown';
      const g = f.antiAffinity[m]!;
      // Two members of one anti-affinity group would share the host they move to.
      if (g >= 0) {
        if (seenAa.has(g)) fixed ??= 'anti_affinity';
        seenAa.add(g);
      }
    }
    if (k > budget) fixed ??= 'move_budget';
    const w = this.hostWeight;
    const touched: number[] = [];
    // Traffic each member keeps with its own host (lost by moving) and the pair traffic a move would join.
    let lost = 0;
    let joined = 0;
    const tiered = f.tiers !== null;
    for (let i = 0; i < k; i++) {
      const m = members[i]!;
      const hm = this.host[m]!;
      for (let j = f.adjStart[m]!; j < f.adjStart[m + 1]!; j++) {
        const x = f.adjTo[j]!;
        const h = this.host[x]!;
        if (this.mark[x] === tick) {
          if (h !== hm) joined += (f.adjWeight[j]! * (tiered ? hostDistance(f, hm, h) : 1)) / 2;
          continue;
        }
        // With tiers, `lost` is the members' cost now; a target's gain subtracts their cost there.
        if (tiered) lost -= f.adjWeight[j]! * hostDistance(f, hm, h);
        else if (h === hm) lost += f.adjWeight[j]!;
        if (w[h] === 0) touched.push(h);
        w[h]! += f.adjWeight[j]!;
      }
    }
    const out: Evaluation = { to: -1, gain: 0, blockedTo: -1, blockedGain: 0, constraint: null };
    let bestTo = -1;
    let bestGain = EPS;
    /** Whether h became the feasible target; `known` is h's gain when the caller has it already. */
    const consider = (h: number, known = Number.NaN): boolean => {
      // A target that is one member's host is a smaller move, which that member's own unit covers.
      if (oneHost ? h === from : isMemberHost(this.host, members, h)) return false;
      const gain = !Number.isNaN(known) ? known : tiered ? this.tieredGain(h, touched) - lost + joined : w[h]! - lost + joined;
      if (gain <= EPS) return false;
      if (gain > bestGain || (gain === bestGain && h < bestTo)) {
        bestGain = gain;
        bestTo = h;
      }
      if (gain > out.gain || (gain === out.gain && h < out.to)) {
        const c = fixed ?? this.constraintOn(members, h, sumV, sumM);
        if (c === null) {
          out.to = h;
          out.gain = gain;
          return true;
        }
      }
      return false;
    };
    for (const h of touched) consider(h);
    if (tiered) {
      // A host full of a VM's peers can still have a neighbour in their rack (or zone) with room.
      const t = f.tiers!;
      const seen = ++this.hostTick;
      for (const h of touched) this.hostMark[h] = seen;
      for (const h of touched) {
        const hood = t.neighbourhoodOf[h]!;
        if (hood < 0 || this.hoodMark[hood] === seen) continue;
        this.hoodMark[hood] = seen;
        // The hosts of a rack (or of a zone without racks) that hold no peer are all as far from every peer,
        // so they share one gain: priced once, and the first (smallest) feasible one is the rack's candidate.
        let gain = Number.NaN;
        for (const g of t.neighbourhoods[hood]!) {
          if (this.hostMark[g] === seen) continue;
          if (Number.isNaN(gain)) gain = this.tieredGain(g, touched) - lost + joined;
          if (gain <= EPS || consider(g, gain)) break;
          // Only a feasible host can beat the best feasible move; a smaller gain cannot.
          if (gain < out.gain) break;
        }
      }
      if (!oneHost) for (const h of this.roomyHosts()) if (this.hostMark[h] !== seen) consider(h);
    } else if (!oneHost) for (const h of this.roomyHosts()) if (w[h] === 0) consider(h);
    for (const h of touched) w[h] = 0;
    if (bestTo >= 0 && bestGain > out.gain + EPS) {
      out.blockedTo = bestTo;
      out.blockedGain = bestGain;
      out.constraint = fixed ?? this.constraintOn(members, bestTo, sumV, sumM);
    }
    return out;
  }

  /** With tiers: the cost the members' outside traffic (per host in `hostWeight`) would have on host h. */
  private tieredGain(h: number, touched: readonly number[]): number {
    let cost = 0;
    for (const t of touched) cost += this.hostWeight[t]! * hostDistance(this.f, h, t);
    return -cost;
  }

  apply(members: ArrayLike<number>, to: number): void {
    for (let i = 0; i < members.length; i++) this.relocate(members[i]!, to);
  }

  /**
   * Puts VM m on host `to`, wherever it is now; it counts as moved while it is off its original host, so
   * that the improvement phase (improve.ts) can retarget or undo a move.
   */
  relocate(m: number, to: number): void {
    const f = this.f;
    const from = this.host[m]!;
    this.loadVcpus[from]! -= f.vcpus[m]!;
    this.loadMemoryMb[from]! -= f.memoryMb[m]!;
    this.loadVcpus[to]! += f.vcpus[m]!;
    this.loadMemoryMb[to]! += f.memoryMb[m]!;
    const g = f.antiAffinity[m]!;
    if (g >= 0) {
      this.bumpAa(from, g, -1);
      this.bumpAa(to, g, 1);
    }
    this.host[m] = to;
    this.moved[m] = to === f.hostOf[m] ? 0 : 1;
    this.roomyStale = true;
  }
}

export function greedyPlan(f: PlacementFleet, groups: Int32Array | null, strategy: PlacementStrategy, maxMoves: number): Plan {
  const units = buildUnits(f, groups, strategy !== 'single', strategy === 'pairs', maxMoves);
  const unitCount = units.group.length;
  const state = new PlacementState(f);
  const version = new Int32Array(unitCount);
  const waiting: number[][] = Array.from({ length: f.hostIds.length }, () => []);
  const heap = new UnitHeap();
  const steps: PlanStep[] = [];
  let budget = maxMoves;
  const membersOf = (u: number): Int32Array => units.members.subarray(units.start[u]!, units.start[u + 1]!);
  const score = (u: number, gain: number): number =>
    strategy === 'group-density' ? gain / (units.start[u + 1]! - units.start[u]!) : gain;
  const consider = (u: number): void => {
    const e = state.evaluate(membersOf(u), Number.POSITIVE_INFINITY);
    if (e === null) return;
    if (e.to >= 0) heap.push(score(u, e.gain), u, version[u]!);
    // A unit kept from its best target by that host's load may fit once a VM leaves it.
    if (e.blockedTo >= 0 && (e.constraint === 'vcpus' || e.constraint === 'memory_mb' || e.constraint === 'host_over_capacity' || e.constraint === 'anti_affinity'))
      waiting[e.blockedTo]!.push(u);
  };
  if (maxMoves > 0) for (let u = 0; u < unitCount; u++) consider(u);
  let saved = 0;
  let stepCount = 0;
  while (budget > 0 && heap.size > 0) {
    const top = heap.pop();
    const u = top.unit;
    if (top.version !== version[u]) continue;
    const members = membersOf(u);
    if (members.length > budget) continue;
    const e = state.evaluate(members, budget);
    if (e === null || e.to < 0) continue;
    const s = score(u, e.gain);
    if (s < top.score - EPS && s < heap.peekScore()) {
      heap.push(s, u, version[u]!);
      continue;
    }
    const froms = new Set(Array.from(members, (m) => state.host[m]!));
    budget -= members.length;
    saved += e.gain;
    const better = e.blockedTo >= 0 && e.constraint !== null ? { to: e.blockedTo, gain: e.blockedGain, constraint: e.constraint } : null;
    const step = stepCount++;
    // Members of one host move as one; a pair from two hosts as two moves of one step, each with its own gain.
    for (const from of froms) {
      const part = Array.from(members).filter((m) => state.host[m] === from);
      let gain = e.gain;
      if (froms.size > 1) {
        gain = 0;
        for (const m of part) {
          gain += state.singleGain(m, e.to);
          state.apply([m], e.to);
        }
      } else state.apply(part, e.to);
      steps.push({
        step,
        members: part,
        group: units.group[u]!,
        from,
        to: e.to,
        gain,
        better,
        fromLoad: [state.loadVcpus[from]!, state.loadMemoryMb[from]!],
        toLoad: [state.loadVcpus[e.to]!, state.loadMemoryMb[e.to]!],
      });
    }

    const again = new Set<number>();
    for (const m of members)
      for (let j = f.adjStart[m]!; j < f.adjStart[m + 1]!; j++) {
        const x = f.adjTo[j]!;
        if (state.moved[x] === 1) continue;
        again.add(x);
        const gu = units.groupUnitOf[x]!;
        if (gu >= 0) again.add(gu);
        for (const pu of units.pairUnitsOf.get(x) ?? []) again.add(pu);
      }
    for (const h of froms) {
      for (const w of waiting[h]!) again.add(w);
      waiting[h] = [];
    }

    for (const x of again) {
      version[x]!++;
      consider(x);
    }
  }
  return {
    strategy,
    steps,
    host: state.host,
    saved,
    migrations: maxMoves - budget,
    loadVcpus: state.loadVcpus,
    loadMemoryMb: state.loadMemoryMb,
  };
}

/**
 * The most valuable moves of single VMs that a constraint stopped in the final placement (or the move
 * budget, when one was still feasible), most gain first.
 */
export function blockedMoves(
  f: PlacementFleet,
  plan: Plan,
  limit: number,
): Array<{ vm: number; to: number; gain: number; constraint: PlacementConstraint }> {
  const state = new PlacementState(f);
  // Replay the plan so that loads and anti-affinity counts are the final ones.
  for (const s of plan.steps) state.apply(s.members, s.to);
  const out: Array<{ vm: number; to: number; gain: number; constraint: PlacementConstraint }> = [];
  for (let v = 0; v < f.vmCount; v++) {
    if (state.moved[v] === 1) continue;
    const e = state.evaluate([v], Number.POSITIVE_INFINITY);
    if (e === null) continue;
    if (e.blockedTo >= 0 && e.constraint !== null) out.push({ vm: v, to: e.blockedTo, gain: e.blockedGain, constraint: e.constraint });
    // A feasible move the greedy left is one the budget had no room for.
    else if (e.to >= 0) out.push({ vm: v, to: e.to, gain: e.gain, constraint: 'move_budget' });
  }
  out.sort((a, b) => b.gain - a.gain || a.vm - b.vm);
  return out.slice(0, limit);
}
