/**
 * The live state of the fleet in event time: per-VM windows of traffic counters, the latest attributes of
 * VMs and tenants, and the watermark. Pure: records in, nothing out but queries.
 */
import { ICMP, ICMPV6, TCP, UDP } from '../contract/protocols.ts';
import type { FlowRecord, TenantAttributes, VmAttributes } from '../contract/records.ts';
import { type Rejection, rejection } from '../contract/rejections.ts';
import { isInfraPort, LOCAL_SERVICE, METADATA_IPS, portClass, REMOTE_SERVICE, serviceEnd } from '../traffic/ports.ts';
import {
  S_BYTES_CLIENT,
  S_BYTES_CROSS_HOST,
  S_BYTES_EXTERNAL,
  S_BYTES_HOST_KNOWN,
  S_BYTES_ICMP,
  S_BYTES_IN,
  S_BYTES_INFRA,
  S_BYTES_OUT,
  S_BYTES_PEER,
  S_BYTES_SERVER,
  S_BYTES_TCP,
  S_BYTES_UDP,
  S_BYTES_VM_PEER,
  S_FLOWS_CLIENT,
  S_FLOWS_IN,
  S_FLOWS_INFRA,
  S_FLOWS_OUT,
  S_FLOWS_SERVER,
  S_PACKETS_IN,
  S_PACKETS_OUT,
  S_SERVED_BASE,
  S_USED_BASE,
  STAT_COUNT,
} from '../traffic/vm-stats.ts';
import {
  type DistinctSetsState,
  type DistinctShape,
  DistinctSets,
  LOCAL_PORTS,
  PEERS_IN,
  PEERS_OUT,
  REMOTE_PORTS,
} from '../windows/distinct-sets.ts';
import { DEFAULT_MAX_VM_PAIRS, PairTraffic, type PairTrafficState } from '../windows/pair-traffic.ts';
import { RingSlab } from '../windows/ring-slab.ts';
import { sortSteps } from '../core/sort-steps.ts';
import {
  DEFAULT_DELETED_RETENTION_MS,
  DEFAULT_MAX_DELETED_VMS,
  DEFAULT_MAX_TENANT_LABELS,
  DEFAULT_MAX_TENANTS,
  DEFAULT_MAX_VMS,
  idleMsOf,
  validateWindowConfig,
  type WindowConfig,
  windowBuckets,
} from '../windows/window-config.ts';
import { VmEntry } from './vm-entry.ts';
import { VmIndex } from './vm-index.ts';

export interface FleetCounters {
  flowsApplied: number;
  /** Flows whose every VM end was already deleted: valid, but they change nothing. */
  flowsForDeletedVms: number;
  vmAttributesApplied: number;
  /** Attribute records older than the one already held (the newest ts wins). */
  vmAttributesStale: number;
  /**
   * Attribute records older than the idle time before the VM's entry was made (or before the last sweep,
   * for a VM not held): they belong to a VM that expired, and are dropped as the sweep would have.
   */
  vmAttributesExpired: number;
  tenantAttributesApplied: number;
  tenantAttributesStale: number;
  vmsDeleted: number;
  /** VMs forgotten after a silence of the idle time (event time): no flow, no attributes message. */
  vmsExpired: number;
  /** Tombstones of deleted VMs forgotten after the deleted retention. */
  deletedForgotten: number;
  /** Record ends (a flow's VM, an attributes message) naming a new VM while `maxVms` were tracked: not applied. */
  vmsRefused: number;
  /** Flows that changed nothing because each VM they name was refused at `maxVms`. */
  flowsRefused: number;
  /** New VM pairs not remembered because the pair table held `maxVmPairs`. */
  vmPairsRefused: number;
  /** Times a VM's distinct peer or port set outgrew `maxPeersPerVm` and switched to a sketch. */
  peerSetsSketched: number;
  /** Attribute messages naming a new tenant while `maxTenants` were held: not applied. */
  tenantsRefused: number;
  /** Tenant attribute messages applied without their labels, which would have passed `maxTenantLabels`. */
  tenantLabelsRefused: number;
  /** Tombstones of deleted VMs forgotten before their retention, oldest first, to stay within `maxDeletedVms`. */
  deletedEvicted: number;
}

/** The whole state as plain data (views, not copies, of the typed arrays): what the fleet codec writes. */
export interface FleetStateData {
  watermark: number;
  nextSerial: number;
  sweptBucket: number;
  sweptAt: number;
  counters: FleetCounters;
  /** In the order of `vms`. */
  vms: VmData[];
  deleted: Array<[string, number]>;
  deletedSerials: Array<[string, number]>;
  tenants: TenantAttributes[];
  pairs: PairTrafficState;
  /** Announced host capacities (placement advice); absent from states written before they were kept. */
  hostCapacity?: Array<[string, HostCapacity]>;
}

export interface HostCapacity {
  vcpus: number;
  memoryMb: number;
  ts: number;
  /** The host's labels, when it sent any: racks and zones for tiered placement costs. */
  labels?: Record<string, string>;
}

export interface VmData {
  vmId: string;
  serial: number;
  lastSeen: number;
  bornAfterSweep: number;
  attributes: VmAttributes | null;
  /** The ring's slot buckets then counters (RingSlab.ringView). */
  ring: Float64Array;
  distinct: DistinctSetsState;
}

/** Attributes later than a bound, dropped from the state (FleetState.dropFutureAttributes). */
export interface FutureAttributes {
  /** VM id and the time of its deletion. */
  tombstones: Array<[string, number]>;
  tenants: TenantAttributes[];
  vmAttributes: VmAttributes[];
}

/** The limits that can be reached, for the `onCapHit` hook. */
export type FleetCap = 'max_vms' | 'max_vm_pairs' | 'max_peers_per_vm' | 'max_tenants' | 'max_tenant_labels' | 'max_deleted_vms';

/** Hosts whose capacity is kept (placement advice): far above any one region's compute hosts. */
const MAX_HOSTS = 100_000;

export class FleetState {
  readonly config: WindowConfig;
  readonly vms = new Map<string, VmEntry>();
  /** Deleted VMs with the event time of their deletion, so that older messages cannot revive them. */
  readonly deleted = new Map<string, number>();
  /** Serials of deleted VMs, so that flows still arriving for one count it as the same peer as before. */
  private readonly deletedSerials = new Map<string, number>();
  /** Live entries by serial, to resolve peers at feature extraction (a Map: serials are never reused). */
  private readonly bySerial = new Map<number, VmEntry>();
  readonly tenants = new Map<string, TenantAttributes>();
  /** Capacity each host announced on the host-attributes topic (placement advice); newest ts wins. */
  readonly hostCapacity = new Map<string, HostCapacity>();
  /** New hosts turned away at MAX_HOSTS. */
  hostsRefused = 0;
  /** Newest flow event time seen; -Infinity before the first flow. */
  watermark = Number.NEGATIVE_INFINITY;
  readonly counters: FleetCounters = {
    flowsApplied: 0,
    flowsForDeletedVms: 0,
    vmAttributesApplied: 0,
    vmAttributesStale: 0,
    vmAttributesExpired: 0,
    tenantAttributesApplied: 0,
    tenantAttributesStale: 0,
    vmsDeleted: 0,
    vmsExpired: 0,
    deletedForgotten: 0,
    vmsRefused: 0,
    flowsRefused: 0,
    vmPairsRefused: 0,
    peerSetsSketched: 0,
    tenantsRefused: 0,
    tenantLabelsRefused: 0,
    deletedEvicted: 0,
  };
  /**
   * Called when a cap is hit for the 1st, 10th, 100th... time (a log line's worth, not one per record); the
   * service logs it. Counting never depends on it.
   */
  onCapHit: ((cap: FleetCap, count: number) => void) | null = null;
  /** The same entries as `vms`, for the hot path's lookups. */
  private readonly index = new VmIndex();
  /** Every VM's bucket ring. */
  readonly slab: RingSlab;
  /** Bytes per pair of VMs (by serial) over the window: the traffic graph of affinity groups. */
  readonly pairs: PairTraffic;
  private nextSerial = 0;
  /** Bucket of the watermark at the last sweep of silent VMs. */
  private sweptBucket = Number.NEGATIVE_INFINITY;
  /** The watermark at the last sweep. */
  private sweptAt = Number.NEGATIVE_INFINITY;
  private readonly distinctShape: DistinctShape;
  readonly maxVms: number;
  readonly idleMs: number;
  readonly deletedRetentionMs: number;
  readonly maxTenants: number;
  readonly maxTenantLabels: number;
  readonly maxDeletedVms: number;
  /** Labels held over all tenants, against `maxTenantLabels`. */
  private tenantLabels = 0;
  /** Set by liveEntry when it refused a new VM at the cap. */
  private refused = false;

  /** `restore`: state exported by exportState (the fleet codec's decoding); it is taken over, not copied. */
  constructor(config: WindowConfig, restore?: FleetStateData) {
    this.config = validateWindowConfig(config);
    // One spare slot: the bucket being filled plus a whole window behind it.
    // A restored fleet's slab is sized at once rather than doubled ring by ring.
    this.slab = new RingSlab(windowBuckets(config) + 1, STAT_COUNT, restore ? 2 ** Math.ceil(Math.log2(Math.max(1024, restore.vms.length))) : 1024);
    this.pairs = restore
      ? PairTraffic.fromState(windowBuckets(config), config.maxVmPairs ?? DEFAULT_MAX_VM_PAIRS, restore.pairs)
      : new PairTraffic(windowBuckets(config), config.maxVmPairs);
    this.maxVms = config.maxVms ?? DEFAULT_MAX_VMS;
    this.idleMs = idleMsOf(config);
    this.deletedRetentionMs = config.deletedRetentionMs ?? DEFAULT_DELETED_RETENTION_MS;
    this.maxTenants = config.maxTenants ?? DEFAULT_MAX_TENANTS;
    this.maxTenantLabels = config.maxTenantLabels ?? DEFAULT_MAX_TENANT_LABELS;
    this.maxDeletedVms = config.maxDeletedVms ?? DEFAULT_MAX_DELETED_VMS;
    // The sets report switches straight into the fleet's counters.
    this.distinctShape = {
      cap: config.maxPeersPerVm,
      sketchSlots: windowBuckets(config) + 1,
      onSketched: () => this.capHit('max_peers_per_vm', ++this.counters.peerSetsSketched),
    };
    if (restore) this.restore(restore);
  }

  exportState(): FleetStateData {
    const vms: VmData[] = [];
    for (const e of this.vms.values()) vms.push(this.exportVm(e));
    return { ...this.exportAllButVms(), vms };
  }

  /** Everything exportState holds except the VMs (see exportVm). */
  exportAllButVms(): Omit<FleetStateData, 'vms'> {
    return {
      watermark: this.watermark,
      nextSerial: this.nextSerial,
      sweptBucket: this.sweptBucket,
      sweptAt: this.sweptAt,
      counters: { ...this.counters },
      deleted: [...this.deleted],
      deletedSerials: [...this.deletedSerials],
      tenants: [...this.tenants.values()],
      pairs: this.pairs.exportState(),
      hostCapacity: [...this.hostCapacity.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)),
    };
  }

  /**
   * One VM's data as it is at this moment (views into the live arrays). Counting purges a VM's distinct
   * sets, so an encoder that yields between VMs exports each VM only when it writes it.
   */
  exportVm(e: VmEntry): VmData {
    return {
      vmId: e.vmId,
      serial: e.serial,
      lastSeen: e.lastSeen,
      bornAfterSweep: e.bornAfterSweep,
      attributes: e.attributes,
      ring: this.slab.ringView(e.ring),
      distinct: e.distinct.exportState(),
    };
  }

  private restore(d: FleetStateData): void {
    this.watermark = d.watermark;
    this.nextSerial = d.nextSerial;
    this.sweptBucket = d.sweptBucket;
    this.sweptAt = d.sweptAt;
    Object.assign(this.counters, d.counters);
    for (const v of d.vms) {
      if (this.vms.has(v.vmId)) throw new RangeError(`VM ${v.vmId} appears twice`);
      if (!(v.serial >= 0 && v.serial < this.nextSerial) || this.bySerial.has(v.serial)) throw new RangeError(`VM ${v.vmId} has a bad serial`);
      const e = new VmEntry(v.vmId, v.serial, this.slab, DistinctSets.fromState(this.distinctShape, v.distinct));
      this.slab.writeRing(e.ring, v.ring);
      e.lastSeen = v.lastSeen;
      e.bornAfterSweep = v.bornAfterSweep;
      e.attributes = v.attributes;
      this.insertVm(e);
    }
    for (const [id, at] of d.deleted) this.deleted.set(id, at);
    for (const [id, serial] of d.deletedSerials) this.deletedSerials.set(id, serial);
    for (const t of d.tenants) {
      this.tenants.set(t.tenantId, t);
      this.tenantLabels += labelCount(t);
    }
    for (const [id, c] of d.hostCapacity ?? []) {
      if (this.hostCapacity.has(id)) throw new RangeError(`host ${id} appears twice`);
      if (this.hostCapacity.size >= MAX_HOSTS) throw new RangeError(`more than ${MAX_HOSTS} hosts`);
      this.hostCapacity.set(id, c);
    }
  }

  private capHit(cap: FleetCap, count: number): void {
    // 1, 10, 100, ...: the first hit and then each tenfold.
    if (this.onCapHit !== null && 10 ** Math.round(Math.log10(count)) === count) this.onCapHit(cap, count);
  }

  bucketOf(ts: number): number {
    return Math.floor(ts / this.config.bucketMs);
  }

  /** First and last bucket of the window that ends at the watermark. */
  windowRange(): { first: number; last: number } {
    const last = this.bucketOf(this.watermark);
    return { first: last - windowBuckets(this.config) + 1, last };
  }

  /**
   * Applies one flow; the record object is not retained. Returns a rejection when it is too late: behind
   * `judgedAt` by more than the allowed lateness. `judgedAt` is the watermark, or the reader's watermark of
   * several input partitions (src/pipeline/partition-watermarks.ts), which trails it by a read lead at most.
   */
  applyFlow(f: FlowRecord, judgedAt = this.watermark): Rejection | null {
    const ts = f.ts;
    if (ts > this.watermark) {
      this.watermark = ts;
      if (this.bucketOf(ts) > this.sweptBucket) this.sweep();
    } else if (ts < judgedAt - this.config.allowedLatenessMs) {
      return rejection(
        'too_late',
        'ts',
        `ts is ${Math.round((judgedAt - ts) / 1000)} s behind the watermark; allowed lateness is ${this.config.allowedLatenessMs / 1000} s`,
      );
    }
    const src = f.srcVm === null ? null : this.liveEntry(f.srcVm, ts);
    const dst = f.dstVm === null ? null : this.liveEntry(f.dstVm, ts);
    if (src === null && dst === null) {
      const refused = this.refused;
      this.refused = false;
      if (!refused) {
        this.counters.flowsForDeletedVms++;
        return null;
      }
      // Lost data, not a record without effect: rejected, so that it is counted by reason and kept.
      this.counters.flowsRefused++;
      return rejection('vm_cap', null, `no VM of the flow is tracked: ${this.maxVms} VMs are (max_vms)`);
    }
    this.refused = false;
    const bucket = this.bucketOf(ts);
    const infra = isInfraTraffic(f);
    if (src !== null) this.accumulate(src, f, bucket, true, dst, infra);
    if (dst !== null) this.accumulate(dst, f, bucket, false, src, infra);
    // Once per record, not per end: the pair is undirected and each direction is its own record.
    if (src !== null && dst !== null && !infra && src !== dst && !this.pairs.add(src.serial, dst.serial, bucket, f.bytes))
      this.capHit('max_vm_pairs', ++this.counters.vmPairsRefused);
    this.counters.flowsApplied++;
    return null;
  }

  /**
   * Scale-out (src/topology/): one VM's side of a flow, in the state of the partition that owns that VM.
   * The peer lives in another partition, so it is known by its key (`peerKey`, the same number for the same
   * VM id everywhere) in the peer sets, and the VM pair is counted by the side with the smaller VM id only,
   * once per record as applyFlow does. The watermark is the router's (advanceTo), so lateness is the
   * router's to judge; but the partition moves with the newest of several routers' watermarks, and a half
   * from a router far behind it may find its bucket gone from the rings. Returned as `too_late` then, with
   * no effect at all (no VM made or kept alive, no pair): applied, it would be counted and silently lost.
   */
  applyFlowHalf(f: FlowRecord, outgoing: boolean, peerKey: (vmId: string) => number): Rejection | null {
    const vmId = outgoing ? f.srcVm : f.dstVm;
    if (vmId === null) return null;
    const bucket = this.bucketOf(f.ts);
    // A ring holds windowBuckets + 1 buckets up to the watermark's: older ones have left every ring. Never
    // true of a half one process would accept (the lateness is at most the window: validateWindowConfig).
    if (bucket <= this.bucketOf(this.watermark) - this.slab.slots) return halfTooLate(this.watermark, f.ts, vmId);
    const own = this.liveEntry(vmId, f.ts);
    if (own === null) {
      if (this.refused) this.counters.flowsRefused++;
      else this.counters.flowsForDeletedVms++;
      this.refused = false;
      return null;
    }
    const infra = isInfraTraffic(f);
    this.accumulate(own, f, bucket, outgoing, null, infra, peerKey);
    const peerId = outgoing ? f.dstVm : f.srcVm;
    if (peerId !== null && !infra && vmId < peerId && !this.pairs.add(peerKey(vmId), peerKey(peerId), bucket, f.bytes))
      this.capHit('max_vm_pairs', ++this.counters.vmPairsRefused);
    this.counters.flowsApplied++;
    return null;
  }

  /**
   * Scale-out: moves to the router's watermark, sweeping first at the router's last sweep point, so that a
   * partition forgets its silent VMs at the same event time as one process holding every VM would.
   */
  advanceTo(sweptAt: number, watermark: number): void {
    if (sweptAt > this.sweptAt) {
      // Several routers (input partitions) may be ahead of one another: never back.
      if (sweptAt > this.watermark) this.watermark = sweptAt;
      this.sweep();
    }
    if (watermark > this.watermark) this.watermark = watermark;
  }

  private liveEntry(vmId: string, ts: number): VmEntry | null {
    let e = this.index.get(vmId);
    if (e === undefined) {
      const deletedAt = this.deleted.get(vmId);
      if (deletedAt !== undefined) return null;
      const added = this.addVm(vmId);
      if (added === null) {
        this.refused = true;
        return null;
      }
      e = added;
    }
    if (ts > e.lastSeen) e.lastSeen = ts;
    return e;
  }

  private accumulate(
    vm: VmEntry,
    f: FlowRecord,
    bucket: number,
    outgoing: boolean,
    peer: VmEntry | null,
    infra: boolean,
    peerKey?: (vmId: string) => number,
  ): void {
    const row = this.slab.row(vm.ring, bucket);
    if (row < 0) return;
    const d = this.slab.data;
    const bytes = f.bytes;
    if (infra) {
      d[row + S_BYTES_INFRA]! += bytes;
      d[row + S_FLOWS_INFRA]! += 1;
      return;
    }
    if (outgoing) {
      d[row + S_BYTES_OUT]! += bytes;
      d[row + S_PACKETS_OUT]! += f.packets;
      d[row + S_FLOWS_OUT]! += 1;
    } else {
      d[row + S_BYTES_IN]! += bytes;
      d[row + S_PACKETS_IN]! += f.packets;
      d[row + S_FLOWS_IN]! += 1;
    }
    const peerVmId = outgoing ? f.dstVm : f.srcVm;
    if (peerVmId === null) {
      d[row + S_BYTES_EXTERNAL]! += bytes;
    } else {
      d[row + S_BYTES_VM_PEER]! += bytes;
    }
    const localHost = (outgoing ? f.srcHost : f.dstHost) ?? vm.hostId;
    const peerHost = (outgoing ? f.dstHost : f.srcHost) ?? peer?.hostId ?? null;
    if (localHost !== null && peerHost !== null && peerVmId !== null) {
      d[row + S_BYTES_HOST_KNOWN]! += bytes;
      if (localHost !== peerHost) d[row + S_BYTES_CROSS_HOST]! += bytes;
    }
    const p = f.protocol;
    if (p === TCP) d[row + S_BYTES_TCP]! += bytes;
    else if (p === UDP) d[row + S_BYTES_UDP]! += bytes;
    else if (p === ICMP || p === ICMPV6) d[row + S_BYTES_ICMP]! += bytes;

    const peerSet = outgoing ? PEERS_OUT : PEERS_IN;
    if (peer !== null) vm.distinct.touch(peerSet, peer.serial, bucket);
    else if (peerVmId !== null && peerKey !== undefined) vm.distinct.touch(peerSet, peerKey(peerVmId), bucket);
    else if (peerVmId !== null) {
      const serial = this.deletedSerials.get(peerVmId);
      if (serial !== undefined) vm.distinct.touch(peerSet, serial, bucket);
      else vm.distinct.touchString(peerSet, peerVmId, bucket);
    }
    else {
      const ip = outgoing ? f.dstIp : f.srcIp;
      const v4 = ipv4Number(ip);
      if (v4 >= 0) vm.distinct.touch(peerSet, IPV4_KEY_BASE + v4, bucket);
      else vm.distinct.touchString(peerSet, ip, bucket);
    }

    const local = outgoing ? f.srcPort : f.dstPort;
    const remote = outgoing ? f.dstPort : f.srcPort;
    if (local < 0 || remote < 0) return;
    const end = serviceEnd(local, remote);
    if (end === LOCAL_SERVICE) {
      d[row + S_BYTES_SERVER]! += bytes;
      d[row + S_FLOWS_SERVER]! += 1;
      d[row + S_SERVED_BASE + portClass(local)]! += bytes;
      vm.distinct.touch(LOCAL_PORTS, local, bucket);
    } else if (end === REMOTE_SERVICE) {
      d[row + S_BYTES_CLIENT]! += bytes;
      d[row + S_FLOWS_CLIENT]! += 1;
      d[row + S_USED_BASE + portClass(remote)]! += bytes;
      vm.distinct.touch(REMOTE_PORTS, remote, bucket);
    } else {
      // Peer-to-peer traffic (cluster interconnects): neither end is the client.
      d[row + S_BYTES_PEER]! += bytes;
    }
  }

  /** A new entry, or null (counted) when `maxVms` are tracked. */
  private addVm(vmId: string): VmEntry | null {
    if (this.vms.size >= this.maxVms) {
      this.capHit('max_vms', ++this.counters.vmsRefused);
      return null;
    }
    const e = new VmEntry(vmId, this.nextSerial++, this.slab, new DistinctSets(this.distinctShape));
    e.bornAfterSweep = this.sweptAt;
    return this.insertVm(e);
  }

  private insertVm(e: VmEntry): VmEntry {
    this.vms.set(e.vmId, e);
    this.index.set(e.vmId, e);
    this.bySerial.set(e.serial, e);
    return e;
  }

  private removeVm(e: VmEntry): void {
    // The ring goes back to the slab's free list; the next new VM takes it (cleared).
    this.slab.release(e.ring);
    this.vms.delete(e.vmId);
    this.index.delete(e.vmId);
    this.bySerial.delete(e.serial);
  }

  /**
   * Forgets VMs silent for the idle time and tombstones past their retention; runs when the watermark
   * enters a new bucket, so that replay and the live service forget the same VMs at the same event time.
   *
   * A VM silent that long has no bucket in the window (idle >= window), so no other VM's peer set or pair
   * counts it in the window either: features are unchanged. What is lost is its attributes: a flow or an
   * attributes message naming it later brings it back as a new VM (a new serial, attributes from the next
   * message). Attributes that arrive after the sweep that expired their VM are dropped when they are older
   * than that sweep by the idle time (`bornAfterSweep`): sweeps depend on the flows only, so a message is
   * dropped whether it is consumed before the sweep (and expires with the VM) or after it. What still
   * depends on the interleaving: attributes that kept a VM alive in one order and arrive after its
   * flows in another (the VM then expires and comes back, losing only traffic older than the window);
   * features at the watermark are the same either way (test/fleet/order-independence.test.ts).
   */
  private sweep(): void {
    this.sweptBucket = this.bucketOf(this.watermark);
    this.sweptAt = this.watermark;
    const silentBefore = this.watermark - this.idleMs;
    for (const e of this.vms.values()) {
      if (e.lastSeen < silentBefore) {
        this.removeVm(e);
        this.counters.vmsExpired++;
      }
    }
    const deletedBefore = this.watermark - this.deletedRetentionMs;
    for (const [vmId, at] of this.deleted) {
      if (at < deletedBefore) {
        this.deleted.delete(vmId);
        this.deletedSerials.delete(vmId);
        this.counters.deletedForgotten++;
      }
    }
  }

  /**
   * Applies a VM's attributes record: the newest ts wins; `deleted` removes the VM from every result.
   * Returns a rejection when the VM is new and `maxVms` are tracked.
   */
  applyVmAttributes(a: VmAttributes): Rejection | null {
    const deletedAt = this.deleted.get(a.vmId);
    if (deletedAt !== undefined) {
      if (a.ts <= deletedAt) {
        this.counters.vmAttributesStale++;
        return null;
      }
      // Newer attributes of a VM that was deleted: the id came back (re-created); start afresh.
      this.deleted.delete(a.vmId);
      this.deletedSerials.delete(a.vmId);
    }
    let e = this.vms.get(a.vmId);
    if (e?.attributes && e.attributes.ts > a.ts) {
      this.counters.vmAttributesStale++;
      return null;
    }
    if (a.ts < (e === undefined ? this.sweptAt : e.bornAfterSweep) - this.idleMs) {
      this.counters.vmAttributesExpired++;
      return null;
    }
    if (a.state === 'deleted') {
      this.counters.vmAttributesApplied++;
      if (e !== undefined) {
        this.deletedSerials.set(a.vmId, e.serial);
        this.removeVm(e);
      }
      this.addTombstone(a.vmId, a.ts);
      this.counters.vmsDeleted++;
      return null;
    }
    if (e === undefined) {
      const added = this.addVm(a.vmId);
      if (added === null) return rejection('vm_cap', 'vm_id', `VM not tracked: ${this.maxVms} VMs are (max_vms)`);
      e = added;
    }
    this.counters.vmAttributesApplied++;
    e.attributes = a;
    if (a.ts > e.lastSeen) e.lastSeen = a.ts;
    return null;
  }

  /**
   * Remembers a deletion. At `maxDeletedVms` the oldest tombstone (first remembered) goes: it is the
   * nearest to its retention anyway, and all it guards against is a message older than its deletion.
   */
  private addTombstone(vmId: string, at: number): void {
    if (!this.deleted.has(vmId) && this.deleted.size >= this.maxDeletedVms) {
      const oldest = this.deleted.keys().next().value;
      if (oldest !== undefined) {
        this.deleted.delete(oldest);
        this.deletedSerials.delete(oldest);
        this.capHit('max_deleted_vms', ++this.counters.deletedEvicted);
      }
    }
    this.deleted.set(vmId, at);
  }

  /**
   * Applies a tenant's attributes record: the newest ts wins. A new tenant at `maxTenants` is refused (a
   * tenant_cap rejection, returned); a message whose labels would pass `maxTenantLabels` is applied without
   * them (a partial set would mislead).
   */
  applyTenantAttributes(t: TenantAttributes): Rejection | null {
    const held = this.tenants.get(t.tenantId);
    if (held && held.ts > t.ts) {
      this.counters.tenantAttributesStale++;
      return null;
    }
    if (held === undefined && this.tenants.size >= this.maxTenants) {
      this.capHit('max_tenants', ++this.counters.tenantsRefused);
      return rejection('tenant_cap', 'tenant_id', `tenant not tracked: ${this.maxTenants} tenants are (max_tenants)`);
    }
    const heldLabels = held === undefined ? 0 : labelCount(held);
    let record = t;
    if (this.tenantLabels - heldLabels + labelCount(t) > this.maxTenantLabels) {
      record = { ...t, labels: null };
      this.capHit('max_tenant_labels', ++this.counters.tenantLabelsRefused);
    }
    this.tenantLabels += labelCount(record) - heldLabels;
    this.counters.tenantAttributesApplied++;
    this.tenants.set(t.tenantId, record);
    return null;
  }

  /**
   * Forgets what attributes messages later than `latest` put in the state: deletion tombstones, tenant
   * attributes, and VM attributes (the VM keeps its traffic; its attributes come back with the next message).
   * For state made before such messages were rejected (a snapshot of an older build) or before there was a
   * time to judge them by (attributes ahead of a replay's first flow). Returns what was dropped.
   */
  dropFutureAttributes(latest: number): FutureAttributes {
    const dropped: FutureAttributes = { tombstones: [], tenants: [], vmAttributes: [] };
    for (const [vmId, at] of this.deleted) {
      if (!(at > latest)) continue;
      this.deleted.delete(vmId);
      this.deletedSerials.delete(vmId);
      dropped.tombstones.push([vmId, at]);
    }
    for (const t of this.tenants.values()) {
      if (!(t.ts > latest)) continue;
      this.tenants.delete(t.tenantId);
      dropped.tenants.push(t);
    }
    const seenBy = Number.isFinite(this.watermark) ? Math.min(this.watermark, latest) : latest;
    for (const e of this.vms.values()) {
      if (e.attributes !== null && e.attributes.ts > latest) {
        dropped.vmAttributes.push(e.attributes);
        e.attributes = null;
      }
      // Only those attributes can have made it so: flows are never later than the watermark.
      if (e.lastSeen > latest) e.lastSeen = seenBy;
    }
    return dropped;
  }

  /**
   * A host's announced capacity (placement advice): the newest ts wins. A new host beyond MAX_HOSTS is
   * refused and counted, so that a flood of host ids cannot grow the map without bound.
   */
  applyHostAttributes(h: { ts: number; hostId: string; vcpus: number; memoryMb: number; labels?: Record<string, string> | null }): void {
    const held = this.hostCapacity.get(h.hostId);
    if (held !== undefined && held.ts > h.ts) return;
    if (held === undefined && this.hostCapacity.size >= MAX_HOSTS) {
      this.hostsRefused++;
      return;
    }
    const c: HostCapacity = { vcpus: h.vcpus, memoryMb: h.memoryMb, ts: h.ts };
    if (h.labels !== undefined && h.labels !== null) c.labels = h.labels;
    this.hostCapacity.set(h.hostId, c);
  }

  /** The live VM with this serial, if any. */
  vmBySerial(serial: number): VmEntry | undefined {
    return this.bySerial.get(serial);
  }

  /** A held VM is live when last seen after this: in the window ending at the watermark. */
  liveSince(): number {
    return this.watermark - this.config.windowMs;
  }

  /** VMs that are not deleted and were seen in the window ending at the watermark, sorted by id. */
  liveVms(): VmEntry[] {
    const out = this.unsortedLiveVms();
    out.sort(byVmId);
    return out;
  }

  /**
   * liveVms as steps of at most `perStep` VMs placed by the sort (sortSteps; at once with an infinite one): at
   * 11.6k VMs the sort alone held the loop 12 ms. Nothing may change the fleet until the last step.
   */
  *liveVmsSteps(perStep: number): Generator<number, VmEntry[], void> {
    if (!Number.isFinite(perStep)) return this.liveVms();
    return yield* sortSteps(this.unsortedLiveVms(), byVmId, perStep);
  }

  private unsortedLiveVms(): VmEntry[] {
    const since = this.liveSince();
    const out: VmEntry[] = [];
    for (const e of this.vms.values()) if (e.lastSeen > since) out.push(e);
    return out;
  }
}

/** VM ids are unique: any sort by them gives one order, the native one's (liveVms) and sortSteps' alike. */
function byVmId(a: VmEntry, b: VmEntry): number {
  return a.vmId < b.vmId ? -1 : a.vmId > b.vmId ? 1 : 0;
}

function labelCount(t: TenantAttributes): number {
  return t.labels === null ? 0 : Object.keys(t.labels).length;
}

/** IPv4 peers are counted as numbers above every VM serial: no string hashing on the hot path. */
const IPV4_KEY_BASE = 2 ** 32;

/** A dotted IPv4 address (already validated) as an unsigned 32-bit number; -1 for anything else. */
export function ipv4Number(ip: string): number {
  let value = 0;
  let octet = 0;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      value = value * 256 + octet;
      octet = 0;
      dots++;
    } else if (c >= 48 && c <= 57) octet = octet * 10 + (c - 48);
    else return -1;
  }
  return dots === 3 ? value * 256 + octet : -1;
}

function isInfraTraffic(f: FlowRecord): boolean {
  if (f.srcVm === null && METADATA_IPS.has(f.srcIp)) return true;
  if (f.dstVm === null && METADATA_IPS.has(f.dstIp)) return true;
  if (f.srcPort < 0 || f.dstPort < 0) return false;
  // The service end decides: a VM's own DNS server is infra for its clients, and so is its serving side.
  const end = serviceEnd(f.srcPort, f.dstPort);
  return end === REMOTE_SERVICE ? isInfraPort(f.dstPort) : end === LOCAL_SERVICE && isInfraPort(f.srcPort);
}

/** A flow's VM side whose bucket has left the rings of its window partition (FleetState.applyFlowHalf). */
function halfTooLate(watermark: number, ts: number, vmId: string): Rejection {
  return rejection(
    'too_late',
    'ts',
    `ts is ${Math.round((watermark - ts) / 1000)} s behind the watermark of the window partition holding ${vmId}, beyond its window: that side of the flow is not applied`,
  );
}
