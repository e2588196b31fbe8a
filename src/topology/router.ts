/**
 * The route stage of one input partition (pure): messages in, decoded and validated exactly as the
 * single-process pipeline does, rejects counted by reason and handed on, and each accepted record out as
 * by-VM records keyed by VM id (a flow as its two VM-sided halves) or a tenant-table record. It keeps the
 * event time a single process would have (watermark, sweep points, run ticks) and stamps every record with it.
 */
import { type DecodeLimits, InputDecoder, type RecordSink } from '../contract/message-decoder.ts';
import type { FlowRecord, TenantAttributes, VmAttributes } from '../contract/records.ts';
import { type RejectionSummary, rejection } from '../contract/rejections.ts';
import { AddressMap, DEFAULT_MAX_CLAIMS } from '../attribution/address-map.ts';
import type { HeldFlowsState } from '../attribution/held-flows.ts';
import { InputStage, type RejectHandler } from '../pipeline/input-stage.ts';
import type { PipelineConfig } from '../pipeline/pipeline.ts';
import { RunSchedule } from '../pipeline/run-schedule.ts';
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

export class Router extends InputStage {
  /** The event time this router has seen, as one process's FleetState keeps it. */
  private eventTime = Number.NEGATIVE_INFINITY;
  private sweptAt = Number.NEGATIVE_INFINITY;
  private sweptBucket = Number.NEGATIVE_INFINITY;
  /** The run ticks this router announces to every partition. */
  private readonly schedule: RunSchedule;
  /**
   * Tenants this router admitted that the tenant table may not have read back yet (without a table: every
   * tenant it admitted). With them, the router judges `tenant_cap` as one process's FleetState does.
   */
  private readonly admittedTenants = new Set<string>();
  /** The watermark last announced to every partition. */
  private announced = Number.NEGATIVE_INFINITY;
  private readonly decoder: InputDecoder;
  readonly addresses: AddressMap;
  private readonly sink: RecordSink;
  private out: Routed[] = [];
  /** What flows released outside `route` (a claim read from the table) produced, for the next transaction. */
  private released: Routed[] = [];

  constructor(
    private readonly config: PipelineConfig & { limits: DecodeLimits },
    onReject: RejectHandler,
    /** A member's shared address table; without it (one process, the tests) the router keeps its own map. */
    private readonly table: AddressTable | null = null,
    /** The member's global table of tenants (read from `<app>-tenants`); without it, the tenants this router admitted. */
    private readonly tenantTable: ReadonlyMap<string, unknown> | null = null,
  ) {
    super(config, onReject);
    this.decoder = new InputDecoder(config);
    this.schedule = new RunSchedule(config.reclusterEveryMs);
    // Flows that carry only addresses are attributed at the route, where their VM ids become the key. In a
    // member the shared table (every member's claims, durable in <app>-addresses) does it; this map serves
    // a router on its own (LocalTopology, the tests), which routes the VM attributes itself.
    this.addresses = new AddressMap({
      horizonMs: config.window.windowMs + config.window.allowedLatenessMs,
      maxClaims: config.maxAddressClaims ?? DEFAULT_MAX_CLAIMS,
    });
    this.sink = {
      flow: (f, raw, index) => this.intakeFlow(f, raw, index),
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
    if (!(this.eventTime > this.announced)) return;
    // Deleted VMs the event time has left behind by the horizon: their keys leave the shared table.
    if (this.table !== null) for (const vm of this.table.expiredDeletions(this.eventTime)) out.push({ to: 'addresses', key: vm, value: null });
    this.announced = this.eventTime;
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
    for (const ip of ips) if (this.releaseHeldAt(ip)) changed = true;
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
      watermark: finiteOrNull(this.eventTime),
      sweptAt: finiteOrNull(this.sweptAt),
      sweptBucket: finiteOrNull(this.sweptBucket),
      nextTick: finiteOrNull(this.schedule.next),
      records: { ...this.recordsIn },
      rejected: this.rejections.summary(),
    };
  }

  restoreState(s: RouterState): void {
    this.eventTime = s.watermark ?? Number.NEGATIVE_INFINITY;
    this.announced = this.eventTime;
    this.sweptAt = s.sweptAt ?? Number.NEGATIVE_INFINITY;
    this.sweptBucket = s.sweptBucket ?? Number.NEGATIVE_INFINITY;
    this.schedule.next = s.nextTick ?? Number.NaN;
    Object.assign(this.recordsIn, s.records);
    this.rejections.restore(s.rejected);
  }

  private time(): { w: number | null; sa: number | null } {
    return { w: finiteOrNull(this.eventTime), sa: finiteOrNull(this.sweptAt) };
  }

  protected get watermark(): number {
    return this.eventTime;
  }

  /** The latest flow time this router accepted (its input partition's watermark); -Infinity before the first. */
  get latest(): number {
    return this.eventTime;
  }

  /** The address map attributing flows: the member's shared table, or this router's own. */
  protected get map(): AddressMap {
    return this.table?.map ?? this.addresses;
  }

  protected get allowedLatenessMs(): number {
    return this.config.window.allowedLatenessMs;
  }

  /** A flow that passed the future bound, routed as FleetState.applyFlow would apply it. */
  protected accept(f: FlowRecord, raw: unknown, index: number | null): void {
    // The same event time as FleetState.applyFlow: a later flow moves the watermark (and sweeps when it
    // enters a new bucket), a flow later than the allowed lateness behind it is rejected.
    const ts = f.ts;
    if (ts > this.eventTime) {
      this.eventTime = ts;
      const bucket = Math.floor(ts / this.config.window.bucketMs);
      if (bucket > this.sweptBucket) {
        this.sweptBucket = bucket;
        this.sweptAt = ts;
      }
    } else if (ts < this.eventTime - this.config.window.allowedLatenessMs) {
      this.reject(
        rejection(
          'too_late',
          'ts',
          `ts is ${Math.round((this.eventTime - ts) / 1000)} s behind the watermark; allowed lateness is ${this.config.window.allowedLatenessMs / 1000} s`,
        ),
        index,
        raw,
      );
      return;
    }
    const w = finiteOrNull(this.eventTime);
    const sa = finiteOrNull(this.sweptAt);
    // The decoder reuses its record: the halves share a copy.
    const r = { ...f };
    if (f.srcVm !== null) this.out.push({ to: 'by-vm', key: f.srcVm, record: { k: 'f', o: true, r, w, sa } });
    if (f.dstVm !== null) this.out.push({ to: 'by-vm', key: f.dstVm, record: { k: 'f', o: false, r, w, sa } });
    this.out.push({ to: 'connections', flow: r });
  }

  /** The end of a trace (LocalTopology): nothing more can come for the flows still held. */
  releaseHeld(out: Routed[]): void {
    this.out = out;
    this.expireHeld(Number.POSITIVE_INFINITY);
  }

  private vmAttributes(a: VmAttributes, raw: unknown, index: number | null): void {
    this.recordsIn.vmAttributes++;
    const refused = this.future.checkAttributes(a.ts, this.eventTime);
    if (refused) this.reject(refused, index, raw);
    else {
      // The claims travel in the same transaction as the attributes' by-VM record.
      const claims = this.table?.observe(a) ?? null;
      if (claims !== null) this.out.push({ to: 'addresses', key: a.vmId, value: encodeAddressRecord(claims) });
      this.out.push({ to: 'by-vm', key: a.vmId, record: { k: 'v', r: a, ...this.time() } });
      // As in one process, after the attributes: a new or earlier claim releases the flows held at its
      // address. A member's table tells every router of the member itself (member.ts).
      if (this.table === null && this.addresses.observe(a) && a.ip !== null) this.releaseHeldAt(a.ip);
    }
  }

  private tenantAttributes(t: TenantAttributes, raw: unknown, index: number | null): void {
    this.recordsIn.tenantAttributes++;
    const refused = this.future.checkAttributes(t.ts, this.eventTime);
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

  /** The run schedule (as one process's), checked after each message: a tick due is announced to every partition. */
  private tickIfDue(): void {
    const tick = this.schedule.due(this.eventTime);
    if (tick === null) return;
    this.announced = this.eventTime;
    this.out.push({ to: 'by-vm-all', record: { k: 't', tick, ...this.time() } });
  }
}
