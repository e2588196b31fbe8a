/**
 * The placement problem as typed arrays: hosts numbered by sorted id, each VM's host, size and
 * constraints, and the traffic graph as adjacency lists in bytes per minute. Built once per advice; every
 * strategy (greedy.ts) reads it and never changes it.
 */
import type { PlacementInput, PlacementOptions } from './types.ts';

export interface PlacementFleet {
  vmCount: number;
  hostIds: string[];
  /** Host of each VM before any move, -1 when the VM has none. */
  hostOf: Int32Array;
  vcpus: Float64Array;
  memoryMb: Float64Array;
  /** 1 when both sizes are known: a VM of unknown size cannot be checked against capacity, so never moves. */
  sized: Uint8Array;
  pinned: Uint8Array;
  /** Anti-affinity group of each VM, -1 for none. */
  antiAffinity: Int32Array;
  antiAffinityGroups: number;
  /** Capacity of each host, NaN when unknown and no default applies. */
  capVcpus: Float64Array;
  capMemoryMb: Float64Array;
  /** Adjacency in CSR form: neighbours of VM v are adjTo[adjStart[v] .. adjStart[v + 1]). */
  adjStart: Int32Array;
  adjTo: Int32Array;
  /** Bytes per minute over the window. */
  adjWeight: Float64Array;
  /** Pairs with traffic left out because one of their VMs has no host. */
  pairsWithoutHost: number;
  /** Pairs with traffic between two VMs that both have a host. */
  pairs: number;
  /** Rack and zone of each host when some host carries a tier label, null otherwise (every distance 1). */
  tiers: FleetTiers | null;
}

export interface FleetTiers {
  /** Rack of each host (numbered within its zone), -1 when the host has no rack label. */
  rackOf: Int32Array;
  /** Zone of each host, -1 when the host has no zone label. */
  zoneOf: Int32Array;
  /** Hosts of each rack (or of each zone, for a host with a zone and no rack): where a VM can join its peers' tier. */
  neighbourhoodOf: Int32Array;
  neighbourhoods: number[][];
  sameRack: number;
  sameZone: number;
  acrossZones: number;
}

export function prepareFleet(input: PlacementInput, options: PlacementOptions): PlacementFleet {
  const { vms, pairs } = input;
  const n = vms.length;
  const hostSet = new Set<string>(input.hostCapacity.keys());
  for (const vm of vms) if (vm.host !== null) hostSet.add(vm.host);
  const hostIds = [...hostSet].sort();
  const hostIndex = new Map(hostIds.map((h, i) => [h, i]));
  const H = hostIds.length;
  const hostOf = new Int32Array(n);
  const vcpus = new Float64Array(n);
  const memoryMb = new Float64Array(n);
  const sized = new Uint8Array(n);
  const pinned = new Uint8Array(n);
  const antiAffinity = new Int32Array(n).fill(-1);
  const aaIndex = new Map<string, number>();
  for (let v = 0; v < n; v++) {
    const vm = vms[v]!;
    hostOf[v] = vm.host === null ? -1 : hostIndex.get(vm.host)!;
    const known = validSize(vm.vcpus) && validSize(vm.memoryMb);
    sized[v] = known ? 1 : 0;
    vcpus[v] = known ? vm.vcpus! : 0;
    memoryMb[v] = known ? vm.memoryMb! : 0;
    const labels = vm.labels;
    if (labels !== null) {
      pinned[v] = labels[options.pinnedLabel] === 'true' ? 1 : 0;
      const g = labels[options.antiAffinityLabel];
      if (g !== undefined && g !== '') {
        let id = aaIndex.get(g);
        if (id === undefined) {
          id = aaIndex.size;
          aaIndex.set(g, id);
        }
        antiAffinity[v] = id;
      }
    }
  }
  const capVcpus = new Float64Array(H).fill(Number.NaN);
  const capMemoryMb = new Float64Array(H).fill(Number.NaN);
  const fallback = defaultCapacityOf(options.defaultCapacity, hostOf, vcpus, memoryMb, H);
  for (let h = 0; h < H; h++) {
    const c = input.hostCapacity.get(hostIds[h]!) ?? fallback;
    if (c !== null && validSize(c.vcpus) && validSize(c.memoryMb)) {
      capVcpus[h] = c.vcpus;
      capMemoryMb[h] = c.memoryMb;
    }
  }
  const perMinute = input.windowMinutes > 0 ? 1 / input.windowMinutes : 1;
  const degree = new Int32Array(n + 1);
  let pairsWithoutHost = 0;
  let kept = 0;
  const keep = new Uint8Array(pairs.a.length);
  for (let e = 0; e < pairs.a.length; e++) {
    const a = pairs.a[e]!;
    const b = pairs.b[e]!;
    const w = pairs.bytes[e]!;
    if (a === b || !(w > 0) || a < 0 || b < 0 || a >= n || b >= n) continue;
    if (hostOf[a]! < 0 || hostOf[b]! < 0) {
      pairsWithoutHost++;
      continue;
    }
    keep[e] = 1;
    kept++;
    degree[a]!++;
    degree[b]!++;
  }
  const adjStart = new Int32Array(n + 1);
  for (let v = 0; v < n; v++) adjStart[v + 1] = adjStart[v]! + degree[v]!;
  const fill = adjStart.slice(0, n);
  const adjTo = new Int32Array(2 * kept);
  const adjWeight = new Float64Array(2 * kept);
  for (let e = 0; e < pairs.a.length; e++) {
    if (keep[e] === 0) continue;
    const a = pairs.a[e]!;
    const b = pairs.b[e]!;
    const w = pairs.bytes[e]! * perMinute;
    adjTo[fill[a]!] = b;
    adjWeight[fill[a]!++] = w;
    adjTo[fill[b]!] = a;
    adjWeight[fill[b]!++] = w;
  }
  return {
    vmCount: n,
    hostIds,
    hostOf,
    vcpus,
    memoryMb,
    sized,
    pinned,
    antiAffinity,
    antiAffinityGroups: aaIndex.size,
    capVcpus,
    capMemoryMb,
    adjStart,
    adjTo,
    adjWeight,
    pairsWithoutHost,
    pairs: kept,
    tiers: prepareTiers(input, options, hostIds),
  };
}

function prepareTiers(input: PlacementInput, options: PlacementOptions, hostIds: readonly string[]): FleetTiers | null {
  const t = options.tiers;
  const H = hostIds.length;
  const rackOf = new Int32Array(H).fill(-1);
  const zoneOf = new Int32Array(H).fill(-1);
  const neighbourhoodOf = new Int32Array(H).fill(-1);
  const racks = new Map<string, number>();
  const zones = new Map<string, number>();
  const hoods = new Map<string, number>();
  const neighbourhoods: number[][] = [];
  let labelled = false;
  const index = (m: Map<string, number>, k: string): number => {
    let i = m.get(k);
    if (i === undefined) {
      i = m.size;
      m.set(k, i);
    }
    return i;
  };
  for (let h = 0; h < H; h++) {
    const labels = input.hostCapacity.get(hostIds[h]!)?.labels;
    if (labels === undefined) continue;
    const zone = labels[t.zoneLabel];
    const rack = labels[t.rackLabel];
    const hasZone = zone !== undefined && zone !== '';
    const hasRack = rack !== undefined && rack !== '';
    if (hasZone) zoneOf[h] = index(zones, zone);
    // A rack name is only unique within its zone.
    if (hasRack) rackOf[h] = index(racks, `${hasZone ? zone : ''}\u0000${rack}`);
    if (hasZone || hasRack) {
      labelled = true;
      const hood = index(hoods, hasRack ? `r${rackOf[h]}` : `z${zoneOf[h]}`);
      neighbourhoodOf[h] = hood;
      if (hood === neighbourhoods.length) neighbourhoods.push([]);
      neighbourhoods[hood]!.push(h);
    }
  }
  if (!labelled) return null;
  return { rackOf, zoneOf, neighbourhoodOf, neighbourhoods, sameRack: t.sameRack, sameZone: t.sameZone, acrossZones: t.acrossZones };
}

/**
 * Distance of two hosts: 0 for one host, 1 across hosts without tiers; with tiers the rack, zone or
 * across-zones distance. A host without labels is in no rack and no zone, so it is across zones from every
 * other: the advice never counts on a closeness nobody announced.
 */
export function hostDistance(f: PlacementFleet, a: number, b: number): number {
  if (a === b) return 0;
  const t = f.tiers;
  if (t === null) return 1;
  const ra = t.rackOf[a]!;
  const za = t.zoneOf[a]!;
  if (ra >= 0 && ra === t.rackOf[b]) return t.sameRack;
  if (za >= 0 && za === t.zoneOf[b]) return t.sameZone;
  return t.acrossZones;
}

/** Weighted cost of a placement (traffic times host distance, bytes per minute), each pair once. */
export function placementCost(f: PlacementFleet, host: Int32Array): number {
  let sum = 0;
  for (let v = 0; v < f.vmCount; v++)
    for (let j = f.adjStart[v]!; j < f.adjStart[v + 1]!; j++) {
      const x = f.adjTo[j]!;
      if (x > v && host[x] !== host[v]) sum += f.adjWeight[j]! * hostDistance(f, host[v]!, host[x]!);
    }
  return sum;
}

function validSize(x: number | null | undefined): x is number {
  return typeof x === 'number' && Number.isFinite(x) && x >= 0;
}

function defaultCapacityOf(
  d: PlacementOptions['defaultCapacity'],
  hostOf: Int32Array,
  vcpus: Float64Array,
  memoryMb: Float64Array,
  H: number,
): { vcpus: number; memoryMb: number } | null {
  if (d === null || typeof d === 'object') return d;
  // The largest load on any host: a host that already carries that much can evidently carry it.
  const v = new Float64Array(H);
  const m = new Float64Array(H);
  hostOf.forEach((h, i) => {
    if (h < 0) return;
    v[h]! += vcpus[i]!;
    m[h]! += memoryMb[i]!;
  });
  let mv = 0;
  let mm = 0;
  for (let h = 0; h < H; h++) {
    mv = Math.max(mv, v[h]!);
    mm = Math.max(mm, m[h]!);
  }
  return H === 0 ? null : { vcpus: mv, memoryMb: mm };
}

/** Cross-host bytes per minute of a placement: each pair once. */
export function crossHostTraffic(f: PlacementFleet, host: Int32Array): number {
  let sum = 0;
  for (let v = 0; v < f.vmCount; v++)
    for (let j = f.adjStart[v]!; j < f.adjStart[v + 1]!; j++) {
      const x = f.adjTo[j]!;
      if (x > v && host[x] !== host[v]) sum += f.adjWeight[j]!;
    }
  return sum;
}

/** Cross-host bytes per minute touching each host (a pair counts on both its hosts). */
export function crossHostByHost(f: PlacementFleet, host: Int32Array): Float64Array {
  const out = new Float64Array(f.hostIds.length);
  for (let v = 0; v < f.vmCount; v++)
    for (let j = f.adjStart[v]!; j < f.adjStart[v + 1]!; j++) {
      const x = f.adjTo[j]!;
      if (host[x] !== host[v]) out[host[v]!]! += f.adjWeight[j]!;
    }
  return out;
}
