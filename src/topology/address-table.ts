/**
 * The address table of a scale-out application (docs/scale-out.md): every VM's address claims, shared by
 * every member through the compacted `<app>-addresses` topic, so that a flow carrying only addresses is
 * attributed by whichever member routes it, whoever routed the VM's attributes and whether or not it has
 * restarted since. A global table, as the tenants are: every member reads it whole before it routes.
 *
 * One record per VM (the topic's key is the VM id, so compaction keeps the newest): the VM's claims (address,
 * VPC, VNI, from and to in event time) and its deletion, that is, its whole address history within the
 * attribution horizon. A record is derived from the history alone, never from the order in which attributes
 * arrived: a member folds the observations of a VM sorted by event time (src/attribution/address-map.ts
 * does the same in one process for attributes that arrive in order), so two members that saw the same
 * attributes write the same record, and a member that reads two records of one VM written concurrently by
 * two members merges them (the union of their observations) instead of keeping the last.
 *
 * Pure: attributes and records in, records out; the member (member.ts) does the Kafka part.
 */
import { z } from 'zod';
import { AddressMap, type AddressMapConfig, type Claim } from '../attribution/address-map.ts';
import type { FlowRecord, VmAttributes } from '../contract/records.ts';

/** A record of `<app>-addresses`: one VM's claims; `to` null while the claim lasts. */
export interface AddressRecord {
  vm: string;
  claims: Array<{ ip: string; vpc: string; vni: number | null; from: number; to: number | null }>;
  /** The VM's newest deletion (event time), or null: older attributes must not give it its address back. */
  deleted: number | null;
}

const RecordShape = z.object({
  vm: z.string().min(1).max(512),
  claims: z
    .array(z.object({ ip: z.string().min(1).max(64), vpc: z.string().max(512), vni: z.number().int().nullable(), from: z.number(), to: z.number().nullable() }))
    .max(1024),
  deleted: z.number().nullable(),
});

export function encodeAddressRecord(r: AddressRecord): string {
  return JSON.stringify(r);
}

/** A record of the table, or null when it is not one (the reader logs it and skips it). */
export function decodeAddressRecord(text: string): AddressRecord | null {
  try {
    const parsed = RecordShape.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** One fact of a VM's address history: it had `ip` at `ts`, or (ip null) it was deleted at `ts`. */
interface Observation {
  ts: number;
  ip: string | null;
  vpc: string;
  vni: number | null;
}

interface History {
  observations: Observation[];
  claims: Claim[];
  deleted: number | null;
}

const sameAddress = (a: Observation | Claim, b: Observation | Claim): boolean => a.ip === b.ip && a.vpc === b.vpc && a.vni === b.vni;

/** Sorted by event time; at the same time an address before a deletion (the deletion wins, as in AddressMap). */
function byTime(a: Observation, b: Observation): number {
  return a.ts - b.ts || (a.ip === null ? 1 : 0) - (b.ip === null ? 1 : 0);
}

/**
 * A VM's claims from its observations: each address holds from its first observation to the next other
 * address or deletion. Returns the observations that matter (each claim's start, each deletion) too.
 */
function fold(vmId: string, all: Observation[], horizonMs: number): History {
  const sorted = [...all].sort(byTime);
  const observations: Observation[] = [];
  const claims: Claim[] = [];
  let open: Claim | null = null;
  let deleted: number | null = null;
  for (const o of sorted) {
    if (o.ip === null) {
      if (deleted === o.ts) continue;
      deleted = o.ts;
      observations.push(o);
      if (open !== null) open.to = o.ts;
      open = null;
      continue;
    }
    if (open !== null && sameAddress(open, o)) continue;
    if (open !== null) open.to = o.ts;
    open = { vmId, vpc: o.vpc, vni: o.vni, ip: o.ip, from: o.ts, to: Number.POSITIVE_INFINITY };
    claims.push(open);
    observations.push(o);
  }
  // Claims that ended longer than the horizon before the VM's newest fact can attribute no flow any more
  // (a flow that old is too late): the record stays as small as the VM's recent history.
  const newest = sorted.length > 0 ? sorted[sorted.length - 1]!.ts : 0;
  const keep = (c: Claim) => !(c.to < newest - horizonMs) && c.to > c.from;
  const kept = claims.filter(keep);
  const keptStarts = new Set(kept.map((c) => c.from));
  return {
    observations: observations.filter((o) => o.ip === null ? o.ts >= newest - horizonMs || o.ts === deleted : keptStarts.has(o.ts)),
    claims: kept,
    deleted,
  };
}

function observationsOf(r: AddressRecord): Observation[] {
  const out: Observation[] = [];
  const starts = new Set(r.claims.map((c) => c.from));
  for (const c of r.claims) {
    out.push({ ts: c.from, ip: c.ip, vpc: c.vpc, vni: c.vni });
    // A claim that ends where no other begins ended with a deletion.
    if (c.to !== null && !starts.has(c.to)) out.push({ ts: c.to, ip: null, vpc: '', vni: null });
  }
  if (r.deleted !== null) out.push({ ts: r.deleted, ip: null, vpc: '', vni: null });
  return out;
}

function sameClaims(a: readonly Claim[], b: readonly Claim[]): boolean {
  return a.length === b.length && a.every((c, i) => sameAddress(c, b[i]!) && c.from === b[i]!.from && c.to === b[i]!.to);
}

export class AddressTable {
  /** The lookup of flows' addresses: the same map (and counters) one process uses. */
  readonly map: AddressMap;
  private readonly histories = new Map<string, History>();
  /** VMs whose newest record this member produced in a transaction that did not commit: produce it again. */
  private readonly unpublished = new Set<string>();
  /** Records read from the table topic (this member's own included). */
  recordsRead = 0;
  /** Tombstones read from the table topic: deleted VMs forgotten. */
  tombstonesRead = 0;
  /** Deleted VMs (and their deletion's event time): candidates for a tombstone once past the horizon. */
  private readonly deletedVms = new Map<string, number>();
  /** VMs whose tombstone this member has produced and not read back yet: produced once. */
  private readonly tombstoning = new Set<string>();
  /**
   * Told the addresses of claims that are new or reach further back than before, whoever's attributes
   * brought them (this member's routers, or a record read from the topic): flows held at them may resolve.
   */
  onClaims: ((ips: string[]) => void) | null = null;

  constructor(readonly config: AddressMapConfig) {
    this.map = new AddressMap(config);
  }

  /** VMs with a history. */
  get vms(): number {
    return this.histories.size;
  }

  /**
   * A VM attributes record this member routes: the VM's new table record, or null when it changes nothing
   * (a VM that reports the same address again, every few minutes, writes nothing). The map learns it at
   * once, so that the flows this member routes next are attributed without waiting for the topic.
   */
  observe(a: VmAttributes): AddressRecord | null {
    let o: Observation;
    if (a.state === 'deleted') o = { ts: a.ts, ip: null, vpc: '', vni: null };
    else if (a.ip !== null) o = { ts: a.ts, ip: a.ip, vpc: a.vpcId ?? '', vni: a.vni };
    // Producers leave optional fields out of some messages: no address is not giving the address up.
    else return null;
    const changed = this.merge(a.vmId, [o]);
    if (!changed && !this.unpublished.has(a.vmId)) return null;
    this.unpublished.delete(a.vmId);
    return this.record(a.vmId);
  }

  /** The transaction that carried these VMs' records aborted: their next attributes write them again. */
  notPublished(vmIds: Iterable<string>): void {
    for (const id of vmIds) {
      // A tombstone that did not land is produced again; a record is, at the VM's next attributes.
      if (this.tombstoning.delete(id)) continue;
      this.unpublished.add(id);
    }
  }

  /**
   * Deleted VMs whose every claim and whose deletion lie more than the horizon behind `watermark`: no flow
   * can be attributed to them any more, so their key goes from the topic (a tombstone, null value, which
   * compaction removes). Each is returned once, until `notPublished` says its tombstone did not land.
   */
  expiredDeletions(watermark: number): string[] {
    const limit = watermark - this.config.horizonMs;
    const out: string[] = [];
    for (const [vm, deleted] of this.deletedVms) {
      if (!(deleted < limit) || this.tombstoning.has(vm)) continue;
      const h = this.histories.get(vm);
      if (h !== undefined && !h.claims.every((c) => c.to < limit)) continue;
      this.tombstoning.add(vm);
      out.push(vm);
    }
    return out;
  }

  /** A tombstone read from the table topic: the VM is forgotten (any member's attributes may bring it back). */
  forget(vmId: string): void {
    this.tombstonesRead++;
    this.tombstoning.delete(vmId);
    this.deletedVms.delete(vmId);
    this.unpublished.delete(vmId);
    const h = this.histories.get(vmId);
    if (h === undefined) return;
    this.histories.delete(vmId);
    this.map.replaceClaims(
      vmId,
      h.claims.map((c) => c.ip),
      [],
      null,
    );
  }

  /** A record read from the table topic: merged with what this member knows of the VM. */
  apply(r: AddressRecord): void {
    this.recordsRead++;
    this.merge(r.vm, observationsOf(r));
  }

  attribute(f: FlowRecord): void {
    this.map.attribute(f);
  }

  record(vmId: string): AddressRecord | null {
    const h = this.histories.get(vmId);
    if (h === undefined) return null;
    return {
      vm: vmId,
      claims: h.claims.map((c) => ({ ip: c.ip, vpc: c.vpc, vni: c.vni, from: c.from, to: Number.isFinite(c.to) ? c.to : null })),
      deleted: h.deleted,
    };
  }

  /** Adds observations to a VM's history; true when its claims or deletion changed. */
  private merge(vmId: string, observations: Observation[]): boolean {
    const before = this.histories.get(vmId);
    const next = fold(vmId, before === undefined ? observations : [...before.observations, ...observations], this.config.horizonMs);
    if (before !== undefined && before.deleted === next.deleted && sameClaims(before.claims, next.claims)) return false;
    this.histories.set(vmId, next);
    if (next.deleted === null) this.deletedVms.delete(vmId);
    else this.deletedVms.set(vmId, next.deleted);
    this.map.replaceClaims(
      vmId,
      (before?.claims ?? []).map((c) => c.ip),
      next.claims,
      next.deleted,
    );
    if (this.onClaims !== null) {
      const was = before?.claims ?? [];
      const ips = next.claims.filter((c) => !was.some((b) => sameAddress(b, c) && b.from <= c.from)).map((c) => c.ip);
      if (ips.length > 0) this.onClaims(ips);
    }
    return true;
  }
}
