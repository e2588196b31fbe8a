/**
 * The live state of the fleet in event time: per-VM windows of traffic counters, the latest attributes of
 * VMs and tenants, and the watermark. Pure: records in, nothing out but queries.
 */
import { ICMP, ICMPV6, TCP, UDP } from '../contract/protocols.ts';
import type { FlowRecord, TenantAttributes, VmAttributes } from '../contract/records.ts';
import { type Rejection, rejection } from '../contract/rejections.ts';
import { isInfraPort, LOCAL_SERVICE, METADATA_IPS, portClass, REMOTE_SERVICE, serviceEnd } from '../features/ports.ts';
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
} from '../features/vm-stats.ts';
import { LOCAL_PORTS, PEERS_IN, PEERS_OUT, REMOTE_PORTS } from '../windows/distinct-sets.ts';
import { PairTraffic } from '../windows/pair-traffic.ts';
import { RingSlab } from '../windows/ring-slab.ts';
import { validateWindowConfig, type WindowConfig, windowBuckets } from '../windows/window-config.ts';
import { VmEntry } from './vm-entry.ts';
import { VmIndex } from './vm-index.ts';

export interface FleetCounters {
  flowsApplied: number;
  /** Flows whose every VM end was already deleted: valid, but they change nothing. */
  flowsForDeletedVms: number;
  vmAttributesApplied: number;
  /** Attribute snapshots older than the one already held (the newest ts wins). */
  vmAttributesStale: number;
  tenantAttributesApplied: number;
  tenantAttributesStale: number;
  vmsDeleted: number;
}

export class FleetState {
  readonly config: WindowConfig;
  readonly vms = new Map<string, VmEntry>();
  /** Deleted VMs with the event time of their deletion, so that older messages cannot revive them. */
  readonly deleted = new Map<string, number>();
  /** Serials of deleted VMs, so that flows still arriving for one count it as the same peer as before. */
  private readonly deletedSerials = new Map<string, number>();
  /** Live entries by serial, to resolve peers at feature extraction. */
  private readonly bySerial: (VmEntry | undefined)[] = [];
  readonly tenants = new Map<string, TenantAttributes>();
  /** Newest flow event time seen; -Infinity before the first flow. */
  watermark = Number.NEGATIVE_INFINITY;
  readonly counters: FleetCounters = {
    flowsApplied: 0,
    flowsForDeletedVms: 0,
    vmAttributesApplied: 0,
    vmAttributesStale: 0,
    tenantAttributesApplied: 0,
    tenantAttributesStale: 0,
    vmsDeleted: 0,
  };
  /** The same entries as `vms`, for the hot path's lookups. */
  private readonly index = new VmIndex();
  /** Every VM's bucket ring. */
  readonly slab: RingSlab;
  /** Bytes per pair of VMs (by serial) over the window: the traffic graph of affinity groups. */
  readonly pairs: PairTraffic;
  private nextSerial = 0;

  constructor(config: WindowConfig) {
    this.config = validateWindowConfig(config);
    // One spare slot: the bucket being filled plus a whole window behind it.
    this.slab = new RingSlab(windowBuckets(config) + 1, STAT_COUNT);
    this.pairs = new PairTraffic(windowBuckets(config), config.maxVmPairs);
  }

  bucketOf(ts: number): number {
    return Math.floor(ts / this.config.bucketMs);
  }

  /** First and last bucket of the window that ends at the watermark. */
  windowRange(): { first: number; last: number } {
    const last = this.bucketOf(this.watermark);
    return { first: last - windowBuckets(this.config) + 1, last };
  }

  /** Applies one flow; the record object is not retained. Returns a rejection when it is too late. */
  applyFlow(f: FlowRecord): Rejection | null {
    const ts = f.ts;
    if (ts > this.watermark) this.watermark = ts;
    else if (ts < this.watermark - this.config.allowedLatenessMs) {
      return rejection(
        'too_late',
        'ts',
        `ts is ${Math.round((this.watermark - ts) / 1000)} s behind the watermark; allowed lateness is ${this.config.allowedLatenessMs / 1000} s`,
      );
    }
    const src = f.srcVm === null ? null : this.liveEntry(f.srcVm, ts);
    const dst = f.dstVm === null ? null : this.liveEntry(f.dstVm, ts);
    if (src === null && dst === null) {
      this.counters.flowsForDeletedVms++;
      return null;
    }
    const bucket = this.bucketOf(ts);
    const infra = isInfraTraffic(f);
    if (src !== null) this.accumulate(src, f, bucket, true, dst, infra);
    if (dst !== null) this.accumulate(dst, f, bucket, false, src, infra);
    // Once per record, not per end: the pair is undirected and each direction is its own record.
    if (src !== null && dst !== null && !infra && src !== dst) this.pairs.add(src.serial, dst.serial, bucket, f.bytes);
    this.counters.flowsApplied++;
    return null;
  }

  private liveEntry(vmId: string, ts: number): VmEntry | null {
    let e = this.index.get(vmId);
    if (e === undefined) {
      const deletedAt = this.deleted.get(vmId);
      if (deletedAt !== undefined) return null;
      e = this.addVm(vmId);
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

  private addVm(vmId: string): VmEntry {
    const e = new VmEntry(vmId, this.nextSerial++, this.slab, this.config.maxPeersPerVm);
    this.vms.set(vmId, e);
    this.index.set(vmId, e);
    this.bySerial[e.serial] = e;
    return e;
  }

  private removeVm(e: VmEntry): void {
    this.slab.release(e.ring);
    this.vms.delete(e.vmId);
    this.index.delete(e.vmId);
    this.bySerial[e.serial] = undefined;
  }

  /** Applies a VM's attribute snapshot: the newest ts wins; `deleted` removes the VM from every result. */
  applyVmAttributes(a: VmAttributes): void {
    const deletedAt = this.deleted.get(a.vmId);
    if (deletedAt !== undefined) {
      if (a.ts <= deletedAt) {
        this.counters.vmAttributesStale++;
        return;
      }
      // A newer snapshot of a VM that was deleted: the id came back (re-created); start afresh.
      this.deleted.delete(a.vmId);
      this.deletedSerials.delete(a.vmId);
    }
    let e = this.vms.get(a.vmId);
    if (e?.attributes && e.attributes.ts > a.ts) {
      this.counters.vmAttributesStale++;
      return;
    }
    this.counters.vmAttributesApplied++;
    if (a.state === 'deleted') {
      if (e !== undefined) {
        this.deletedSerials.set(a.vmId, e.serial);
        this.removeVm(e);
      }
      this.deleted.set(a.vmId, a.ts);
      this.counters.vmsDeleted++;
      return;
    }
    e ??= this.addVm(a.vmId);
    e.attributes = a;
    if (a.ts > e.lastSeen) e.lastSeen = a.ts;
  }

  applyTenantAttributes(t: TenantAttributes): void {
    const held = this.tenants.get(t.tenantId);
    if (held && held.ts > t.ts) {
      this.counters.tenantAttributesStale++;
      return;
    }
    this.counters.tenantAttributesApplied++;
    this.tenants.set(t.tenantId, t);
  }

  /** The live VM with this serial, if any. */
  vmBySerial(serial: number): VmEntry | undefined {
    return this.bySerial[serial];
  }

  /** VMs that are not deleted and were seen in the window ending at the watermark, sorted by id. */
  liveVms(): VmEntry[] {
    const since = this.watermark - this.config.windowMs;
    const out: VmEntry[] = [];
    for (const e of this.vms.values()) if (e.lastSeen > since) out.push(e);
    out.sort((a, b) => (a.vmId < b.vmId ? -1 : a.vmId > b.vmId ? 1 : 0));
    return out;
  }
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
