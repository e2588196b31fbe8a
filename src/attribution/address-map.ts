/**
 * Attribution of flow addresses to VMs: exporters (OVS IPFIX through a collector, cloud flow logs) name
 * addresses and the overlay segment (VNI), not our VM ids. The map is built from the VM attributes (`ip`,
 * `vpc_id`, `vni`) and scoped by VPC, so the same private address in two VPCs is two VMs, told apart by the
 * flow's VNI. It is time-aware: each VM's hold on an address is an interval of event time, so an address
 * freed by a deleted VM and given to a new one is attributed by the holder at the flow's `ts`.
 *
 * Never a guess: an address with no holder, held in several VPCs when the flow has no VNI, or held by two
 * VMs at once, leaves its side unattributed, counted by reason. Pure: records in, decisions out.
 */
import type { FlowRecord, VmAttributes } from '../contract/records.ts';
import { ipv4Number } from '../fleet/fleet-state.ts';

export const UNATTRIBUTED_REASONS = ['unknown_address', 'ambiguous_no_vni', 'conflicting_claims'] as const;
export type UnattributedReason = (typeof UNATTRIBUTED_REASONS)[number];
/** How one end of a flow came out of `resolve`. */
export type EndOutcome = 'named' | 'outside' | 'by_address' | UnattributedReason;

/** One VM's hold on one address in one VPC, over [from, to) of event time (`to` Infinity while it lasts). */
export interface Claim {
  vmId: string;
  /** The VPC id, '' when the attributes named none. */
  vpc: string;
  vni: number | null;
  ip: string;
  from: number;
  to: number;
}

export interface AttributionCounters {
  /** Flow ends that named their VM (`src_vm`/`dst_vm`): kept as they are. */
  endsNamed: number;
  /** The null end of a flow that names the other VM: outside the overlay, as the contract says. */
  endsOutside: number;
  /** Flow ends attributed through their address (flows that name no VM). */
  endsByAddress: number;
  /** Flow ends left without a VM, by reason. */
  unattributed: Record<UnattributedReason, number>;
  /** New claims not remembered because `maxClaims` were held. */
  claimsRefused: number;
  /** Ended claims forgotten once older than the horizon. */
  claimsForgotten: number;
}

export interface AddressMapConfig {
  /**
   * How long an ended claim (an address freed by a deletion or a change of address) is kept: the window plus
   * the allowed lateness, the oldest event time a flow can still be applied at.
   */
  horizonMs: number;
  /** Claims held at most (open and ended together); a new one beyond is refused and counted. */
  maxClaims: number;
}

export const DEFAULT_MAX_CLAIMS = 400_000;

/** What a snapshot keeps: the claims and the VMs' deletion times, as plain data. */
export interface AddressMapState {
  claims: Claim[];
  deleted: Array<[string, number]>;
  counters: AttributionCounters;
  prunedAt: number;
}

/** Ended claims are swept at most once per this much event time: a sweep walks every address. */
const PRUNE_EVERY_MS = 60_000;

function emptyAttributionCounters(): AttributionCounters {
  return { endsNamed: 0, endsOutside: 0, endsByAddress: 0, unattributed: { unknown_address: 0, ambiguous_no_vni: 0, conflicting_claims: 0 }, claimsRefused: 0, claimsForgotten: 0 };
}

export class AddressMap {
  /** Claims by address, oldest first; usually one. */
  private readonly byAddress = new Map<string, Claim[]>();
  /** Each VM's current claim (`to` Infinity). */
  private readonly open = new Map<string, Claim>();
  /** VMs deleted, with the time: older attributes must not give them their address back. */
  private readonly deleted = new Map<string, number>();
  private claimCount = 0;
  private prunedAt = Number.NEGATIVE_INFINITY;
  readonly counters: AttributionCounters = emptyAttributionCounters();
  /** Set by `lookup`: why the last lookup found no VM. */
  private reason: UnattributedReason = 'unknown_address';
  /** Set by `resolve`: how each end of the flow last resolved came out, until `countResolved`. */
  srcOutcome: EndOutcome = 'named';
  dstOutcome: EndOutcome = 'named';
  /** Claims held per VNI: which overlay segments the attributes have named (a held flow's is one of them). */
  private readonly claimsPerVni = new Map<number, number>();

  constructor(
    readonly config: AddressMapConfig,
    restore?: AddressMapState,
  ) {
    if (restore) this.restore(restore);
  }

  get size(): number {
    return this.claimCount;
  }

  /**
   * Learns from one VM attributes message, in any order: a message older than the VM's current claim with
   * the same address moves the claim's start back (late attributes are honoured for the flows still to
   * come); one with another address records that earlier hold as an ended claim.
   */
  observe(a: VmAttributes): boolean {
    const deletedAt = this.deleted.get(a.vmId);
    if (deletedAt !== undefined) {
      if (a.ts <= deletedAt) return false;
      // A newer message than the deletion: the id came back, as the fleet state treats it.
      this.deleted.delete(a.vmId);
    }
    const current = this.open.get(a.vmId);
    if (a.state === 'deleted') {
      this.remember(a.vmId, a.ts);
      if (current !== undefined && a.ts >= current.from) this.end(current, a.ts);
      return false;
    }
    // Producers leave optional fields out of some messages: a message without an address is not taken as
    // the VM giving its address up; only a deletion or another address ends a claim.
    if (a.ip === null) return false;
    const vpc = a.vpcId ?? '';
    if (current !== undefined) {
      if (current.ip === a.ip && current.vpc === vpc && current.vni === a.vni) {
        if (a.ts >= current.from) return false;
        current.from = a.ts;
        return true;
      }
      if (a.ts < current.from) {
        return this.add({ vmId: a.vmId, vpc, vni: a.vni, ip: a.ip, from: a.ts, to: current.from });
      }
      this.end(current, a.ts);
    }
    const claim: Claim = { vmId: a.vmId, vpc, vni: a.vni, ip: a.ip, from: a.ts, to: Number.POSITIVE_INFINITY };
    if (!this.add(claim)) return false;
    this.open.set(a.vmId, claim);
    return true;
  }

  /**
   * Fills the VM ends of a flow that names neither VM from its addresses, and counts each end by how it was
   * attributed, or why not. A flow that names a VM is the exporter's word on both ends: its null end is
   * outside the overlay (CONTRACT.md), not looked up.
   */
  attribute(f: FlowRecord): void {
    this.resolve(f);
    this.countResolved();
  }

  /**
   * As `attribute`, counting nothing yet: the outcome of each end stays in `srcOutcome` and `dstOutcome`
   * until `countResolved`, so that a flow held for late attributes and resolved again counts once.
   */
  resolve(f: FlowRecord): void {
    if (f.ts >= this.prunedAt + PRUNE_EVERY_MS) this.prune(f.ts);
    if (f.srcVm !== null || f.dstVm !== null) {
      this.srcOutcome = f.srcVm === null ? 'outside' : 'named';
      this.dstOutcome = f.dstVm === null ? 'outside' : 'named';
      return;
    }
    const src = this.lookup(f.srcIp, f.vni, f.ts);
    this.srcOutcome = src === null ? this.reason : 'by_address';
    f.srcVm = src;
    const dst = this.lookup(f.dstIp, f.vni, f.ts);
    this.dstOutcome = dst === null ? this.reason : 'by_address';
    f.dstVm = dst;
  }

  /** Counts the two ends of the flow last resolved. */
  countResolved(): void {
    this.count(this.srcOutcome);
    this.count(this.dstOutcome);
  }

  private count(outcome: EndOutcome): void {
    const c = this.counters;
    if (outcome === 'named') c.endsNamed++;
    else if (outcome === 'outside') c.endsOutside++;
    else if (outcome === 'by_address') c.endsByAddress++;
    else c.unattributed[outcome]++;
  }

  /**
   * Whether attributes still to come could attribute an end of the flow last resolved (one naming no VM):
   * an end is `unknown_address`, its address is private (where VMs live), and the flow's segment is one the
   * attributes have named (any, for a flow without a VNI). Traffic to the internet, or in segments no VM
   * attributes name, is not worth waiting for.
   */
  mayBeClaimedLater(f: FlowRecord): boolean {
    if (f.vni === null ? this.claimCount === 0 : !this.claimsPerVni.has(f.vni)) return false;
    return (this.srcOutcome === 'unknown_address' && isPrivateAddress(f.srcIp)) || (this.dstOutcome === 'unknown_address' && isPrivateAddress(f.dstIp));
  }

  /**
   * The one VM that held `ip` at `ts` in the segment `vni`, or null with the reason in `this.reason`.
   * With a VNI: the holders whose VPC has that VNI; failing those, a holder whose VPC's VNI is not known
   * (attributes without `vni`) when it is the only one. Without a VNI: the holder when only one VPC has it.
   */
  lookup(ip: string, vni: number | null, ts: number): string | null {
    const claims = this.byAddress.get(ip);
    if (claims === undefined) return this.fail('unknown_address');
    let found: Claim | null = null;
    let foundCount = 0;
    let unknownVni: Claim | null = null;
    let unknownVniCount = 0;
    let vpcs = 0;
    let firstVpc: string | null = null;
    for (const c of claims) {
      if (!(c.from <= ts && ts < c.to)) continue;
      if (vni === null) {
        if (firstVpc === null) {
          firstVpc = c.vpc;
          vpcs = 1;
        } else if (c.vpc !== firstVpc) vpcs = 2;
        if (found === null || found.vmId !== c.vmId) foundCount++;
        found = c;
      } else if (c.vni === vni) {
        if (found === null || found.vmId !== c.vmId) foundCount++;
        found = c;
      } else if (c.vni === null) {
        if (unknownVni === null || unknownVni.vmId !== c.vmId) unknownVniCount++;
        unknownVni = c;
      }
    }
    if (vni === null && vpcs > 1) return this.fail('ambiguous_no_vni');
    if (foundCount === 1 && found !== null) return found.vmId;
    if (foundCount > 1) return this.fail('conflicting_claims');
    if (unknownVniCount === 1 && unknownVni !== null) return unknownVni.vmId;
    if (unknownVniCount > 1) return this.fail('ambiguous_no_vni');
    return this.fail('unknown_address');
  }

  /**
   * Replaces every claim of one VM by `claims` and its deletion by `deletedAt`: the scale-out address table
   * (src/topology/address-table.ts) derives a VM's claims from its whole history, not message by message.
   * `previousIps`: the addresses of the claims it gave before, where they are to be removed.
   */
  replaceClaims(vmId: string, previousIps: Iterable<string>, claims: readonly Claim[], deletedAt: number | null): void {
    for (const ip of new Set(previousIps)) {
      const list = this.byAddress.get(ip);
      if (list === undefined) continue;
      const kept = list.filter((c) => c.vmId !== vmId);
      this.claimCount -= list.length - kept.length;
      if (kept.length === 0) this.byAddress.delete(ip);
      else this.byAddress.set(ip, kept);
    }
    this.open.delete(vmId);
    // Claims the last prune forgot stay forgotten: no flow that old can be applied.
    const before = this.prunedAt - this.config.horizonMs;
    for (const c of claims) {
      if (c.to < before) continue;
      const claim = { ...c };
      if (this.add(claim) && claim.to === Number.POSITIVE_INFINITY) this.open.set(vmId, claim);
    }
    if (deletedAt === null) this.deleted.delete(vmId);
    else this.remember(vmId, deletedAt);
  }

  private fail(reason: UnattributedReason): null {
    this.reason = reason;
    return null;
  }

  /** A deletion, within the same cap as the claims: at it the oldest deletion remembered goes. */
  private remember(vmId: string, at: number): void {
    if (!this.deleted.has(vmId) && this.deleted.size >= this.config.maxClaims) {
      const oldest = this.deleted.keys().next().value;
      if (oldest !== undefined) this.deleted.delete(oldest);
    }
    this.deleted.set(vmId, at);
  }

  private end(claim: Claim, at: number): void {
    claim.to = at;
    if (this.open.get(claim.vmId) === claim) this.open.delete(claim.vmId);
  }

  private add(claim: Claim): boolean {
    if (this.claimCount >= this.config.maxClaims) {
      this.counters.claimsRefused++;
      return false;
    }
    const list = this.byAddress.get(claim.ip);
    if (list === undefined) this.byAddress.set(claim.ip, [claim]);
    else list.push(claim);
    this.claimCount++;
    if (claim.vni !== null) this.claimsPerVni.set(claim.vni, (this.claimsPerVni.get(claim.vni) ?? 0) + 1);
    return true;
  }

  /** Forgets ended claims and deletions older than the horizon behind `now`: no flow can be applied there. */
  prune(now: number): void {
    this.prunedAt = now;
    const before = now - this.config.horizonMs;
    for (const [ip, list] of this.byAddress) {
      let kept = 0;
      for (const c of list) {
        if (c.to < before) {
          this.counters.claimsForgotten++;
          if (c.vni !== null) this.forgetVni(c.vni);
        } else list[kept++] = c;
      }
      if (kept === list.length) continue;
      this.claimCount -= list.length - kept;
      if (kept === 0) this.byAddress.delete(ip);
      else list.length = kept;
    }
    for (const [vmId, at] of this.deleted) if (at < before) this.deleted.delete(vmId);
  }

  private forgetVni(vni: number): void {
    const n = (this.claimsPerVni.get(vni) ?? 1) - 1;
    if (n === 0) this.claimsPerVni.delete(vni);
    else this.claimsPerVni.set(vni, n);
  }

  exportState(): AddressMapState {
    const claims: Claim[] = [];
    for (const list of this.byAddress.values()) for (const c of list) claims.push({ ...c });
    return {
      claims,
      deleted: [...this.deleted],
      counters: { ...this.counters, unattributed: { ...this.counters.unattributed } },
      prunedAt: this.prunedAt,
    };
  }

  private restore(s: AddressMapState): void {
    for (const c of s.claims) {
      const claim = { ...c };
      this.add(claim);
      if (claim.to === Number.POSITIVE_INFINITY) this.open.set(claim.vmId, claim);
    }
    for (const [vmId, at] of s.deleted) this.deleted.set(vmId, at);
    Object.assign(this.counters, s.counters, { unattributed: { ...s.counters.unattributed } });
    this.prunedAt = s.prunedAt;
  }
}

/**
 * RFC 1918, shared address space (RFC 6598) and IPv6 unique local addresses (fc00::/7): where VMs live in a
 * VPC. Over canonical addresses (src/contract/ip-address.ts), so a look at the first characters serves:
 * node:net's BlockList gives the same answers (test/attribution/address-map.test.ts) at about 13 µs a check.
 */
export function isPrivateAddress(ip: string): boolean {
  const v4 = ipv4Number(ip);
  if (v4 >= 0) {
    const a = Math.floor(v4 / 2 ** 24);
    const b = Math.floor(v4 / 2 ** 16) % 256;
    return a === 10 || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b < 128);
  }
  // fc00::/7: a first group of four hex digits (canonical form drops leading zeros) starting fc or fd.
  const c1 = ip.charCodeAt(1);
  return ip.charCodeAt(0) === 102 && (c1 === 99 || c1 === 100) && ip.indexOf(':') === 4;
}
