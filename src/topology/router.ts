/**
 * The route stage of one input partition (pure): messages in, decoded and validated exactly as the
 * single-process pipeline does, rejects counted by reason and handed on, and each accepted record out as
 * by-VM records keyed by VM id (a flow as its two VM-sided halves) or a tenant-table record. It keeps the
 * event time a single process would have (watermark, sweep points, run ticks) and stamps every record with it.
 */
import { type DecodeLimits, InputDecoder, type RecordSink } from '../contract/message-decoder.ts';
import type { FlowRecord, TenantAttributes, VmAttributes } from '../contract/records.ts';
import { type RejectedRecord, type Rejection, RejectionCounter, type RejectionSummary, rejection } from '../contract/rejections.ts';
import { AddressMap, DEFAULT_MAX_CLAIMS } from '../attribution/address-map.ts';
import { defaultFutureBoundConfig, FutureBound } from '../pipeline/future-bound.ts';
import { keepRaw, type PipelineConfig } from '../pipeline/pipeline.ts';
import { type AddressTable, encodeAddressRecord } from './address-table.ts';
import { type ByVmRouted, finiteOrNull } from './by-vm.ts';

export type Routed =
  /** `key` of a by-VM record: the VM id (Kafka's default partitioner places it); markers go to every partition. */
  | ByVmRouted
  | { to: 'tenants'; key: string; value: string }
  /** A host's announced capacity for the hosts' global table, keyed by host id. */
  | { to: 'hosts'; key: string; value: string }
  /** A VM's address claims for the shared table (address-table.ts), keyed by VM id. */
  | { to: 'addresses'; key: string; value: string };

/** What a router must carry to continue where another member left off (it rides in the offset commit). */
export interface RouterState {
  watermark: number | null;
  sweptAt: number | null;
  sweptBucket: number | null;
  /** Event time of the next run tick; null before the first flow. */
  nextTick: number | null;
  records: { flows: number; vmAttributes: number; tenantAttributes: number };
  rejected: RejectionSummary;
}

export class Router {
  readonly rejections = new RejectionCounter();
  readonly recordsIn = { flows: 0, vmAttributes: 0, tenantAttributes: 0 };
  private watermark = Number.NEGATIVE_INFINITY;
  private sweptAt = Number.NEGATIVE_INFINITY;
  private sweptBucket = Number.NEGATIVE_INFINITY;
  private nextTick = Number.NaN;
  /** The watermark last announced to every partition. */
  private announced = Number.NEGATIVE_INFINITY;
  private readonly decoder: InputDecoder;
  readonly addresses: AddressMap;
  private readonly future: FutureBound;
  private readonly sink: RecordSink;
  private out: Routed[] = [];
  private context = { topic: '', source: '' };

  constructor(
    private readonly config: PipelineConfig & { limits: DecodeLimits },
    private readonly onReject: (r: RejectedRecord) => void,
    /** A member's shared address table; without it (one process, the tests) the router keeps its own map. */
    private readonly table: AddressTable | null = null,
  ) {
    this.decoder = new InputDecoder(config);
    // Flows that carry only addresses are attributed at the route, where their VM ids become the key. In a
    // member the shared table (every member's claims, durable in <app>-addresses) does it; this map serves
    // a router on its own (LocalTopology, the tests), which routes the VM attributes itself.
    this.addresses = new AddressMap({
      horizonMs: config.window.windowMs + config.window.allowedLatenessMs,
      maxClaims: config.maxAddressClaims ?? DEFAULT_MAX_CLAIMS,
    });
    this.future = new FutureBound(config.future ?? defaultFutureBoundConfig, config.window.windowMs);
    this.sink = {
      flow: (f, raw, index) => this.flow(f, raw, index),
      vmAttributes: (a, raw, index) => this.vmAttributes(a, raw, index),
      tenantAttributes: (t, raw, index) => this.tenantAttributes(t, raw, index),
      // As in one process: validated, newest ts wins (where the table is read), no event-time bound.
      hostAttributes: (h) => this.out.push({ to: 'hosts', key: h.hostId, value: JSON.stringify(h) }),
      reject: (r, index, raw) => this.reject(r, index, raw),
    };
  }

  /** Routes one input message; what it produces is appended to `out`. */
  route(topic: string, text: string | null, source: string, out: Routed[]): void {
    this.out = out;
    this.context.topic = topic;
    this.context.source = source;
    if (this.decoder.decodeMessage(topic, text, this.sink)) this.tickIfDue();
  }

  /** At the end of a batch: every partition learns the watermark, so that each can pass the next tick. */
  endOfBatch(out: Routed[]): void {
    if (!(this.watermark > this.announced)) return;
    this.announced = this.watermark;
    out.push({ to: 'by-vm-all', record: { k: 'm', ...this.time() } });
  }

  exportState(): RouterState {
    return {
      watermark: finiteOrNull(this.watermark),
      sweptAt: finiteOrNull(this.sweptAt),
      sweptBucket: finiteOrNull(this.sweptBucket),
      nextTick: finiteOrNull(this.nextTick),
      records: { ...this.recordsIn },
      rejected: this.rejections.summary(),
    };
  }

  restoreState(s: RouterState): void {
    this.watermark = s.watermark ?? Number.NEGATIVE_INFINITY;
    this.announced = this.watermark;
    this.sweptAt = s.sweptAt ?? Number.NEGATIVE_INFINITY;
    this.sweptBucket = s.sweptBucket ?? Number.NEGATIVE_INFINITY;
    this.nextTick = s.nextTick ?? Number.NaN;
    Object.assign(this.recordsIn, s.records);
    this.rejections.restore(s.rejected);
  }

  private time(): { w: number | null; sa: number | null } {
    return { w: finiteOrNull(this.watermark), sa: finiteOrNull(this.sweptAt) };
  }

  private flow(f: FlowRecord, raw: unknown, index: number | null): void {
    (this.table ?? this.addresses).attribute(f);
    // As in the pipeline: neither end named nor attributed is rejected, never routed nowhere.
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
    // The same event time as FleetState.applyFlow: a later flow moves the watermark (and sweeps when it
    // enters a new bucket), a flow later than the allowed lateness behind it is rejected.
    const ts = f.ts;
    if (ts > this.watermark) {
      this.watermark = ts;
      const bucket = Math.floor(ts / this.config.window.bucketMs);
      if (bucket > this.sweptBucket) {
        this.sweptBucket = bucket;
        this.sweptAt = ts;
      }
    } else if (ts < this.watermark - this.config.window.allowedLatenessMs) {
      this.reject(
        rejection(
          'too_late',
          'ts',
          `ts is ${Math.round((this.watermark - ts) / 1000)} s behind the watermark; allowed lateness is ${this.config.window.allowedLatenessMs / 1000} s`,
        ),
        index,
        raw,
      );
      return;
    }
    const { w, sa } = this.time();
    // The decoder reuses its record: the halves share a copy.
    const r = { ...f };
    if (f.srcVm !== null) this.out.push({ to: 'by-vm', key: f.srcVm, record: { k: 'f', o: true, r, w, sa } });
    if (f.dstVm !== null) this.out.push({ to: 'by-vm', key: f.dstVm, record: { k: 'f', o: false, r, w, sa } });
  }

  private vmAttributes(a: VmAttributes, raw: unknown, index: number | null): void {
    this.recordsIn.vmAttributes++;
    const refused = this.future.checkAttributes(a.ts, this.watermark);
    if (refused) this.reject(refused, index, raw);
    else {
      if (this.table === null) this.addresses.observe(a);
      else {
        // The claims travel in the same transaction as the attributes' by-VM record.
        const claims = this.table.observe(a);
        if (claims !== null) this.out.push({ to: 'addresses', key: a.vmId, value: encodeAddressRecord(claims) });
      }
      this.out.push({ to: 'by-vm', key: a.vmId, record: { k: 'v', r: a, ...this.time() } });
    }
  }

  private tenantAttributes(t: TenantAttributes, raw: unknown, index: number | null): void {
    this.recordsIn.tenantAttributes++;
    const refused = this.future.checkAttributes(t.ts, this.watermark);
    if (refused) this.reject(refused, index, raw);
    else this.out.push({ to: 'tenants', key: t.tenantId, value: JSON.stringify(t) });
  }

  /** Pipeline.runDue's schedule: ticks at multiples of the interval, checked after each message. */
  private tickIfDue(): void {
    const every = this.config.reclusterEveryMs;
    const w = this.watermark;
    if (!(every > 0) || w === Number.NEGATIVE_INFINITY) return;
    if (Number.isNaN(this.nextTick)) {
      this.nextTick = (Math.floor(w / every) + 1) * every;
      return;
    }
    if (w < this.nextTick) return;
    const tick = Math.floor(w / every) * every;
    this.nextTick = tick + every;
    this.announced = w;
    this.out.push({ to: 'by-vm-all', record: { k: 't', tick, ...this.time() } });
  }

  private reject(r: Rejection, index: number | null, raw: unknown): void {
    this.rejections.add(r.reason);
    this.onReject({ ...r, topic: this.context.topic, source: this.context.source, index, raw: keepRaw(raw) });
  }
}
