/**
 * The ingest path shared by replay and the live service: messages in (by topic), records decoded and
 * applied to the fleet state, rejections counted and handed to a sink, and the event-time schedule of
 * clustering runs. It knows nothing of where messages come from.
 */
import { AddressMap, type AddressMapConfig, type AddressMapState, DEFAULT_MAX_CLAIMS } from '../attribution/address-map.ts';
import type { HeldFlowsState } from '../attribution/held-flows.ts';
import { type DecodeLimits, defaultDecodeLimits, InputDecoder, type RecordSink } from '../contract/message-decoder.ts';
import type { FlowFormat } from '../contract/formats/flow-formats.ts';
import type { FlowRecord, HostAttributes, TenantAttributes, VmAttributes } from '../contract/records.ts';
import { type Rejection, type RejectionSummary, rejection } from '../contract/rejections.ts';
import { FleetState } from '../fleet/fleet-state.ts';
import { ConnectionLog, type ConnectionLogState, DEFAULT_MAX_CONNECTIONS } from '../security-groups/connection-log.ts';
import { defaultTopics, type TopicNames } from '../contract/topics.ts';
import { defaultFutureBoundConfig, type FutureBoundConfig } from './future-bound.ts';
import { InputStage, type RejectHandler } from './input-stage.ts';
import { DEFAULT_PARTITION_IDLE_MS, PartitionWatermarks, type PartitionWatermarksState } from './partition-watermarks.ts';
import { RunSchedule } from './run-schedule.ts';
import { type RunInput, takeRunInput, takeRunInputSteps } from '../runs/run-input.ts';
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

export { keepRaw, MAX_RAW_KEPT, type RejectHandler } from './input-stage.ts';

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
  /**
   * The watermark of each input partition and the reader's; absent in snapshots of earlier builds and of
   * a trace (one watermark: the fleet's, which the reader's then starts at).
   */
  inputPartitions?: PartitionWatermarksState;
}

export class Pipeline extends InputStage {
  readonly fleet: FleetState;
  /** Per-port connections between VMs and peers, what security groups are learned from (in snapshots). */
  private connectionLog: ConnectionLog;
  /** Attributes flow ends that carry only an address to the VM holding it (docs/exporters.md). */
  addresses: AddressMap;
  messagesIn = 0;
  /** Host-attribute records applied (kept apart from recordsIn, whose shape snapshots and /v1/stats fix). */
  hostAttributesIn = 0;
  private readonly decoder: InputDecoder;
  private readonly schedule: RunSchedule;
  private readonly sink: RecordSink;
  /**
   * The watermark per input partition (Kafka's flows partitions, told by the consumer): none tracked for a
   * trace, whose one ordered input has the fleet's watermark (docs/event-time.md).
   */
  readonly inputPartitions: PartitionWatermarks;
  /** The input partition of the message being ingested; null for a trace line. */
  private partition: string | null = null;

  /** `fleet`: a state restored from a snapshot, made with the same window configuration; default empty. */
  constructor(
    readonly config: PipelineConfig,
    onReject: RejectHandler = () => {},
    fleet?: FleetState,
  ) {
    super(config, onReject);
    this.fleet = fleet ?? new FleetState(config.window);
    this.connectionLog = new ConnectionLog(config.window.windowMs, config.maxSecurityGroupConnections ?? DEFAULT_MAX_CONNECTIONS);
    this.addresses = new AddressMap(this.addressMapConfig());
    // A restored fleet: its VM attributes are what an earlier build's snapshot has of the addresses.
    if (fleet !== undefined) this.rebuildAddresses();
    this.decoder = new InputDecoder(config);
    this.schedule = new RunSchedule(config.reclusterEveryMs);
    // A lead of one bucket: the run ticks and the windows' rings stay as close as that to what every
    // partition has given, and lead plus lateness stays within the ring of one window.
    this.inputPartitions = new PartitionWatermarks({ idleMs: DEFAULT_PARTITION_IDLE_MS, maxLeadMs: config.window.bucketMs });
    // One sink object for the pipeline's life: the hot path allocates no closures per message.
    this.sink = {
      flow: (f: FlowRecord, raw: unknown, index: number | null) => this.intakeFlow(f, raw, index),
      vmAttributes: (a: VmAttributes, raw: unknown, index: number | null) => {
        this.recordsIn.vmAttributes++;
        const refused = this.future.checkAttributes(a.ts, this.fleet.watermark) ?? this.fleet.applyVmAttributes(a);
        if (refused) this.reject(refused, index, raw);
        else {
          // Only a claim that is new, or reaches further back, can attribute a held flow: the same claim
          // sent again (attributes repeat with every CPU or state change) leaves the held flows where they are.
          if (this.addresses.observe(a) && a.ip !== null) this.releaseHeldAt(a.ip);
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

  /** What judges records: the fleet's watermark, or with input partitions the reader's (the lowest of those behind). */
  protected get watermark(): number {
    const newest = this.fleet.watermark;
    return this.inputPartitions.size === 0 ? newest : this.inputPartitions.watermark(newest);
  }

  protected get map(): AddressMap {
    return this.addresses;
  }

  protected get allowedLatenessMs(): number {
    return this.config.window.allowedLatenessMs;
  }

  /** A flow that passed the future bound, to the fleet state (and the connection log once applied). */
  protected accept(f: FlowRecord, raw: unknown, index: number | null): void {
    const first = this.fleet.watermark === Number.NEGATIVE_INFINITY;
    let judgedAt: number | undefined;
    if (this.inputPartitions.size > 0) {
      if (this.partition !== null) this.inputPartitions.observe(this.partition, f.ts);
      judgedAt = this.inputPartitions.watermark(Math.max(this.fleet.watermark, f.ts));
    }
    const refused = this.fleet.applyFlow(f, judgedAt);
    if (refused) this.reject(refused, index, raw);
    else {
      this.connectionLog.add(f);
      if (first) this.judgeEarlyAttributes();
    }
  }

  /** The end of a replay: nothing more can come for the flows still held, they count as they now resolve. */
  releaseHeld(): void {
    this.expireHeld(Number.POSITIVE_INFINITY);
  }

  /**
   * A message as it comes off Kafka: its topic and its value's text (null for a tombstone); `partition`
   * names its input partition when the reader tracks it (inputPartitions), whose watermark its flows move.
   */
  ingestMessage(topic: string, text: string | null, source: string, partition: string | null = null): void {
    this.messagesIn++;
    this.context.topic = topic;
    this.context.source = source;
    this.partition = partition;
    this.decoder.decodeMessage(topic, text, this.sink);
    this.partition = null;
  }

  /**
   * Whether the next message of an input partition may be read now (`now`: the wall clock, for idleness),
   * or that partition waits for the others to come within the read lead of it (PartitionWatermarks).
   */
  mayRead(partition: string, now: number): boolean {
    return this.inputPartitions.mayRead(partition, this.fleet.watermark, now);
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

  /**
   * True once the watermark has passed the next scheduled run time (event time); the caller then runs.
   * The schedule is aligned to multiples of the interval, so a replay and a live run cut at the same times.
   */
  runDue(): boolean {
    return this.schedule.due(this.watermark) !== null;
  }

  exportState(): PipelineState {
    return {
      messagesIn: this.messagesIn,
      recordsIn: { ...this.recordsIn },
      rejected: this.rejections.summary(),
      nextRunAt: this.schedule.next,
      attribution: this.addresses.exportState(),
      held: this.held.exportState(),
      ...(this.inputPartitions.size === 0 ? {} : { inputPartitions: this.inputPartitions.exportState() }),
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
    this.schedule.next = state.nextRunAt;
    // A snapshot of one watermark: the reader's is the fleet's, as it was judged by then.
    const w = this.fleet.watermark;
    this.inputPartitions.restore(state.inputPartitions ?? { reader: Number.isFinite(w) ? w : null, partitions: [] });
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

  /** runInput as steps (takeRunInputSteps): nothing may be applied until the last one. */
  runInputSteps(vmsPerStep: number): Generator<number, RunInput, void> {
    return takeRunInputSteps(this.fleet, vmsPerStep);
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
