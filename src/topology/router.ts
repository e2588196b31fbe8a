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
import { DEFAULT_MAX_HELD_FLOW_BYTES, DEFAULT_MAX_HELD_FLOWS, type HeldFlow, HeldFlows, type HeldFlowsState } from '../attribution/held-flows.ts';
import { defaultFutureBoundConfig, FutureBound } from '../pipeline/future-bound.ts';
import { keepRaw, type PipelineConfig } from '../pipeline/pipeline.ts';
import { DEFAULT_MAX_TENANTS } from '../windows/window-config.ts';
import { type AddressTable, encodeAddressRecord } from './address-table.ts';
import { type ByVmRouted, finiteOrNull } from './by-vm.ts';

export type Routed =
  /** `key` of a by-VM record: the VM id (Kafka's default partitioner places it); markers go to every partition. */
  | ByVmRouted
  | { to: 'tenants'; key: string; value: string }
  /** A host's announced capacity for the hosts' global table, keyed by host id. */
  | { to: 'hosts'; key: string; value: string }
  /**
   * A flow routed to the windows, once (not per half), for the security groups' connection log that the
   * leader keeps (`<app>-connections`): one process adds every flow it applies to its log.
   */
  | { to: 'connections'; flow: FlowRecord }
  /** A VM's address claims for the shared table (address-table.ts), keyed by VM id; null: its tombstone. */
  | { to: 'addresses'; key: string; value: string | null };

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

/**
 * A router's held flows as its route transaction writes them (`<app>-held`, keyed by input partition): they
 * are state that the committed offset has passed, so they travel with it (docs/scale-out.md).
 */
export interface RouterHeld {
  held: HeldFlowsState;
  /** The latest event time among the flows held since (Pipeline's heldFront): where the hold's time stands. */
  front: number | null;
}

export class Router {
  readonly rejections = new RejectionCounter();
  readonly recordsIn = { flows: 0, vmAttributes: 0, tenantAttributes: 0 };
  private watermark = Number.NEGATIVE_INFINITY;
  private sweptAt = Number.NEGATIVE_INFINITY;
  private sweptBucket = Number.NEGATIVE_INFINITY;
  private nextTick = Number.NaN;
  /**
   * Tenants this router admitted that the tenant table may not have read back yet (without a table: every
   * tenant it admitted). With them, the router judges `tenant_cap` as one process's FleetState does.
   */
  private readonly admittedTenants = new Set<string>();
  /** The watermark last announced to every partition. */
  private announced = Number.NEGATIVE_INFINITY;
  private readonly decoder: InputDecoder;
  readonly addresses: AddressMap;
  private readonly future: FutureBound;
  private readonly sink: RecordSink;
  private out: Routed[] = [];
  private context = { topic: '', source: '' };
  /** Address-only flows waiting for attributes that may still come, as one process holds them (held-flows.ts). */
  readonly held: HeldFlows;
  private heldFront = Number.NEGATIVE_INFINITY;
  /** True once the held set changed since the last `exportHeld`: the route transaction writes it again. */
  private heldChanged = false;
  /** What flows released outside `route` (a claim read from the table) produced, for the next transaction. */
  private released: Routed[] = [];

  constructor(
    private readonly config: PipelineConfig & { limits: DecodeLimits },
    private readonly onReject: (r: RejectedRecord) => void,
    /** A member's shared address table; without it (one process, the tests) the router keeps its own map. */
    private readonly table: AddressTable | null = null,
    /** The member's global table of tenants (read from `<app>-tenants`); without it, the tenants this router admitted. */
    private readonly tenantTable: ReadonlyMap<string, unknown> | null = null,
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
    this.held = new HeldFlows({ maxFlows: config.maxHeldFlows ?? DEFAULT_MAX_HELD_FLOWS, maxBytes: config.maxHeldFlowBytes ?? DEFAULT_MAX_HELD_FLOW_BYTES });
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
    this.takeReleased(out);
    this.out = out;
    this.context.topic = topic;
    this.context.source = source;
    if (this.decoder.decodeMessage(topic, text, this.sink)) this.tickIfDue();
  }

  /** At the end of a batch: every partition learns the watermark, so that each can pass the next tick. */
  endOfBatch(out: Routed[]): void {
    if (!(this.watermark > this.announced)) return;
    // Deleted VMs the event time has left behind by the horizon: their keys leave the shared table.
    if (this.table !== null) for (const vm of this.table.expiredDeletions(this.watermark)) out.push({ to: 'addresses', key: vm, value: null });
    this.announced = this.watermark;
    out.push({ to: 'by-vm-all', record: { k: 'm', ...this.time() } });
  }

  /**
   * Claims for these addresses reached the address table (this member's routers or another member's, read
   * from `<app>-addresses`): the held flows at them are attributed again, as one process does when VM
   * attributes add or move back a claim. What they produce waits for the next transaction (`takeReleased`);
   * true when the held set changed.
   */
  claimed(ips: Iterable<string>): boolean {
    if (this.held.size === 0) return false;
    const saved = this.out;
    this.out = this.released;
    let changed = false;
    for (const ip of ips)
      for (const h of this.held.takeFor(ip)) {
        changed = true;
        this.settleHeld(h, false);
      }
    if (changed) this.tickIfDue();
    this.out = saved;
    return changed;
  }

  /** Moves what released flows produced since the last call to `out`; true when there was any. */
  takeReleased(out: Routed[]): boolean {
    if (this.released.length === 0) return false;
    for (const r of this.released) out.push(r);
    this.released = [];
    return true;
  }

  /** True when the held set changed since it was last exported. */
  get heldDirty(): boolean {
    return this.heldChanged || this.released.length > 0;
  }

  /** The held set to write with the route transaction; null when nothing is held (a tombstone). */
  exportHeld(): RouterHeld | null {
    this.heldChanged = false;
    if (this.held.size === 0) return null;
    return { held: this.held.exportState(), front: finiteOrNull(this.heldFront) };
  }

  /**
   * Continues from the held set committed with the offset. Each flow is attributed again against the table
   * as it is now: claims may have reached it since the former owner held them (nobody released them then).
   */
  restoreHeld(r: RouterHeld): void {
    const over = this.held.restore(r.held);
    this.heldFront = r.front ?? this.held.latest();
    const saved = this.out;
    this.out = this.released;
    for (const h of this.held.takeOlderThan(Number.POSITIVE_INFINITY)) this.settleHeld(h, false);
    for (const h of over) this.settleHeld(h, true);
    this.out = saved;
    this.heldChanged = true;
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

  /** The address map attributing flows: the member's shared table, or this router's own. */
  private get map(): AddressMap {
    return this.table?.map ?? this.addresses;
  }

  private flow(f: FlowRecord, raw: unknown, index: number | null): void {
    const map = this.map;
    const addressOnly = f.srcVm === null && f.dstVm === null;
    map.resolve(f);
    // As Pipeline: an address-only flow with an end that attributes still to come may claim waits for them.
    if (addressOnly && map.mayBeClaimedLater(f) && this.hold(f, raw, index)) return;
    map.countResolved();
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
    // Held flows the watermark is about to leave too late go first, while they can still be applied.
    if (this.held.size > 0) this.expireHeld(f.ts - this.config.window.allowedLatenessMs);
    this.forward(f, raw, index);
  }

  /** A flow that passed the future bound, routed as FleetState.applyFlow would apply it. */
  private forward(f: FlowRecord, raw: unknown, index: number | null): void {
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
    const w = finiteOrNull(this.watermark);
    const sa = finiteOrNull(this.sweptAt);
    // The decoder reuses its record: the halves share a copy.
    const r = { ...f };
    if (f.srcVm !== null) this.out.push({ to: 'by-vm', key: f.srcVm, record: { k: 'f', o: true, r, w, sa } });
    if (f.dstVm !== null) this.out.push({ to: 'by-vm', key: f.dstVm, record: { k: 'f', o: false, r, w, sa } });
    this.out.push({ to: 'connections', flow: r });
  }

  /** Pipeline.hold, against the router's watermark: true when the flow was held, or settled because of a cap. */
  private hold(f: FlowRecord, raw: unknown, index: number | null): boolean {
    const lateness = this.config.window.allowedLatenessMs;
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
      // Not held (a cap): counted now as it resolves, and routed without judging it a second time.
      this.held.counters.refused++;
      map.countResolved();
      if (f.srcVm === null && f.dstVm === null) this.reject(rejection('missing_vm', 'src_vm'), index, raw);
      else {
        this.recordsIn.flows++;
        this.forward(f, raw, index);
      }
      return true;
    }
    this.heldChanged = true;
    this.held.counters.held++;
    if (f.ts > this.heldFront) this.heldFront = f.ts;
    return true;
  }

  /** Pipeline.settleHeld: held again while attributes may still claim it (unless `expiring`), else routed. */
  private settleHeld(h: HeldFlow, expiring: boolean): void {
    this.heldChanged = true;
    const f = this.held.resolveAgain(h, this.map, expiring);
    if (f === null) return;
    const saved = { ...this.context };
    this.context.topic = h.topic;
    this.context.source = h.source;
    if (f.srcVm === null && f.dstVm === null) this.reject(rejection('missing_vm', 'src_vm'), h.index, h.raw);
    else {
      this.recordsIn.flows++;
      this.forward(f, h.raw, h.index);
    }
    this.context = saved;
  }

  private expireHeld(before: number): void {
    for (const h of this.held.takeOlderThan(before)) {
      this.held.counters.expired++;
      this.settleHeld(h, true);
    }
  }

  /** The end of a trace (LocalTopology): nothing more can come for the flows still held. */
  releaseHeld(out: Routed[]): void {
    this.out = out;
    this.expireHeld(Number.POSITIVE_INFINITY);
  }

  private vmAttributes(a: VmAttributes, raw: unknown, index: number | null): void {
    this.recordsIn.vmAttributes++;
    const refused = this.future.checkAttributes(a.ts, this.watermark);
    if (refused) this.reject(refused, index, raw);
    else {
      // The claims travel in the same transaction as the attributes' by-VM record.
      const claims = this.table?.observe(a) ?? null;
      if (claims !== null) this.out.push({ to: 'addresses', key: a.vmId, value: encodeAddressRecord(claims) });
      this.out.push({ to: 'by-vm', key: a.vmId, record: { k: 'v', r: a, ...this.time() } });
      // As in one process, after the attributes: a new or earlier claim releases the flows held at its
      // address. A member's table tells every router of the member itself (member.ts).
      if (this.table === null && this.addresses.observe(a) && a.ip !== null && this.held.size > 0) for (const h of this.held.takeFor(a.ip)) this.settleHeld(h, false);
    }
  }

  private tenantAttributes(t: TenantAttributes, raw: unknown, index: number | null): void {
    this.recordsIn.tenantAttributes++;
    const refused = this.future.checkAttributes(t.ts, this.watermark);
    if (refused) this.reject(refused, index, raw);
    else if (!this.admitTenant(t.tenantId)) {
      const max = this.config.window.maxTenants ?? DEFAULT_MAX_TENANTS;
      // Refused here, where the record was read: counted and dead-lettered once, like any rejection of the route.
      this.reject(rejection('tenant_cap', 'tenant_id', `tenant not tracked: ${max} tenants are (max_tenants)`), index, raw);
    } else this.out.push({ to: 'tenants', key: t.tenantId, value: JSON.stringify(t) });
  }

  /**
   * FleetState.applyTenantAttributes' cap, against the tenants the application tracks: a known tenant is
   * always admitted, a new one while fewer than MAX_TENANTS are tracked. Exact with one router of the
   * tenants' topic (one partition, as it is small); routers of several partitions racing for the last
   * places may admit a few more, which every member's table then refuses alike (counted there).
   */
  private admitTenant(tenantId: string): boolean {
    const table = this.tenantTable;
    if (table?.has(tenantId) === true || this.admittedTenants.has(tenantId)) return true;
    let tracked = this.admittedTenants.size;
    if (table !== null) {
      // Those the table has read back are counted there.
      for (const id of this.admittedTenants) if (table.has(id)) this.admittedTenants.delete(id);
      tracked = table.size + this.admittedTenants.size;
    }
    if (tracked >= (this.config.window.maxTenants ?? DEFAULT_MAX_TENANTS)) return false;
    this.admittedTenants.add(tenantId);
    return true;
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
