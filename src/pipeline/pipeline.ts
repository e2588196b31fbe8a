/**
 * The ingest path shared by replay and the live service: messages in (by topic), records decoded and
 * applied to the fleet state, rejections counted and handed to a sink, and the event-time schedule of
 * clustering runs. It knows nothing of where messages come from.
 */
import { AddressMap, type AddressMapConfig, type AddressMapState, DEFAULT_MAX_CLAIMS } from '../attribution/address-map.ts';
import { DEFAULT_MAX_HELD_FLOW_BYTES, DEFAULT_MAX_HELD_FLOWS, type HeldFlow, HeldFlows, type HeldFlowsState } from '../attribution/held-flows.ts';
import { type DecodeLimits, defaultDecodeLimits, InputDecoder, type RecordSink } from '../contract/message-decoder.ts';
import type { FlowFormat } from '../contract/formats/flow-formats.ts';
import type { FlowRecord, HostAttributes, TenantAttributes, VmAttributes } from '../contract/records.ts';
import { type RejectedRecord, type Rejection, RejectionCounter, type RejectionSummary, rejection } from '../contract/rejections.ts';
import { FleetState } from '../fleet/fleet-state.ts';
import { ConnectionLog, type ConnectionLogState, DEFAULT_MAX_CONNECTIONS } from '../security-groups/connection-log.ts';
import { defaultTopics, type TopicNames } from '../contract/topics.ts';
import { defaultFutureBoundConfig, FutureBound, type FutureBoundConfig } from './future-bound.ts';
import { type RunInput, takeRunInput } from '../runs/run-input.ts';
import { defaultWindowConfig, type WindowConfig } from '../windows/window-config.ts';

export interface PipelineConfig {
  window: WindowConfig;
  topics: TopicNames;
  /** Event time between clustering runs; 0 runs only on demand (and at the end of a replay). */
  reclusterEveryMs: number;
  limits: DecodeLimits;
  /** The bound on event times ahead of now (future_ts); default: the skew and quorum defaults, no wall clock. */
  future?: FutureBoundConfig;
  /**
   * Topic of host capacities (placement advice); none: not read. Kept apart from `topics`, which a snapshot
   * records and is checked against, so that turning it on keeps the snapshots of earlier builds usable.
   */
  hostAttributesTopic?: string;
  /** Address claims the attribution of flow addresses to VMs holds at most (docs/exporters.md); default 400,000. */
  maxAddressClaims?: number;
  /** The JSON of the flows topic: the contract's own (default) or a flow collector's (docs/exporters.md). */
  flowFormat?: FlowFormat;
  /** Connections the security groups' log holds; default DEFAULT_MAX_CONNECTIONS. */
  maxSecurityGroupConnections?: number;
  /** Flows held for late VM attributes at most (docs/exporters.md); 0 holds none. Default DEFAULT_MAX_HELD_FLOWS. */
  maxHeldFlows?: number;
  /** Estimated bytes of the held flows at most; default DEFAULT_MAX_HELD_FLOW_BYTES. */
  maxHeldFlowBytes?: number;
}

export const defaultPipelineConfig: PipelineConfig = {
  window: defaultWindowConfig,
  topics: defaultTopics,
  reclusterEveryMs: 5 * 60_000,
  limits: defaultDecodeLimits,
  future: defaultFutureBoundConfig,
};

export type RejectHandler = (r: RejectedRecord) => void;

/** What a snapshot keeps of the pipeline besides the fleet state: its counters and run schedule. */
export interface PipelineState {
  messagesIn: number;
  recordsIn: Pipeline['recordsIn'];
  rejected: RejectionSummary;
  /** Event time of the next scheduled run; NaN before the first flow. */
  nextRunAt: number;
  /** The address map of attribution; absent in snapshots of earlier builds (rebuilt from the VM attributes). */
  attribution?: AddressMapState;
  /** Flows held for late VM attributes; absent in snapshots of earlier builds (none were held). */
  held?: HeldFlowsState;
}

/** Rejected text kept per record is capped: enough to diagnose, not enough to exhaust memory or disk. */
export const MAX_RAW_KEPT = 16 * 1024;

export class Pipeline {
  readonly fleet: FleetState;
  /** Per-port connections between VMs and peers, what security groups are learned from (in snapshots). */
  private connectionLog: ConnectionLog;
  /** Rejects records too far ahead of now before they reach the fleet state (docs/event-time.md). */
  readonly future: FutureBound;
  /** Attributes flow ends that carry only an address to the VM holding it (docs/exporters.md). */
  addresses: AddressMap;
  /** Address-only flows waiting, at most until they would be too late, for the attributes of their VMs. */
  readonly held: HeldFlows;
  /** The latest event time among the flows held: with the fleet's watermark, where the input's time stands. */
  private heldFront = Number.NEGATIVE_INFINITY;
  readonly rejections = new RejectionCounter();
  readonly recordsIn = { flows: 0, vmAttributes: 0, tenantAttributes: 0 };
  messagesIn = 0;
  /** Host-attribute records applied (kept apart from recordsIn, whose shape snapshots and /v1/stats fix). */
  hostAttributesIn = 0;
  private readonly decoder: InputDecoder;
  private nextRunAt = Number.NaN;
  private context = { topic: '', source: '' };
  private readonly sink: RecordSink;

  /** `fleet`: a state restored from a snapshot, made with the same window configuration; default empty. */
  constructor(
    readonly config: PipelineConfig,
    private readonly onReject: RejectHandler = () => {},
    fleet?: FleetState,
  ) {
    this.fleet = fleet ?? new FleetState(config.window);
    this.connectionLog = new ConnectionLog(config.window.windowMs, config.maxSecurityGroupConnections ?? DEFAULT_MAX_CONNECTIONS);
    this.future = new FutureBound(config.future ?? defaultFutureBoundConfig, config.window.windowMs);
    this.addresses = new AddressMap(this.addressMapConfig());
    this.held = new HeldFlows({ maxFlows: config.maxHeldFlows ?? DEFAULT_MAX_HELD_FLOWS, maxBytes: config.maxHeldFlowBytes ?? DEFAULT_MAX_HELD_FLOW_BYTES });
    // A restored fleet: its VM attributes are what an earlier build's snapshot has of the addresses.
    if (fleet !== undefined) this.rebuildAddresses();
    this.decoder = new InputDecoder(config);
    // One sink object for the pipeline's life: the hot path allocates no closures per message.
    this.sink = {
      flow: (f: FlowRecord, raw: unknown, index: number | null) => {
        const addressOnly = f.srcVm === null && f.dstVm === null;
        this.addresses.resolve(f);
        if (addressOnly && this.addresses.mayBeClaimedLater(f) && this.hold(f, raw, index)) return;
        this.addresses.countResolved();
        // Neither end named nor attributed: no VM to count it for, rejected as the decoder did before
        // attribution existed (so not counted among the records decoded either).
        if (f.srcVm === null && f.dstVm === null) {
          this.reject(rejection('missing_vm', 'src_vm'), index, raw);
          return;
        }
        this.recordsIn.flows++;
        const refused = this.future.checkFlow(f, this.fleet.watermark);
        if (refused) {
          this.reject(refused, index, raw);
          return;
        }
        // Held flows the watermark is about to leave too late go first, while they can still be applied.
        if (this.held.size > 0) this.expireHeld(f.ts - this.config.window.allowedLatenessMs);
        this.applyToFleet(f, raw, index);
      },
      vmAttributes: (a: VmAttributes, raw: unknown, index: number | null) => {
        this.recordsIn.vmAttributes++;
        const refused = this.future.checkAttributes(a.ts, this.fleet.watermark) ?? this.fleet.applyVmAttributes(a);
        if (refused) this.reject(refused, index, raw);
        else {
          // Only a claim that is new, or reaches further back, can attribute a held flow: the same claim
          // sent again (attributes repeat with every CPU or state change) leaves the held flows where they are.
          if (this.addresses.observe(a) && a.ip !== null && this.held.size > 0) for (const h of this.held.takeFor(a.ip)) this.settleHeld(h, false);
        }
      },
      tenantAttributes: (t: TenantAttributes, raw: unknown, index: number | null) => {
        this.recordsIn.tenantAttributes++;
        const refused = this.future.checkAttributes(t.ts, this.fleet.watermark) ?? this.fleet.applyTenantAttributes(t);
        if (refused) this.reject(refused, index, raw);
      },
      hostAttributes: (h: HostAttributes) => {
        this.hostAttributesIn++;
        this.fleet.applyHostAttributes(h);
      },
      reject: (r: Rejection, index: number | null, raw: unknown) => this.reject(r, index, raw),
    };
  }

  /** A flow that passed the future bound, to the fleet state (and the connection log once applied). */
  private applyToFleet(f: FlowRecord, raw: unknown, index: number | null): void {
    const first = this.fleet.watermark === Number.NEGATIVE_INFINITY;
    const refused = this.fleet.applyFlow(f);
    if (refused) this.reject(refused, index, raw);
    else {
      this.connectionLog.add(f);
      if (first) this.judgeEarlyAttributes();
    }
  }

  /**
   * Holds an address-only flow with an end that attributes still to come may claim (docs/exporters.md
   * "Late attributes"); false when it is not held and goes on as any flow (already beyond the allowed
   * lateness); a flow refused by a cap is counted and applied here. It is judged against the future bound now, in arrival order as
   * every flow is, and moves the hold's time as an applied flow would move the watermark.
   */
  private hold(f: FlowRecord, raw: unknown, index: number | null): boolean {
    const lateness = this.config.window.allowedLatenessMs;
    if (this.held.config.maxFlows === 0 || f.ts < Math.max(this.fleet.watermark, this.heldFront) - lateness) return false;
    const refused = this.future.checkFlow(f, this.fleet.watermark);
    if (refused) {
      this.addresses.countResolved();
      this.recordsIn.flows++;
      this.reject(refused, index, raw);
      return true;
    }
    if (this.held.size > 0) {
      // Expiring resolves other flows: this one's outcome is put back for the count if it is not held.
      const { srcOutcome, dstOutcome } = this.addresses;
      this.expireHeld(f.ts - lateness);
      this.addresses.srcOutcome = srcOutcome;
      this.addresses.dstOutcome = dstOutcome;
    }
    const endsFound = (f.srcVm === null ? 0 : 1) + (f.dstVm === null ? 0 : 1);
    const held: HeldFlow = { flow: { ...f, srcVm: null, dstVm: null }, raw: keepRaw(raw), index, topic: this.context.topic, source: this.context.source, endsFound };
    if (!this.held.add(held)) {
      // Not held (a cap): counted now as it resolves, and applied without judging it a second time.
      this.held.counters.refused++;
      this.addresses.countResolved();
      if (f.srcVm === null && f.dstVm === null) this.reject(rejection('missing_vm', 'src_vm'), index, raw);
      else {
        this.recordsIn.flows++;
        this.applyToFleet(f, raw, index);
      }
      return true;
    }
    this.held.counters.held++;
    if (f.ts > this.heldFront) this.heldFront = f.ts;
    return true;
  }

  /**
   * A held flow resolved again: held once more while attributes may still claim it (unless `expiring`),
   * else counted and applied as any flow, as a late record at its own event time. It was judged against the
   * future bound when it arrived, so only the fleet state's rules apply now.
   */
  private settleHeld(h: HeldFlow, expiring: boolean): void {
    const f = this.held.resolveAgain(h, this.addresses, expiring);
    if (f === null) return;
    const saved = { ...this.context };
    this.context.topic = h.topic;
    this.context.source = h.source;
    if (f.srcVm === null && f.dstVm === null) this.reject(rejection('missing_vm', 'src_vm'), h.index, h.raw);
    else {
      this.recordsIn.flows++;
      this.applyToFleet(f, h.raw, h.index);
    }
    this.context = saved;
  }

  /** Applies, as they now resolve, the held flows older than `before`: they could not be applied later. */
  private expireHeld(before: number): void {
    for (const h of this.held.takeOlderThan(before)) {
      this.held.counters.expired++;
      this.settleHeld(h, true);
    }
  }

  /** The end of a replay: nothing more can come for the flows still held, they count as they now resolve. */
  releaseHeld(): void {
    this.expireHeld(Number.POSITIVE_INFINITY);
  }

  /** A message as it comes off Kafka: its topic and its value's text (null for a tombstone). */
  ingestMessage(topic: string, text: string | null, source: string): void {
    this.messagesIn++;
    this.context.topic = topic;
    this.context.source = source;
    this.decoder.decodeMessage(topic, text, this.sink);
  }

  /** One line of a trace file: `{"topic": ..., "value": ...}`. */
  ingestTraceLine(line: string, source: string): void {
    this.messagesIn++;
    this.context.topic = '';
    this.context.source = source;
    if (line.length > this.config.limits.maxMessageBytes) {
      this.reject(rejection('too_large', null, `line of ${line.length} bytes exceeds ${this.config.limits.maxMessageBytes}`), null, line);
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (err) {
      this.reject(rejection('invalid_json', null, `invalid JSON: ${(err as Error).message}`), null, line);
      return;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      this.reject(rejection('invalid_line', null), null, line);
      return;
    }
    const { topic, value } = parsed as { topic?: unknown; value?: unknown };
    if (typeof topic !== 'string' || value === undefined) {
      this.reject(rejection('invalid_line', typeof topic !== 'string' ? 'topic' : 'value'), null, line);
      return;
    }
    this.context.topic = topic;
    this.decoder.decodeValue(topic, value, line, this.sink);
  }

  /** A trace line too long to read whole: rejected with its head as evidence. */
  ingestOversize(bytes: number, head: string, source: string): void {
    this.messagesIn++;
    this.context.topic = '';
    this.context.source = source;
    this.reject(rejection('too_large', null, `line of ${bytes} bytes exceeds ${this.config.limits.maxMessageBytes}`), null, head);
  }

  /**
   * In a replay, attributes that came before the first flow had no time to be judged by: once the first
   * flow sets one, those later than it by more than the skew are taken back out and rejected as future_ts
   * (their decoded form is what is kept). Live, the wall clock judged them on arrival.
   */
  private judgeEarlyAttributes(): void {
    if (this.future.config.wallClock !== null) return;
    const first = this.fleet.watermark;
    const dropped = this.fleet.dropFutureAttributes(first + this.future.config.maxSkewMs);
    if (dropped.tombstones.length + dropped.tenants.length + dropped.vmAttributes.length === 0) return;
    const saved = { ...this.context };
    const skew = Math.round(this.future.config.maxSkewMs / 1000);
    const judge = (topic: string, ts: number, record: unknown) => {
      this.context.topic = topic;
      this.context.source = 'before the first flow';
      const ahead = Math.round((ts - first) / 1000);
      this.reject(rejection('future_ts', 'ts', `ts is ${ahead} s ahead of the first flow (${new Date(first).toISOString()}); the allowed future skew is ${skew} s`), null, record);
    };
    for (const [vmId, ts] of dropped.tombstones) judge(this.config.topics.vmAttributes, ts, { vmId, ts, state: 'deleted' });
    for (const a of dropped.vmAttributes) judge(this.config.topics.vmAttributes, a.ts, a);
    for (const t of dropped.tenants) judge(this.config.topics.tenantAttributes, t.ts, t);
    this.context = saved;
  }

  private reject(r: Rejection, index: number | null, raw: unknown): void {
    this.rejections.add(r.reason);
    this.onReject({ ...r, topic: this.context.topic, source: this.context.source, index, raw: keepRaw(raw) });
  }

  /**
   * True once the watermark has passed the next scheduled run time (event time); the caller then runs.
   * The schedule is aligned to multiples of the interval, so a replay and a live run cut at the same times.
   */
  runDue(): boolean {
    const every = this.config.reclusterEveryMs;
    const w = this.fleet.watermark;
    if (!(every > 0) || w === Number.NEGATIVE_INFINITY) return false;
    if (Number.isNaN(this.nextRunAt)) {
      this.nextRunAt = (Math.floor(w / every) + 1) * every;
      return false;
    }
    if (w < this.nextRunAt) return false;
    this.nextRunAt = (Math.floor(w / every) + 1) * every;
    return true;
  }

  exportState(): PipelineState {
    return {
      messagesIn: this.messagesIn,
      recordsIn: { ...this.recordsIn },
      rejected: this.rejections.summary(),
      nextRunAt: this.nextRunAt,
      attribution: this.addresses.exportState(),
      held: this.held.exportState(),
    };
  }

  private addressMapConfig(): AddressMapConfig {
    const w = this.config.window;
    return { horizonMs: w.windowMs + w.allowedLatenessMs, maxClaims: this.config.maxAddressClaims ?? DEFAULT_MAX_CLAIMS };
  }

  /** The address map from what the fleet state holds: each VM's latest attributes and the deletions. */
  private rebuildAddresses(): void {
    this.addresses = new AddressMap(this.addressMapConfig());
    for (const e of this.fleet.vms.values()) if (e.attributes !== null) this.addresses.observe(e.attributes);
  }

  /** Continues from a snapshot's counters and schedule (the fleet state is given to the constructor). */
  restoreState(state: PipelineState): void {
    this.messagesIn = state.messagesIn;
    Object.assign(this.recordsIn, state.recordsIn);
    this.rejections.restore(state.rejected);
    this.nextRunAt = state.nextRunAt;
    if (state.attribution !== undefined) this.addresses = new AddressMap(this.addressMapConfig(), state.attribution);
    if (state.held !== undefined) {
      // Held flows beyond this build's caps are applied as they resolve now, not lost.
      for (const h of this.held.restore(state.held)) this.settleHeld(h, true);
      this.heldFront = this.held.latest();
    }
  }

  runInput(): RunInput {
    return takeRunInput(this.fleet);
  }

  get connections(): ConnectionLog {
    return this.connectionLog;
  }

  /** An empty connection log (a scale-out member that stops leading: its successor keeps the log). */
  forgetConnections(): void {
    this.connectionLog = new ConnectionLog(this.config.window.windowMs, this.connectionLog.maxConnections, this.connectionLog.retainWindows);
  }

  /**
   * Continues from a snapshot's connection log; null (a snapshot older than the log's place in it, or of
   * another window length) starts an empty one: the rules are then learned from the traffic that follows.
   */
  restoreConnections(state: ConnectionLogState | null): string | null {
    if (state === null) return null;
    if (state.windowMs !== this.config.window.windowMs) return `the connection log was kept for a window of ${state.windowMs} ms: not restored`;
    try {
      this.connectionLog = ConnectionLog.restore(state, this.connectionLog.maxConnections, this.connectionLog.retainWindows);
      return null;
    } catch (err) {
      // A log that does not hold together costs only the rules until traffic teaches them again.
      return `the connection log was not restored: ${(err as Error).message}`;
    }
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
