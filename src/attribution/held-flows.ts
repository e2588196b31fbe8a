/**
 * Flows held for attributes that may still come (docs/exporters.md "Late attributes"): an address-only flow
 * whose private address in a known VPC is not held by any VM yet waits, at most until it would become too
 * late, for the attributes of the VM that holds it. Bounded; pure.
 */
import type { FlowRecord } from '../contract/records.ts';

/** A flow as it came (both VM ends null) and what its rejection would need: the kept text and its place. */
export interface HeldFlow {
  flow: FlowRecord;
  raw: string;
  index: number | null;
  topic: string;
  source: string;
}

export const DEFAULT_MAX_HELD_FLOWS = 100_000;

export class HeldFlows {
  /** In arrival order. */
  private readonly items = new Set<HeldFlow>();
  /** The held flows by each of their addresses, so that a VM's attributes find the flows they resolve. */
  private readonly byAddress = new Map<string, Set<HeldFlow>>();
  /** No held flow is older than this. */
  private earliest = Number.POSITIVE_INFINITY;

  constructor(readonly max: number) {}

  get size(): number {
    return this.items.size;
  }

  /** False, holding nothing, when `max` flows are held. */
  add(h: HeldFlow): boolean {
    if (this.items.size >= this.max) return false;
    this.items.add(h);
    this.index(h.flow.srcIp, h);
    this.index(h.flow.dstIp, h);
    if (h.flow.ts < this.earliest) this.earliest = h.flow.ts;
    return true;
  }

  /** Takes out the held flows with this address. */
  takeFor(ip: string): HeldFlow[] {
    const set = this.byAddress.get(ip);
    if (set === undefined) return [];
    const out = [...set];
    for (const h of out) this.remove(h);
    return out;
  }

  /** Takes out the held flows older than `before`, in arrival order. */
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

  takeAll(): HeldFlow[] {
    return this.takeOlderThan(Number.POSITIVE_INFINITY);
  }

  /** The held flows, in arrival order (copies): what a snapshot keeps. */
  exportState(): HeldFlow[] {
    return [...this.items].map((h) => ({ ...h, flow: { ...h.flow } }));
  }

  private index(ip: string, h: HeldFlow): void {
    const set = this.byAddress.get(ip);
    if (set === undefined) this.byAddress.set(ip, new Set([h]));
    else set.add(h);
  }

  private remove(h: HeldFlow): void {
    this.items.delete(h);
    for (const ip of [h.flow.srcIp, h.flow.dstIp]) {
      const set = this.byAddress.get(ip);
      if (set === undefined) continue;
      set.delete(h);
      if (set.size === 0) this.byAddress.delete(ip);
    }
  }
}
