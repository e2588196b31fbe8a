/**
 * The improvement phase: a bounded local search over the placement a greedy plan reaches (greedy.ts).
 * The greedy only ever adds the single best move of a unit; what the exact optimum does beyond it is
 *   - retarget or undo a move once later moves made another host better (the budget counts VMs off their
 *     original host, so a retargeted VM is still one migration),
 *   - evict: move a VM off a full host, even at a small loss, so that a chattier VM fits there,
 *   - swap two VMs between hosts when each is worth more on the other's host,
 *   - trade a move for a better one when the budget is spent (the cheapest moves are undone).
 * Each operation is accepted only when it saves more and the whole move set can still be applied one move
 * at a time within every constraint (`sequence`), so a swap between two full hosts is never suggested.
 * Work is bounded: candidates are the VMs with the most to gain (all of them on small fleets) and the
 * number of accepted operations is capped, so large fleets pay a few passes over those candidates.
 */
import type { PlacementFleet } from './fleet.ts';
import { hostLoads, PlacementState, type Plan, type PlanStep } from './greedy.ts';

const EPS = 1e-9;
/** Best operations kept per pass, tried in order until one passes every constraint. */
const KEPT = 8;
/** Most VMs a gathering operation brings to one host, and the wishes of a pass that try one. */
const GATHERED = 6;
const GATHER_WISHES = 32;

export interface ImproveLimits {
  /** Fleets of at most this many VMs search from every VM; larger ones from the `candidates` most promising. */
  exhaustiveVms: number;
  candidates: number;
  /** Most operations accepted (each saves more than the last state). */
  maxOperations: number;
  /** Most evictions in a chain that makes room for one move. */
  chainDepth: number;
  /** Placements kept by the beam search on fleets of at most `exhaustiveVms` VMs (1: plain local search). */
  beam: number;
  /**
   * The beam runs only while VMs x move budget stays within this: its cost grows with both, and the
   * advice is a stage of every clustering run.
   */
  beamWork: number;
}

export const defaultImproveLimits: ImproveLimits = { exhaustiveVms: 500, candidates: 400, maxOperations: 200, chainDepth: 2, beam: 6, beamWork: 4000 };

interface Operation {
  estimate: number;
  /** Relocations [vm, to host], applied in order. */
  moves: number[];
}

class Search {
  readonly state: PlacementState;
  readonly f: PlacementFleet;
  /** Which VMs sit on each host now, with each VM's position in its host's list. */
  private readonly onHost: number[][];
  private readonly position: Int32Array;
  readonly movedSet = new Set<number>();
  private lastDone: number[] = [];
  private readonly chainWeights: Float64Array[] = [];
  private readonly initialVcpus: Float64Array;
  private readonly initialMemoryMb: Float64Array;
  private readonly initialAa = new Map<number, number>();
  private readonly weightA: Float64Array;
  private readonly weightB: Float64Array;

  constructor(
    f: PlacementFleet,
    start: Int32Array,
    readonly budget: number,
  ) {
    this.f = f;
    this.state = new PlacementState(f);
    const H = f.hostIds.length;
    this.onHost = Array.from({ length: H }, () => []);
    this.position = new Int32Array(f.vmCount).fill(-1);
    const initial = hostLoads(f, f.hostOf);
    this.initialVcpus = initial.vcpus;
    this.initialMemoryMb = initial.memoryMb;
    for (let v = 0; v < f.vmCount; v++) {
      const h = f.hostOf[v]!;
      if (h < 0) continue;
      this.position[v] = this.onHost[h]!.length;
      this.onHost[h]!.push(v);
      const g = f.antiAffinity[v]!;
      if (g >= 0) this.initialAa.set(h * f.antiAffinityGroups + g, (this.initialAa.get(h * f.antiAffinityGroups + g) ?? 0) + 1);
    }
    for (let v = 0; v < f.vmCount; v++) if (start[v] !== f.hostOf[v] && start[v]! >= 0) this.relocate(v, start[v]!);
    this.weightA = new Float64Array(H);
    this.weightB = new Float64Array(H);
  }

  movable(v: number): boolean {
    return this.f.hostOf[v]! >= 0 && this.f.pinned[v] === 0 && this.f.sized[v] === 1;
  }

  relocate(v: number, to: number): void {
    const from = this.state.host[v]!;
    if (from === to) return;
    const list = this.onHost[from]!;
    const last = list.pop()!;
    if (last !== v) {
      list[this.position[v]!] = last;
      this.position[last] = this.position[v]!;
    }
    this.position[v] = this.onHost[to]!.length;
    this.onHost[to]!.push(v);
    this.state.relocate(v, to);
    if (this.state.moved[v] === 1) this.movedSet.add(v);
    else this.movedSet.delete(v);
  }

  /** Traffic of v with the VMs on each host (into `w`), the hosts touched into `touched`; the pair weight with `peer`. */
  private weights(v: number, w: Float64Array, touched: number[], peer: number): number {
    const f = this.f;
    let withPeer = 0;
    for (let j = f.adjStart[v]!; j < f.adjStart[v + 1]!; j++) {
      const x = f.adjTo[j]!;
      const h = this.state.host[x]!;
      if (x === peer) withPeer += f.adjWeight[j]!;
      if (w[h] === 0) touched.push(h);
      w[h]! += f.adjWeight[j]!;
    }
    return withPeer;
  }

  /** Whether v fits on h with `leaving` (or -1) gone from h first: capacity and anti-affinity. */
  private fits(v: number, h: number, leaving: number): boolean {
    const f = this.f;
    const s = this.state;
    const cv = f.capVcpus[h]!;
    const cm = f.capMemoryMb[h]!;
    if (Number.isNaN(cv) || Number.isNaN(cm)) return false;
    const lv = leaving >= 0 ? f.vcpus[leaving]! : 0;
    const lm = leaving >= 0 ? f.memoryMb[leaving]! : 0;
    if (s.loadVcpus[h]! - lv + f.vcpus[v]! > cv + EPS || s.loadMemoryMb[h]! - lm + f.memoryMb[v]! > cm + EPS) return false;
    const g = f.antiAffinity[v]!;
    if (g < 0) return true;
    const others = s.aaOn(h, g) - (leaving >= 0 && f.antiAffinity[leaving] === g ? 1 : 0);
    return others === 0;
  }

  /** Every move of v to a host it talks to that gains (ignoring constraints), into `out` as [gain, v, h]. */
  private wishes(v: number, out: Array<[number, number, number]>): void {
    const A = this.weightA;
    const touched: number[] = [];
    this.weights(v, A, touched, -1);
    const own = this.state.host[v]!;
    const base = A[own]!;
    for (const h of touched) if (h !== own && A[h]! - base > EPS) out.push([A[h]! - base, v, h]);
    for (const h of touched) A[h] = 0;
  }

  /** The operations that bring v to h: directly, by a swap, or by a chain of evictions that makes room. */
  private operationsOf(v: number, h: number, kept: Operation[], depth: number): void {
    const s = this.state;
    const own = s.host[v]!;
    const A = this.weightA;
    const touchedA: number[] = [];
    this.weights(v, A, touchedA, -1);
    const gain = A[h]! - A[own]!;
    if (this.fits(v, h, -1)) keep(kept, { estimate: gain, moves: [v, h] });
    else {
      const B = this.weightB;
      for (const w of this.onHost[h]!) {
        if (w === v || !this.movable(w) || !this.fits(v, h, w)) continue;
        const touchedB: number[] = [];
        const pair = this.weights(w, B, touchedB, v);
        // Swap: w takes v's place.
        if (this.fits(w, own, v)) keep(kept, { estimate: gain - pair + B[own]! - pair - B[h]!, moves: [w, own, v, h] });
        for (const x of touchedB) B[x] = 0;
      }
      const chain = this.makeRoom(h, v, new Set([h, own]), depth);
      if (chain !== null) keep(kept, { estimate: gain - chain.loss, moves: [...chain.moves, v, h] });
    }
    for (const x of touchedA) A[x] = 0;
  }

  /**
   * Brings v to h (the best of operationsOf's ways), then, one at a time, the peer of the VMs brought that
   * gains most by joining them there, up to GATHERED VMs: a group spread over full hosts gains only once
   * several members meet, so its first move may save nothing. Tried on the placement and undone; the
   * prefix that saves most is the operation.
   */
  private gather(v: number, h: number, depth: number): Operation | null {
    const f = this.f;
    const s = this.state;
    const done: number[] = [];
    let delta = 0;
    let best: Operation | null = null;
    const brought = [v];
    const inSet = new Set(brought);
    for (let k = 0; k < GATHERED; k++) {
      const x = brought[k];
      if (x === undefined) break;
      const ways: Operation[] = [];
      this.operationsOf(x, h, ways, depth);
      const way = ways[0];
      if (way === undefined) break;
      for (let i = 0; i < way.moves.length; i += 2) {
        const m = way.moves[i]!;
        delta += s.singleGain(m, way.moves[i + 1]!);
        done.push(m, s.host[m]!);
        this.relocate(m, way.moves[i + 1]!);
      }
      const worth = delta - this.budgetPenalty(done);
      if (worth > EPS && (best === null || worth > best.estimate + EPS)) best = { estimate: worth, moves: movesOf(done, s.host) };
      // The next: the peer of the brought VMs that gains most on h now.
      let next = -1;
      let nextGain = EPS;
      for (const y of brought)
        for (let j = f.adjStart[y]!; j < f.adjStart[y + 1]!; j++) {
          const z = f.adjTo[j]!;
          if (inSet.has(z) || s.host[z] === h || !this.movable(z)) continue;
          const g = s.singleGain(z, h);
          if (g > nextGain) {
            nextGain = g;
            next = z;
          }
        }
      if (next < 0) break;
      brought.push(next);
      inSet.add(next);
    }
    for (let i = done.length - 2; i >= 0; i -= 2) this.relocate(done[i]!, done[i + 1]!);
    return best;
  }

  /**
   * The cheapest way to fit `incoming` on h by moving one VM off it: to a host with room, or (depth > 1) to
   * one where a further eviction makes room. Moves in the order to apply them, and the traffic they lose.
   */
  private makeRoom(h: number, incoming: number, used: Set<number>, depth: number): { moves: number[]; loss: number } | null {
    const f = this.f;
    const s = this.state;
    let best: { moves: number[]; loss: number } | null = null;
    // One scratch array per level of the chain.
    let B = this.chainWeights[depth];
    if (B === undefined) {
      B = new Float64Array(f.hostIds.length);
      this.chainWeights[depth] = B;
    }
    for (const w of this.onHost[h]!) {
      if (w === incoming || !this.movable(w) || !this.fits(incoming, h, w)) continue;
      const touched: number[] = [];
      // Traffic w has with `incoming` is lost too: they would have shared h.
      const pair = this.weights(w, B, touched, incoming);
      // Hosts w talks to, its home, and the roomiest: any other host gains w nothing, so a roomy one serves.
      const targets = new Set<number>(touched);
      if (s.host[w] !== f.hostOf[w]) targets.add(f.hostOf[w]!);
      for (const r of s.roomyHosts()) targets.add(r);
      for (const h2 of targets) {
        if (used.has(h2)) continue;
        const loss = B[h]! - B[h2]! + pair;
        if (best !== null && loss >= best.loss) continue;
        if (this.fits(w, h2, -1)) best = { moves: [w, h2], loss };
        else if (depth > 1 && B[h2]! > 0) {
          used.add(h2);
          const deeper = this.makeRoom(h2, w, used, depth - 1);
          used.delete(h2);
          if (deeper !== null && (best === null || loss + deeper.loss < best.loss)) best = { moves: [...deeper.moves, w, h2], loss: loss + deeper.loss };
        }
      }
      for (const x of touched) B[x] = 0;
    }
    return best;
  }

  /** What undoing the cheapest moves not in `done` costs, to bring the moves back within the budget. */
  private budgetPenalty(done: number[]): number {
    const excess = this.movedSet.size - this.budget;
    if (excess <= 0) return 0;
    const mine = new Set<number>();
    for (let i = 0; i < done.length; i += 2) mine.add(done[i]!);
    const losses = [...this.movedSet].filter((u) => !mine.has(u) && this.fits(u, this.f.hostOf[u]!, -1)).map((u) => -this.state.singleGain(u, this.f.hostOf[u]!));
    if (losses.length < excess) return Number.POSITIVE_INFINITY;
    losses.sort((a, b) => a - b);
    let sum = 0;
    for (let i = 0; i < excess; i++) sum += losses[i]!;
    return sum;
  }

  /**
   * Applies an operation when it saves more and the move set stays within every constraint and the budget
   * (undoing the cheapest other moves when it would exceed it); otherwise leaves the placement as it was.
   */
  tryApply(op: Operation, commit: boolean): number {
    const f = this.f;
    const s = this.state;
    const done: number[] = [];
    let delta = 0;
    const move = (v: number, to: number): void => {
      delta += s.singleGain(v, to);
      done.push(v, s.host[v]!);
      this.relocate(v, to);
    };
    const inOp = new Set<number>();
    for (let i = 0; i < op.moves.length; i += 2) {
      inOp.add(op.moves[i]!);
      move(op.moves[i]!, op.moves[i + 1]!);
    }
    let excess = this.movedSet.size - this.budget;
    if (excess > 0) {
      // The moves that lose least by going home make room in the budget.
      const undo = [...this.movedSet]
        .filter((u) => !inOp.has(u))
        .map((u) => ({ u, loss: -s.singleGain(u, f.hostOf[u]!) }))
        .sort((a, b) => a.loss - b.loss || a.u - b.u);
      for (const { u } of undo) {
        if (excess <= 0) break;
        // A move whose home has filled up meanwhile stays.
        if (!this.fits(u, f.hostOf[u]!, -1)) continue;
        move(u, f.hostOf[u]!);
        excess--;
      }
    }
    const ok = delta > EPS && excess <= 0 && this.withinConstraints(done) && this.sequence() !== null;
    this.lastDone = done;
    if (ok && commit) return delta;
    this.revertLast();
    return ok ? delta : 0;
  }

  /** Undoes the relocations of the last tryApply. */
  revertLast(): void {
    const done = this.lastDone;
    for (let i = done.length - 2; i >= 0; i -= 2) this.relocate(done[i]!, done[i + 1]!);
    this.lastDone = [];
  }

  /** Capacity and anti-affinity on the hosts the relocations in `done` reached. */
  private withinConstraints(done: number[]): boolean {
    const f = this.f;
    const s = this.state;
    for (let i = 0; i < done.length; i += 2) {
      const v = done[i]!;
      const h = s.host[v]!;
      if (h === f.hostOf[v]) continue;
      if (Number.isNaN(f.capVcpus[h]!) || s.loadVcpus[h]! > f.capVcpus[h]! + EPS || s.loadMemoryMb[h]! > f.capMemoryMb[h]! + EPS) return false;
      const g = f.antiAffinity[v]!;
      if (g >= 0 && s.aaOn(h, g) > 1) return false;
    }
    return true;
  }

  /**
   * An order in which the moves can be applied one at a time within capacity and anti-affinity, or null.
   * Taking any feasible move first never blocks another: an arrival only fills its own host, whose
   * departures do not depend on it, so trying until none is feasible decides it.
   */
  sequence(): number[] | null {
    const f = this.f;
    const G = f.antiAffinityGroups;
    const dv = new Map<number, number>();
    const dm = new Map<number, number>();
    const aa = new Map<number, number>();
    const pending = [...this.movedSet].sort((a, b) => a - b);
    const order: number[] = [];
    while (pending.length > 0) {
      let progressed = false;
      for (let i = 0; i < pending.length; i++) {
        const v = pending[i]!;
        const to = this.state.host[v]!;
        const from = f.hostOf[v]!;
        const lv = this.initialVcpus[to]! + (dv.get(to) ?? 0);
        const lm = this.initialMemoryMb[to]! + (dm.get(to) ?? 0);
        if (Number.isNaN(f.capVcpus[to]!) || lv > f.capVcpus[to]! + EPS || lm > f.capMemoryMb[to]! + EPS) continue;
        if (lv + f.vcpus[v]! > f.capVcpus[to]! + EPS || lm + f.memoryMb[v]! > f.capMemoryMb[to]! + EPS) continue;
        const g = f.antiAffinity[v]!;
        if (g >= 0 && (this.initialAa.get(to * G + g) ?? 0) + (aa.get(to * G + g) ?? 0) > 0) continue;
        dv.set(to, (dv.get(to) ?? 0) + f.vcpus[v]!);
        dm.set(to, (dm.get(to) ?? 0) + f.memoryMb[v]!);
        dv.set(from, (dv.get(from) ?? 0) - f.vcpus[v]!);
        dm.set(from, (dm.get(from) ?? 0) - f.memoryMb[v]!);
        if (g >= 0) {
          aa.set(to * G + g, (aa.get(to * G + g) ?? 0) + 1);
          aa.set(from * G + g, (aa.get(from * G + g) ?? 0) - 1);
        }
        order.push(v);
        pending.splice(i, 1);
        i--;
        progressed = true;
      }
      if (!progressed) return null;
    }
    return order;
  }

  /** The most promising operations from the candidates, by estimate. */
  operations(candidates: Iterable<number>, depth: number): Operation[] {
    const kept: Operation[] = [];
    const wishes: Array<[number, number, number]> = [];
    for (const v of candidates) if (this.movable(v)) this.wishes(v, wishes);
    wishes.sort((a, b) => b[0] - a[0] || a[1] - b[1] || a[2] - b[2]);
    for (const [gain, v, h] of wishes) {
      // Making room costs traffic, so a wish below the kept operations cannot beat them.
      if (kept.length === KEPT && gain <= kept[KEPT - 1]!.estimate) break;
      this.operationsOf(v, h, kept, depth);
    }
    // Gathering can save more than its first move promises, so the most promising wishes try it whatever
    // the kept operations save.
    for (const [, v, h] of wishes.slice(0, GATHER_WISHES)) {
      const op = this.gather(v, h, depth);
      if (op !== null) keep(kept, op);
    }
    return kept;
  }

  /** One pass: every kept operation tried, and the one that saves most applied. */
  pass(candidates: Iterable<number>, depth: number): Operation | null {
    // Estimates of chains are rough, so each is measured.
    let best: Operation | null = null;
    let bestDelta = EPS;
    for (const op of this.operations(candidates, depth)) {
      const d = this.tryApply(op, false);
      if (d > bestDelta) {
        bestDelta = d;
        best = op;
      }
    }
    if (best !== null) this.tryApply(best, true);
    return best;
  }
}

/** Keeps the KEPT operations with the largest estimate, largest first (ties: the earlier found). */
function keep(kept: Operation[], op: Operation): void {
  if (op.estimate <= EPS) return;
  if (kept.length === KEPT && op.estimate <= kept[KEPT - 1]!.estimate) return;
  let i = kept.length < KEPT ? kept.length : KEPT - 1;
  kept[i] = op;
  while (i > 0 && kept[i - 1]!.estimate < op.estimate) {
    kept[i] = kept[i - 1]!;
    kept[i - 1] = op;
    i--;
  }
}

/** The relocations [vm, to] that `done` ([vm, from] in order) made, each VM once, where it is now. */
function movesOf(done: number[], host: Int32Array): number[] {
  const seen = new Set<number>();
  const out: number[] = [];
  for (let i = 0; i < done.length; i += 2) {
    const v = done[i]!;
    if (seen.has(v)) continue;
    seen.add(v);
    out.push(v, host[v]!);
  }
  return out;
}

/** What a VM could gain by moving alone to the host it talks to most, ignoring every constraint. */
function potential(f: PlacementFleet, host: Int32Array, v: number, w: Float64Array): number {
  const touched: number[] = [];
  for (let j = f.adjStart[v]!; j < f.adjStart[v + 1]!; j++) {
    const h = host[f.adjTo[j]!]!;
    if (w[h] === 0) touched.push(h);
    w[h]! += f.adjWeight[j]!;
  }
  const own = w[host[v]!]!;
  let best = 0;
  for (const h of touched) {
    if (h !== host[v]) best = Math.max(best, w[h]! - own);
    w[h] = 0;
  }
  return best;
}

/**
 * The plan improved by local search, or the plan itself when no operation saves more. The improved plan's
 * moves are the final placement's, in an order that keeps every constraint after each move, the move with
 * the largest gain first; a move that saves nothing by itself (an eviction) shares the step of the move it
 * makes room for.
 */
export function improvePlan(f: PlacementFleet, plan: Plan, maxMoves: number, limits: ImproveLimits = defaultImproveLimits): Plan {
  if (maxMoves <= 0) return plan;
  const search = new Search(f, plan.host, maxMoves);
  let candidates: number[];
  if (f.vmCount <= limits.exhaustiveVms) candidates = Array.from({ length: f.vmCount }, (_, v) => v);
  else {
    const scratch = new Float64Array(f.hostIds.length);
    const scored: Array<[number, number]> = [];
    for (let v = 0; v < f.vmCount; v++) {
      if (!search.movable(v)) continue;
      const p = potential(f, search.state.host, v, scratch);
      if (p > EPS) scored.push([p, v]);
    }
    scored.sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    const chosen = new Set(scored.slice(0, limits.candidates).map((x) => x[1]));
    for (const v of search.movedSet) {
      chosen.add(v);
      for (let j = f.adjStart[v]!; j < f.adjStart[v + 1]!; j++) chosen.add(f.adjTo[j]!);
    }
    candidates = [...chosen].sort((a, b) => a - b);
  }
  const beam = f.vmCount <= limits.exhaustiveVms && limits.beam > 1 && f.vmCount * maxMoves <= limits.beamWork;
  const target = beam ? beamSearch(f, plan.host, maxMoves, candidates, limits) : localSearch(search, candidates, limits);
  if (target === null) return plan;
  const order = new Search(f, target, maxMoves).sequence();
  return order === null ? plan : planOf(f, target, plan.strategy, order);
}

/** Best improvement first until none saves more; the final placement, or null when nothing improved. */
function localSearch(search: Search, candidates: number[], limits: ImproveLimits): Int32Array | null {
  let accepted = 0;
  while (accepted < limits.maxOperations && search.pass(candidates, limits.chainDepth) !== null) accepted++;
  return accepted === 0 ? null : search.state.host;
}

/**
 * On small fleets: a beam of the `beam` best placements, each extended by every kept operation, for as
 * long as some extension saves more; the best placement seen, or null when nothing improved. A greedy
 * sequence of operations commits to the first that saves most, which can spend the budget a better
 * combination needed; the beam keeps the runners-up.
 */
function beamSearch(f: PlacementFleet, start: Int32Array, maxMoves: number, candidates: number[], limits: ImproveLimits): Int32Array | null {
  let beam: Array<{ host: Int32Array; saved: number }> = [{ host: start.slice(), saved: 0 }];
  let best: { host: Int32Array; saved: number } | null = null;
  for (let round = 0; round < limits.maxOperations && beam.length > 0; round++) {
    const next = new Map<string, { host: Int32Array; saved: number }>();
    for (const state of beam) {
      const search = new Search(f, state.host, maxMoves);
      for (const op of search.operations(candidates, limits.chainDepth)) {
        const d = search.tryApply(op, true);
        if (d <= 0) continue;
        const key = [...search.movedSet]
          .sort((a, b) => a - b)
          .map((v) => `${v}:${search.state.host[v]}`)
          .join(',');
        if (!next.has(key)) next.set(key, { host: search.state.host.slice(), saved: state.saved + d });
        search.revertLast();
      }
    }
    beam = [...next.values()].sort((a, b) => b.saved - a.saved).slice(0, limits.beam);
    if (beam.length > 0 && (best === null || beam[0]!.saved > best.saved + EPS)) best = beam[0]!;
  }
  return best === null ? null : best.host;
}

/** The plan that reaches `target` by moving the VMs of `order` (a feasible order), best gain first. */
function planOf(f: PlacementFleet, target: Int32Array, strategy: Plan['strategy'], order: number[]): Plan {
  const s = new PlacementState(f);
  const pending = [...order];
  const steps: PlanStep[] = [];
  let saved = 0;
  let step = -1;
  let stepGain = 0;
  while (pending.length > 0) {
    let pick = -1;
    let pickGain = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < pending.length; i++) {
      const v = pending[i]!;
      const to = target[v]!;
      if (s.constraintOn([v], to, f.vcpus[v]!, f.memoryMb[v]!) !== null) continue;
      const g = s.singleGain(v, to);
      if (g > pickGain + EPS) {
        pick = i;
        pickGain = g;
      }
    }
    // `order` is feasible, so some move always is; following it keeps the plan valid whatever happens.
    if (pick < 0) pick = pending.indexOf(order.find((v) => pending.includes(v))!);
    const v = pending[pick]!;
    pending.splice(pick, 1);
    const from = s.host[v]!;
    const to = target[v]!;
    const gain = s.singleGain(v, to);
    const e = s.evaluate([v], Number.POSITIVE_INFINITY);
    const better = e !== null && e.blockedTo >= 0 && e.constraint !== null && e.blockedGain > gain + EPS ? { to: e.blockedTo, gain: e.blockedGain, constraint: e.constraint } : null;
    s.relocate(v, to);
    // A move that saves nothing by itself makes room for the next: one decision.
    if (step < 0 || stepGain > EPS) {
      step++;
      stepGain = 0;
    }
    stepGain += gain;
    saved += gain;
    steps.push({
      step,
      members: [v],
      group: -1,
      from,
      to,
      gain,
      better,
      fromLoad: [s.loadVcpus[from]!, s.loadMemoryMb[from]!],
      toLoad: [s.loadVcpus[to]!, s.loadMemoryMb[to]!],
    });
  }
  return { strategy, steps, host: s.host, saved, migrations: order.length, loadVcpus: s.loadVcpus, loadMemoryMb: s.loadMemoryMb };
}

/**
 * An order that applies the moves from the fleet's placement to `target` one at a time within every
 * constraint, or null when none does (e.g. a swap between two full hosts). For the cross-check, which
 * compares the advice with an optimum that only constrains the final placement.
 */
export function moveOrder(f: PlacementFleet, target: Int32Array): number[] | null {
  return new Search(f, target, Number.POSITIVE_INFINITY).sequence();
}
