/**
 * Flows held for VM attributes that may still come (docs/exporters.md "Late attributes"). The topics are
 * consumed each on its own, so the attributes that give a new VM its address can reach the service after the
 * first flows of that VM, though their event time is earlier. A flow naming no VM with an end whose address
 * no claim covers waits here, bounded, until a claim for that address arrives or the watermark is about to
 * pass its event time by the allowed lateness (after which it could no longer be applied). Pure: the
 * pipeline decides what to hold and applies what comes out.
 */
import type { FlowRecord } from '../contract/records.ts';
import type { AddressMap } from './address-map.ts';

/** A flow as it came (both VM ends null) and what a rejection of it needs later: its text and its place. */
export interface HeldFlow {
  flow: FlowRecord;
  /** The record's text as a rejection keeps it (pipeline `keepRaw`). */
  raw: string;
  index: number | null;
  topic: string;
  source: string;
  /** Ends attributed when it arrived, so that those a late claim adds are counted (`endsAttributedLate`). */
  endsFound: number;
}

export interface HeldFlowsConfig {
  /** Flows held at most; one more is refused (counted) and applied as it resolves at once. */
  maxFlows: number;
  /** Estimated bytes held at most (`heldFlowBytes`), the same way. */
  maxBytes: number;
}

export const DEFAULT_MAX_HELD_FLOWS = 100_000;
export const DEFAULT_MAX_HELD_FLOW_BYTES = 64 * 1024 * 1024;

export interface HeldFlowCounters {
  /** Flows that entered the hold (a flow held again after a claim for one of its ends counts once). */
  held: number;
  /** Flows not held because a cap was reached: applied at once, their unknown ends counted as such. */
  refused: number;
  /** Flow ends attributed by a claim that arrived while their flow was held. */
  endsAttributedLate: number;
  /** Held flows released when the watermark was about to leave them too late (or at the end of a replay). */
  expired: number;
}

export interface HeldFlowsState {
  /** In arrival order. */
  flows: HeldFlow[];
  counters: HeldFlowCounters;
}

export function emptyHeldFlowCounters(): HeldFlowCounters {
  return { held: 0, refused: 0, endsAttributedLate: 0, expired: 0 };
}

/** What a held flow costs in memory, roughly: the record's fields and strings, and its kept text. */
export function heldFlowBytes(h: HeldFlow): number {
  return 400 + 2 * (h.raw.length + h.flow.srcIp.length + h.flow.dstIp.length + h.topic.length + h.source.length);
}

export class HeldFlows {
  /** The held flows by each of their addresses, so that a claim finds the flows it may resolve. */
  private readonly byAddress = new Map<string, Set<HeldFlow>>();
  private heldBytes = 0;
  /**
   * Every held flow's entry by event time, a binary min-heap: expiring the oldest must not scan all that is
   * held (it did, once per flow, and cost a third of ingest on address-only traffic). A flow taken out by
   * address leaves its entry behind; `arrival` tells a live entry from a stale one.
   */
  private readonly byTime: Array<{ ts: number; arrival: number; h: HeldFlow }> = [];
  /**
   * The held flows in arrival order (a Map keeps it and removes in O(1)), each with its arrival number: the
   * mark of its live heap entry.
   */
  private readonly arrivals = new Map<HeldFlow, number>();
  private nextArrival = 0;
  readonly counters: HeldFlowCounters = emptyHeldFlowCounters();

  constructor(readonly config: HeldFlowsConfig) {}

  get size(): number {
    return this.arrivals.size;
  }

  get bytes(): number {
    return this.heldBytes;
  }

  /** Holds `h`; false, holding nothing, when a cap would be passed. */
  add(h: HeldFlow): boolean {
    const bytes = heldFlowBytes(h);
    if (this.arrivals.size >= this.config.maxFlows || this.heldBytes + bytes > this.config.maxBytes) return false;
    this.heldBytes += bytes;
    this.index(h.flow.srcIp, h);
    if (h.flow.dstIp !== h.flow.srcIp) this.index(h.flow.dstIp, h);
    const arrival = this.nextArrival++;
    this.arrivals.set(h, arrival);
    this.push({ ts: h.flow.ts, arrival, h });
    return true;
  }

  /**
   * A held flow taken out, resolved again against `map`: held once more while attributes may still claim it
   * (unless `expiring`), and then null; else its ends as they now resolve, counted, for the caller to apply
   * (one process) or route (a member), or to reject when neither end names a VM.
   */
  resolveAgain(h: HeldFlow, map: AddressMap, expiring: boolean): FlowRecord | null {
    const f = { ...h.flow };
    map.resolve(f);
    if (!expiring && map.mayBeClaimedLater(f) && this.add(h)) return null;
    map.countResolved();
    this.counters.endsAttributedLate += (f.srcVm === null ? 0 : 1) + (f.dstVm === null ? 0 : 1) - h.endsFound;
    return f;
  }

  /** Takes out the held flows with `ip` at either end, in arrival order. */
  takeFor(ip: string): HeldFlow[] {
    const set = this.byAddress.get(ip);
    if (set === undefined) return [];
    const out = [...set];
    for (const h of out) this.remove(h);
    return out;
  }

  /** Takes out the held flows with an event time before `before`, in arrival order. */
  takeOlderThan(before: number): HeldFlow[] {
    const out: Array<{ arrival: number; h: HeldFlow }> = [];
    while (this.byTime.length > 0 && this.byTime[0]!.ts < before) {
      const e = this.pop();
      if (this.arrivals.get(e.h) === e.arrival) out.push(e);
    }
    if (out.length === 0) return [];
    out.sort((x, y) => x.arrival - y.arrival);
    for (const e of out) this.remove(e.h);
    return out.map((e) => e.h);
  }

  /** The latest event time held (-Infinity when none): with the watermark, where the hold's time stands. */
  latest(): number {
    let latest = Number.NEGATIVE_INFINITY;
    for (const h of this.arrivals.keys()) if (h.flow.ts > latest) latest = h.flow.ts;
    return latest;
  }

  /** Copies, in arrival order: what a snapshot keeps. */
  exportState(): HeldFlowsState {
    return { flows: [...this.arrivals.keys()].map((h) => ({ ...h, flow: { ...h.flow } })), counters: { ...this.counters } };
  }

  /** Continues from a snapshot's held flows; those beyond this build's caps are returned, to be applied. */
  restore(s: HeldFlowsState): HeldFlow[] {
    Object.assign(this.counters, s.counters);
    const over: HeldFlow[] = [];
    for (const h of s.flows) {
      const copy = { ...h, flow: { ...h.flow } };
      if (!this.add(copy)) over.push(copy);
    }
    return over;
  }

  private index(ip: string, h: HeldFlow): void {
    const set = this.byAddress.get(ip);
    if (set === undefined) this.byAddress.set(ip, new Set([h]));
    else set.add(h);
  }

  private remove(h: HeldFlow): void {
    if (!this.arrivals.delete(h)) return;
    // Stale entries would pile up while flows leave by address; rebuilt from the live ones when they dominate.
    if (this.byTime.length > 64 && this.byTime.length > 4 * this.arrivals.size) this.rebuildHeap();
    this.heldBytes -= heldFlowBytes(h);
    for (const ip of [h.flow.srcIp, h.flow.dstIp]) {
      const set = this.byAddress.get(ip);
      if (set === undefined) continue;
      set.delete(h);
      if (set.size === 0) this.byAddress.delete(ip);
    }
  }

  private rebuildHeap(): void {
    const live = this.byTime.filter((e) => this.arrivals.get(e.h) === e.arrival);
    this.byTime.length = 0;
    for (const e of live) this.push(e);
  }

  private push(e: { ts: number; arrival: number; h: HeldFlow }): void {
    const heap = this.byTime;
    let i = heap.push(e) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!earlier(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  private pop(): { ts: number; arrival: number; h: HeldFlow } {
    const heap = this.byTime;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && earlier(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && earlier(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  }
}

function earlier(a: { ts: number; arrival: number }, b: { ts: number; arrival: number }): boolean {
  return a.ts < b.ts || (a.ts === b.ts && a.arrival < b.arrival);
}
