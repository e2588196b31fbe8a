/**
 * The input stage's one definition of what happens to a decoded flow before it reaches the windows:
 * attribution of address-only ends, the hold for late VM attributes, the future bound, and counting every
 * rejection by reason. The single process (Pipeline, which then applies to its fleet) and a scale-out
 * member's route (Router, which then routes to the by-VM topic) extend it, so the two paths cannot drift
 * apart: they differ only in where event time stands and where an accepted flow goes.
 */
import type { AddressMap } from '../attribution/address-map.ts';
import { DEFAULT_MAX_HELD_FLOW_BYTES, DEFAULT_MAX_HELD_FLOWS, type HeldFlow, HeldFlows } from '../attribution/held-flows.ts';
import type { FlowRecord } from '../contract/records.ts';
import { type RejectedRecord, type Rejection, RejectionCounter, rejection } from '../contract/rejections.ts';
import type { WindowConfig } from '../windows/window-config.ts';
import { defaultFutureBoundConfig, FutureBound, type FutureBoundConfig } from './future-bound.ts';

/** What the input stage reads of the pipeline's configuration. */
export interface InputStageConfig {
  window: WindowConfig;
  future?: FutureBoundConfig;
  maxHeldFlows?: number;
  maxHeldFlowBytes?: number;
}

export type RejectHandler = (r: RejectedRecord) => void;

/** Rejected text kept per record is capped: enough to diagnose, not enough to exhaust memory or disk. */
export const MAX_RAW_KEPT = 16 * 1024;

export abstract class InputStage {
  readonly rejections = new RejectionCounter();
  readonly recordsIn = { flows: 0, vmAttributes: 0, tenantAttributes: 0 };
  /** Rejects records too far ahead of now before they reach the windows (docs/event-time.md). */
  readonly future: FutureBound;
  /** Address-only flows waiting, at most until they would be too late, for the attributes of their VMs. */
  readonly held: HeldFlows;
  /** The latest event time among the flows held: with the watermark, where the input's time stands. */
  protected heldFront = Number.NEGATIVE_INFINITY;
  /** True once the held set changed: a member's route writes it again with its transaction. */
  protected heldChanged = false;
  /** Where the record being decoded came from, for its rejection; a held flow brings back its own. */
  protected context = { topic: '', source: '' };

  protected constructor(
    config: InputStageConfig,
    private readonly onReject: RejectHandler,
  ) {
    this.future = new FutureBound(config.future ?? defaultFutureBoundConfig, config.window.windowMs);
    this.held = new HeldFlows({ maxFlows: config.maxHeldFlows ?? DEFAULT_MAX_HELD_FLOWS, maxBytes: config.maxHeldFlowBytes ?? DEFAULT_MAX_HELD_FLOW_BYTES });
  }

  /** The event time that judges records: the fleet's watermark in one process, the router's in a member. */
  protected abstract get watermark(): number;
  /** The address map that attributes flow ends. */
  protected abstract get map(): AddressMap;
  /** The allowed lateness of event time. */
  protected abstract get allowedLatenessMs(): number;
  /** A flow that passed the future bound, on to the windows (applied, or routed by VM). */
  protected abstract accept(f: FlowRecord, raw: unknown, index: number | null): void;

  /** A decoded flow: attributed, held for late attributes, or judged and accepted. */
  protected intakeFlow(f: FlowRecord, raw: unknown, index: number | null): void {
    const map = this.map;
    const addressOnly = f.srcVm === null && f.dstVm === null;
    map.resolve(f);
    if (addressOnly && map.mayBeClaimedLater(f) && this.hold(f, raw, index)) return;
    map.countResolved();
    // Neither end named nor attributed: no VM to count it for, rejected as the decoder did before
    // attribution existed (so not counted among the records decoded either).
    if (f.srcVm === null && f.dstVm === null) {
      this.reject(rejection('missing_vm', 'src_vm'), index, raw);
      return;
    }
    this.recordsIn.flows++;
    const refused = this.future.checkFlow(f, this.watermark);
    if (refused) {
      this.reject(refused, index, raw);
      return;
    }
    // Held flows the watermark is about to leave too late go first, while they can still be applied.
    if (this.held.size > 0) this.expireHeld(f.ts - this.allowedLatenessMs);
    this.accept(f, raw, index);
  }

  /**
   * Holds an address-only flow with an end that attributes still to come may claim (docs/exporters.md
   * "Late attributes"); false when it is not held and goes on as any flow (already beyond the allowed
   * lateness); a flow refused by a cap is counted and accepted here. It is judged against the future bound
   * now, in arrival order as every flow is, and moves the hold's time as an accepted flow would move the watermark.
   */
  private hold(f: FlowRecord, raw: unknown, index: number | null): boolean {
    const lateness = this.allowedLatenessMs;
    const map = this.map;
    if (this.held.config.maxFlows === 0 || f.ts < Math.max(this.watermark, this.heldFront) - lateness) return false;
    const refused = this.future.checkFlow(f, this.watermark);
    if (refused) {
      map.countResolved();
      this.recordsIn.flows++;
      this.reject(refused, index, raw);
      return true;
    }
    if (this.held.size > 0) {
      // Expiring resolves other flows: this one's outcome is put back for the count if it is not held.
      const { srcOutcome, dstOutcome } = map;
      this.expireHeld(f.ts - lateness);
      map.srcOutcome = srcOutcome;
      map.dstOutcome = dstOutcome;
    }
    const endsFound = (f.srcVm === null ? 0 : 1) + (f.dstVm === null ? 0 : 1);
    const held: HeldFlow = { flow: { ...f, srcVm: null, dstVm: null }, raw: keepRaw(raw), index, topic: this.context.topic, source: this.context.source, endsFound };
    if (!this.held.add(held)) {
      // Not held (a cap): counted now as it resolves, and accepted without judging it a second time.
      this.held.counters.refused++;
      map.countResolved();
      if (f.srcVm === null && f.dstVm === null) this.reject(rejection('missing_vm', 'src_vm'), index, raw);
      else {
        this.recordsIn.flows++;
        this.accept(f, raw, index);
      }
      return true;
    }
    this.heldChanged = true;
    this.held.counters.held++;
    if (f.ts > this.heldFront) this.heldFront = f.ts;
    return true;
  }

  /**
   * A held flow resolved again: held once more while attributes may still claim it (unless `expiring`),
   * else counted and accepted as any flow, as a late record at its own event time. It was judged against the
   * future bound when it arrived, so only the windows' rules apply now.
   */
  protected settleHeld(h: HeldFlow, expiring: boolean): void {
    this.heldChanged = true;
    const f = this.held.resolveAgain(h, this.map, expiring);
    if (f === null) return;
    const saved = { ...this.context };
    this.context.topic = h.topic;
    this.context.source = h.source;
    if (f.srcVm === null && f.dstVm === null) this.reject(rejection('missing_vm', 'src_vm'), h.index, h.raw);
    else {
      this.recordsIn.flows++;
      this.accept(f, h.raw, h.index);
    }
    this.context = saved;
  }

  /** Accepts, as they now resolve, the held flows older than `before`: they could not be accepted later. */
  protected expireHeld(before: number): void {
    for (const h of this.held.takeOlderThan(before)) {
      this.held.counters.expired++;
      this.settleHeld(h, true);
    }
  }

  /** A claim for `ip` that is new, or reaches further back: the flows held at it resolve again; true when any did. */
  protected releaseHeldAt(ip: string): boolean {
    if (this.held.size === 0) return false;
    let changed = false;
    for (const h of this.held.takeFor(ip)) {
      changed = true;
      this.settleHeld(h, false);
    }
    return changed;
  }

  protected reject(r: Rejection, index: number | null, raw: unknown): void {
    this.rejections.add(r.reason);
    this.onReject({ ...r, topic: this.context.topic, source: this.context.source, index, raw: keepRaw(raw) });
  }
}

/** The text kept for a rejected record: the original text when there is one, else its JSON, capped. */
export function keepRaw(raw: unknown): string {
  let text: string;
  if (typeof raw === 'string') text = raw;
  else {
    try {
      text = JSON.stringify(raw) ?? String(raw);
    } catch {
      text = '<unserialisable value>';
    }
  }
  return text.length > MAX_RAW_KEPT ? `${text.slice(0, MAX_RAW_KEPT)}…[${text.length - MAX_RAW_KEPT} more]` : text;
}
