/**
 * Flows held for VM attributes that may still come (docs/exporters.md "Late attributes"). The topics are
 * consumed each on its own, so the attributes that give a new VM its address can reach the service after the
 * first flows of that VM, though their event time is earlier. A flow naming no VM with an end whose address
 * no claim covers waits here, bounded, until a claim for that address arrives or the watermark is about to
 * pass its event time by the allowed lateness (after which it could no longer be applied). Pure: the
 * pipeline decides what to hold and applies what comes out.
 */
import type { FlowRecord } from '../contract/records.ts';

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
  /** In arrival order (a Set keeps it and removes in O(1)). */
  private readonly items = new Set<HeldFlow>();
  /** The held flows by each of their addresses, so that a claim finds the flows it may resolve. */
  private readonly byAddress = new Map<string, Set<HeldFlow>>();
  private heldBytes = 0;
  /** No held flow is older than this (a lower bound; exact after each `takeOlderThan`). */
  private earliest = Number.POSITIVE_INFINITY;
  readonly counters: HeldFlowCounters = emptyHeldFlowCounters();

  constructor(readonly config: HeldFlowsConfig) {}

  get size(): number {
    return this.items.size;
  }

  get bytes(): number {
    return this.heldBytes;
  }

  /** Holds `h`; false, holding nothing, when a cap would be passed. */
  add(h: HeldFlow): boolean {
    const bytes = heldFlowBytes(h);
    if (this.items.size >= this.config.maxFlows || this.heldBytes + bytes > this.config.maxBytes) return false;
    this.items.add(h);
    this.heldBytes += bytes;
    this.index(h.flow.srcIp, h);
    if (h.flow.dstIp !== h.flow.srcIp) this.index(h.flow.dstIp, h);
    if (h.flow.ts < this.earliest) this.earliest = h.flow.ts;
    return true;
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
    if (!(this.earliest < before)) return [];
    const out: HeldFlow[] = [];
    let earliest = Number.POSITIVE_INFINITY;
    for (const h of this.items) {
      if (h.flow.ts < before) out.push(h);
      else if (h.flow.ts < earliest) earliest = h.flow.ts;
    }
    for (const h of out) this.remove(h);
    this.earliest = earliest;
    return out;
  }

  /** The latest event time held (-Infinity when none): with the watermark, where the hold's time stands. */
  latest(): number {
    let latest = Number.NEGATIVE_INFINITY;
    for (const h of this.items) if (h.flow.ts > latest) latest = h.flow.ts;
    return latest;
  }

  /** Copies, in arrival order: what a snapshot keeps. */
  exportState(): HeldFlowsState {
    return { flows: [...this.items].map((h) => ({ ...h, flow: { ...h.flow } })), counters: { ...this.counters } };
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
    if (!this.items.delete(h)) return;
    this.heldBytes -= heldFlowBytes(h);
    for (const ip of [h.flow.srcIp, h.flow.dstIp]) {
      const set = this.byAddress.get(ip);
      if (set === undefined) continue;
      set.delete(h);
      if (set.size === 0) this.byAddress.delete(ip);
    }
  }
}
