/**
 * Security groups learned from the traffic a run's VM clusters really have: per tenant, one group per VM
 * cluster it holds, with the ingress and egress rules their normal traffic of the earlier windows needs,
 * then checked against the latest window (check.ts). Pure: a run's membership and a connection log in,
 * a document out. How rules are learned is told in docs/security-groups.md.
 */
import { ICMP, ICMPV6, SCTP, TCP, UDP } from '../contract/protocols.ts';
import { type CheckedConnection, type CheckOutcome, checkLearned } from './check.ts';
import { type ConnectionColumns, type ConnectionEnd, type ConnectionLog, EPOCHS_PER_WINDOW, SplitBuffers } from './connection-log.ts';
import { FloatColumn, IntColumn, IntTupleTable } from './int-table.ts';
import { ADDRESS_REMOTE, CLEAR_SLICE, EGRESS, INGRESS, type KeptGroup, LearnedEntries, protocolField } from './learned-entries.ts';
import { placeNewVms } from './new-vms.ts';
import { markProbes } from './probes.ts';
import type { Direction, SecurityGroup, SecurityGroupRule, SecurityGroupsDocument, SecurityGroupsSummary, TenantSecurityGroups } from './types.ts';

export interface SecurityGroupOptions {
  /**
   * A VM whose anomaly score is above this (anomalies.ts: above 3 or so, unusual) and that probes (below)
   * is not learned from.
   */
  anomalyThreshold: number;
  /**
   * A prober opened connections to at least this many distinct (server, port) services in the earlier
   * windows, most of them one-offs (at most `minFlows` - 1 flows). The rank alone also flags busy normal
   * VMs, whose traffic the rules need.
   */
  proberMinServices: number;
  /**
   * A one-off of a prober also carried at most this many bytes: a probe is a packet or two, while a client
   * of a service on a port per session (RTP, passive-mode data, dynamic RPC) opens as many one-offs with data.
   */
  probeMaxBytes: number;
  /** A (group, remote, protocol, port) seen in fewer flows than this is a one-off and widens nothing. */
  minFlows: number;
  /**
   * A client whose one-offs at one protocol and port reach at least this many servers that serve that port
   * to no other client probes them: those connections are not learned from (probes.ts). 0: none are.
   */
  probeMinServers: number;
  /** Distinct ports, all >= 1024, with gaps of at most `maxRangeGap`, that become one range. */
  minRangePorts: number;
  maxRangeGap: number;
  /**
   * Listeners at or above `spreadFrom` (the ephemeral range, where listeners take whatever port is free when
   * they start) also join across gaps of up to `maxSpreadGap` while the chain's ports stay `maxRangeGap`
   * apart on average: a cluster with few such listeners (GPU workers' collectives) spreads them wider than
   * one gap, and the ports between them are where they land next.
   */
  spreadFrom: number;
  maxSpreadGap: number;
  /**
   * A chain of at least this many distinct listening ports of the fleet (at or above 1024, `maxRangeGap`
   * apart at most, each serving VMs of a peer group in at least `minFlows` flows) is a service range: a
   * group's rule to or from a peer group with at least two of its ports in it stands for the whole chain.
   */
  serviceRangeMinPorts: number;
  /**
   * Service ranges cut into the parts the tenants' own listening ports overlap in (serviceRanges); false:
   * the fleet's whole chains, as before (kept for comparison on traces whose tenants configure ranges apart).
   */
  serviceRangesPerTenant: boolean;
  /** Distinct outside addresses of one group, direction and protocol beyond which they become any address. */
  maxPrefixesPerRule: number;
  /** VMs and denied connections listed per tenant in the check. */
  maxListed: number;
}

export const defaultSecurityGroupOptions: SecurityGroupOptions = {
  anomalyThreshold: 3,
  proberMinServices: 20,
  probeMaxBytes: 1024,
  minFlows: 3,
  probeMinServers: 2,
  minRangePorts: 4,
  maxRangeGap: 256,
  spreadFrom: 32_768,
  maxSpreadGap: 1024,
  serviceRangeMinPorts: 16,
  serviceRangesPerTenant: true,
  maxPrefixesPerRule: 16,
  maxListed: 20,
};

/**
 * What the recommendation needs of a run: which VM is in which tenant and cluster, and which are anomalous
 * (src/runs/membership.ts takes it from a clustering run).
 */
export interface Membership {
  runId: string;
  computedAt: number;
  vmIds: readonly string[];
  clusterIds: readonly string[];
  vmTenants: readonly (string | null)[];
  /** Anomaly score per VM (parallel to vmIds); null when the run has none. */
  anomalyScores: ArrayLike<number> | null;
  /** Suggested names of the VM clusters by cluster id. */
  clusterNames: ReadonlyMap<string, string>;
}

export interface VmPlace {
  tenant: string;
  groupId: string;
  anomalous: boolean;
}

function groupIdOf(tenant: string, clusterId: string): string {
  return `${tenant}:${clusterId}`;
}

export function protocolName(p: number): string {
  if (p === TCP) return 'tcp';
  if (p === UDP) return 'udp';
  if (p === ICMP) return 'icmp';
  if (p === ICMPV6) return 'ipv6-icmp';
  if (p === SCTP) return 'sctp';
  return String(p);
}

function hostPrefix(ip: string): string {
  return ip.includes(':') ? `${ip}/128` : `${ip}/32`;
}

/** A connection with its server end decided, and its traffic before and in the check window. */
export interface ResolvedConnection {
  client: ConnectionEnd;
  server: ConnectionEnd;
  protocol: number;
  port: number;
  /** The other orientation's server port when the records could not tell (the check tries both); -1 otherwise. */
  altPort: number;
  earlierFlows: number;
  earlierBytes: number;
  latestFlows: number;
  latestBytes: number;
}

/** Segment kinds written by portSegments: every port seen, close ports, ephemeral listeners spread apart. */
export const EXACT_PORTS = 0;
export const PORT_RANGE = 1;
export const PORT_SPREAD = 2;
/** A rule widened to the fleet's service range its ports lie in (serviceRanges). */
export const SERVICE_RANGE = 3;
const BASIS_NAMES: readonly SecurityGroupRule['basis'][] = ['exact', 'port_range', 'port_spread', 'service_range'];

type RangeOptions = Pick<SecurityGroupOptions, 'minRangePorts' | 'maxRangeGap' | 'spreadFrom' | 'maxSpreadGap'>;

/**
 * Sorted ports as segments, by index into `ports` (start inclusive, end exclusive): a range where many ports
 * sit close together above 1024 (PORT_RANGE), or, in the ephemeral range, close on average with gaps up to
 * maxSpreadGap (PORT_SPREAD), else contiguous runs of seen ports (EXACT_PORTS). Written to `out` (cleared
 * first) as triples of start, end and kind: a learner calls this once per candidate rule.
 */
function portSegments(ports: ArrayLike<number>, o: RangeOptions, out: IntColumn): void {
  out.length = 0;
  const chainEnd = (from: number): number => {
    let j = from;
    while (j + 1 < ports.length && ports[j + 1]! - ports[j]! <= o.maxRangeGap) j++;
    return j;
  };
  let i = 0;
  while (i < ports.length) {
    const j = chainEnd(i);
    // Whole chains join while the ports stay maxRangeGap apart on average: the bounds stay seen ports.
    let spread = j;
    if (ports[i]! >= o.spreadFrom) {
      while (spread + 1 < ports.length && ports[spread + 1]! - ports[spread]! <= o.maxSpreadGap) {
        const next = chainEnd(spread + 1);
        if (ports[next]! - ports[i]! > o.maxRangeGap * (next - i)) break;
        spread = next;
      }
    }
    if (spread > j && spread + 1 - i >= o.minRangePorts) {
      out.push(i);
      out.push(spread + 1);
      out.push(PORT_SPREAD);
      i = spread + 1;
      continue;
    }
    if (j + 1 - i >= o.minRangePorts && ports[i]! >= 1024) {
      out.push(i);
      out.push(j + 1);
      out.push(PORT_RANGE);
    } else {
      // Contiguous seen ports merge without allowing an unseen one.
      let k = i;
      while (k <= j) {
        let m = k;
        while (m + 1 <= j && ports[m + 1] === ports[m]! + 1) m++;
        out.push(k);
        out.push(m + 1);
        out.push(EXACT_PORTS);
        k = m + 1;
      }
    }
    i = j + 1;
  }
}

/**
 * Moves into `kept` the rare entries (each port seen in fewer than minFlows flows) of a chain that is a range
 * by portSegments' measure (PORT_RANGE or PORT_SPREAD) and carries at least minFlows flows per port of
 * minRangePorts in all: a service on a port per session (RTP, passive-mode data, dynamic RPC endpoints) shows
 * each port once or twice, and only the chain shows it is one service. A chain that is not a range leaves
 * its rare ports one-offs. Both lists stay sorted by port.
 */
function joinRareRangePorts(
  kept: number[],
  rare: number[],
  portOf: (e: number) => number,
  flowsOf: (e: number) => number,
  o: Pick<SecurityGroupOptions, 'minFlows'> & RangeOptions,
  segments: IntColumn,
): void {
  // Most candidates cannot hold such a chain: too few ports at or above 1024, or too few flows in all.
  // Told from counts before any list is built (this ran for every candidate with a rare port).
  let high = 0;
  let highFlows = 0;
  for (const list of [kept, rare])
    for (let k = 0; k < list.length; k++)
      if (portOf(list[k]!) >= 1024) {
        high++;
        highFlows += flowsOf(list[k]!);
      }
  if (high < o.minRangePorts || highFlows < o.minFlows * o.minRangePorts) return;
  const all = kept.concat(rare).sort((a, b) => portOf(a) - portOf(b));
  portSegments(all.map(portOf), o, segments);
  const joined = new Set<number>();
  for (let q = 0; q < segments.length; q += 3) {
    if (segments.values[q + 2] === EXACT_PORTS) continue;
    const from = segments.values[q]!;
    const to = segments.values[q + 1]!;
    let flows = 0;
    for (let k = from; k < to; k++) flows += flowsOf(all[k]!);
    if (flows >= o.minFlows * o.minRangePorts) for (let k = from; k < to; k++) joined.add(all[k]!);
  }
  if (joined.size === 0) return;
  const stillRare = rare.filter((e) => !joined.has(e));
  if (stillRare.length === rare.length) return;
  const wasKept = new Set(kept);
  kept.length = 0;
  for (const e of all) if (wasKept.has(e) || joined.has(e)) kept.push(e);
  rare.length = 0;
  rare.push(...stillRare);
}

/**
 * Moves into `kept` (sorted by port) the rare entries (`joined`) that show a listener (listensAt: data in
 * each flow) at a port of one of the tenant's service `ranges` that holds at least two of the candidate's
 * ports, counting them: a shuffle server fetched from once or twice per stage shows each port in fewer than
 * minFlows flows, and two such servers of a group in the range its tenant's servers listen in are that
 * service. A probe (no data) never joins, and neither does a lone port of a range.
 */
function joinRareServiceRangePorts(
  kept: number[],
  rare: number[],
  ranges: readonly number[],
  portOf: (e: number) => number,
  listens: (e: number) => boolean,
  joined: number[],
): void {
  for (let r = 0; r < ranges.length; r += 2) {
    const lo = ranges[r]!;
    const hi = ranges[r + 1]!;
    let inRange = 0;
    for (const e of kept) if (portOf(e) >= lo && portOf(e) <= hi) inRange++;
    const from = joined.length;
    for (const e of rare) if (portOf(e) >= lo && portOf(e) <= hi && listens(e)) joined.push(e);
    if (inRange + joined.length - from < 2) joined.length = from;
  }
  if (joined.length === 0) return;
  const moved = new Set(joined);
  const stillRare = rare.filter((e) => !moved.has(e));
  rare.length = 0;
  rare.push(...stillRare);
  kept.push(...joined);
  kept.sort((a, b) => portOf(a) - portOf(b));
}

/** Whether every entry of `joined` lies in a SERVICE_RANGE segment of `segments` (over `kept`, sorted). */
function rareJoinedInServiceRanges(kept: readonly number[], joined: readonly number[], segments: IntColumn): boolean {
  const moved = new Set(joined);
  for (let q = 0; q < segments.length; q += 3) {
    if (segments.values[q + 2] === SERVICE_RANGE) continue;
    for (let k = segments.values[q]!; k < segments.values[q + 1]!; k++) if (moved.has(kept[k]!)) return false;
  }
  return true;
}

/**
 * The service ranges, per tenant and protocol field (key: serviceRangeKey): chains of the ports VMs listen
 * at for VMs of a peer group (ingress entries of a group remote that show a listener, listensAt: at least
 * minFlows flows or data in each, at or above 1024), maxRangeGap apart at most, with at least serviceRangeMinPorts distinct ports. A service configured
 * with a port range (Spark's shuffle and block-manager ports, NCCL's) puts each server at a port of it: a
 * group with three servers shows three ports, the fleet's many servers of that role show the range. But a
 * chain of the whole fleet can join ranges that tenants configured apart, one beside the other: a tenant's
 * rules would then open ports only other tenants listen at. So a chain is cut into the parts the tenants'
 * own listening ports overlap in (each tenant's lowest to highest port in the chain; tenants whose spans
 * overlap share one configured range, as those of a default range do): a tenant's range is the part its own
 * ports lie in, when that part still holds serviceRangeMinPorts of the fleet's ports. As sorted [lo, hi]
 * pairs; bounds are listening ports of the tenant's part.
 */
function* serviceRanges(
  E: number,
  ek: Int32Array,
  traffic: Float64Array,
  G: number,
  groupTenant: ArrayLike<number>,
  o: Pick<SecurityGroupOptions, 'minFlows' | 'probeMaxBytes' | 'maxRangeGap' | 'serviceRangeMinPorts'>,
): Generator<void, Map<number, number[]>, void> {
  /** Per protocol field: port, tenant, port, tenant, ... */
  const portsOf = new Map<number, number[]>();
  const ranges = new Map<number, number[]>();
  if (o.serviceRangeMinPorts > E) return ranges;
  for (let e = 0; e < E; e++) {
    if ((e & (4 * SLICE_ROWS - 1)) === 4 * SLICE_ROWS - 1) yield;
    const remote = ek[4 * e + 2]!;
    const port = ek[4 * e + 3]!;
    if ((ek[4 * e]! & 1) !== INGRESS || remote < 1 || remote > G || port < 1024 || !listensAt(traffic, e, o)) continue;
    const field = ek[4 * e + 1]!;
    const tenant = groupTenant[ek[4 * e]! >> 1]!;
    const list = portsOf.get(field);
    if (list === undefined) portsOf.set(field, [port, tenant]);
    else list.push(port, tenant);
  }
  for (const [field, list] of portsOf) {
    yield;
    const ports = [...new Set(list.filter((_, k) => k % 2 === 0))].sort((a, b) => a - b);
    let i = 0;
    while (i < ports.length) {
      let j = i;
      while (j + 1 < ports.length && ports[j + 1]! - ports[j]! <= o.maxRangeGap) j++;
      if (j + 1 - i >= o.serviceRangeMinPorts) {
        // A pass over the field's whole list a chain.
        tenantParts(ports, i, j, list, field, o.serviceRangeMinPorts, ranges);
        yield;
      }
      i = j + 1;
    }
  }
  return ranges;
}

/**
 * Whether entry e shows a server listening at its port: at least minFlows flows, or fewer that carried data
 * (more than probeMaxBytes a flow). A server of a range configured for one connection per task (a shuffle
 * server's fetch, once per stage) is reached once or twice per peer at its port, with megabytes; a probe
 * is a packet or two.
 */
function listensAt(traffic: Float64Array, e: number, o: Pick<SecurityGroupOptions, 'minFlows' | 'probeMaxBytes'>): boolean {
  const flows = traffic[2 * e]!;
  return flows >= o.minFlows || (flows > 0 && traffic[2 * e + 1]! > o.probeMaxBytes * flows);
}

/** Key of a tenant's service ranges of one protocol field (ethertype and protocol, below 1024). */
function serviceRangeKey(tenant: number, field: number): number {
  return tenant * 1024 + field;
}

/**
 * The chain ports[from..to] cut into the parts the tenants' own ports overlap in (serviceRanges); each part
 * with at least minPorts of the chain's ports is a range of each of its tenants. `list`: port, tenant pairs.
 */
function tenantParts(ports: readonly number[], from: number, to: number, list: readonly number[], field: number, minPorts: number, ranges: Map<number, number[]>): void {
  const lo = ports[from]!;
  const hi = ports[to]!;
  const span = new Map<number, [number, number]>();
  for (let k = 0; k < list.length; k += 2) {
    const p = list[k]!;
    if (p < lo || p > hi) continue;
    const s = span.get(list[k + 1]!);
    if (s === undefined) span.set(list[k + 1]!, [p, p]);
    else {
      if (p < s[0]) s[0] = p;
      if (p > s[1]) s[1] = p;
    }
  }
  const spans = [...span].sort((a, b) => a[1][0] - b[1][0] || a[0] - b[0]);
  let k = 0;
  while (k < spans.length) {
    const tenants = [spans[k]![0]];
    const partLo = spans[k]![1][0];
    let partHi = spans[k]![1][1];
    let next = k + 1;
    while (next < spans.length && spans[next]![1][0] <= partHi) {
      tenants.push(spans[next]![0]);
      partHi = Math.max(partHi, spans[next]![1][1]);
      next++;
    }
    let inPart = 0;
    for (let q = from; q <= to; q++) if (ports[q]! >= partLo && ports[q]! <= partHi) inPart++;
    if (inPart >= minPorts)
      for (const t of tenants) {
        const key = serviceRangeKey(t, field);
        const out = ranges.get(key);
        if (out === undefined) ranges.set(key, [partLo, partHi]);
        else out.push(partLo, partHi);
      }
    k = next;
  }
}

/**
 * The ports each group serves to a peer group: (server side, protocol field, port, 0), there when an
 * ingress entry of a group remote carried at least minFlows flows there: a group's port in service,
 * whichever peers it was learned from. A table of integer tuples, not a Set of one number per port: such
 * numbers are beyond 2^31, and a Set hashes them as boxed doubles (the hottest line of learning the
 * rules in a profile at 100k VMs).
 */
function* servedPorts(E: number, ek: Int32Array, traffic: Float64Array, G: number, minFlows: number): Generator<void, IntTupleTable, void> {
  // Sized by a count first: grown by idOf, the table was rehashed whole inside a step.
  let count = 0;
  for (let e = 0; e < E; e++) {
    if ((e & (4 * SLICE_ROWS - 1)) === 4 * SLICE_ROWS - 1) yield;
    if ((ek[4 * e]! & 1) === INGRESS && ek[4 * e + 2]! >= 1 && ek[4 * e + 2]! <= G && ek[4 * e + 3]! >= 0 && traffic[2 * e]! >= minFlows) count++;
  }
  const served = new IntTupleTable(count);
  for (let e = 0; e < E; e++) {
    if ((e & (SLICE_ROWS - 1)) === SLICE_ROWS - 1) yield;
    const side = ek[4 * e]!;
    const remote = ek[4 * e + 2]!;
    const port = ek[4 * e + 3]!;
    if ((side & 1) !== INGRESS || remote < 1 || remote > G || port < 0 || traffic[2 * e]! < minFlows) continue;
    served.idOf(side, ek[4 * e + 1]!, port, 0);
  }
  return served;
}

/**
 * Rewrites a candidate's segments (triples over its sorted, distinct `ports`, as portSegments writes them)
 * so that the segments lying inside one of the fleet's service `ranges` become one SERVICE_RANGE segment
 * spanning that range, where at least two of the candidate's ports lie in it: two servers of a group (or
 * one server's two peers' ports) placed by the range's configuration, not one port that happens to fall in
 * it. `bounds` gets each segment's lowest and highest port.
 */
function widenToServiceRanges(ports: readonly number[], ranges: readonly number[] | undefined, segments: IntColumn, bounds: IntColumn, scratch: IntColumn): void {
  bounds.length = 0;
  const seg = segments.values;
  const n = segments.length;
  if (ranges === undefined) {
    for (let q = 0; q < n; q += 3) {
      bounds.push(ports[seg[q]!]!);
      bounds.push(ports[seg[q + 1]! - 1]!);
    }
    return;
  }
  scratch.length = 0;
  let q = 0;
  while (q < n) {
    const from = seg[q]!;
    const to = seg[q + 1]!;
    let r = 0;
    while (r < ranges.length && ranges[r + 1]! < ports[from]!) r += 2;
    if (r < ranges.length && ranges[r]! <= ports[from]! && ports[to - 1]! <= ranges[r + 1]!) {
      const hi = ranges[r + 1]!;
      let next = q + 3;
      let end = to;
      while (next < n && ports[seg[next + 1]! - 1]! <= hi) {
        end = seg[next + 1]!;
        next += 3;
      }
      // A segment that already spans the whole chain keeps its basis: nothing is widened.
      const widens = next > q + 3 || ports[from]! > ranges[r]! || ports[to - 1]! < hi;
      if (end - from >= 2 && widens) {
        scratch.push(from);
        scratch.push(end);
        scratch.push(SERVICE_RANGE);
        bounds.push(ranges[r]!);
        bounds.push(hi);
        q = next;
        continue;
      }
    }
    scratch.push(from);
    scratch.push(to);
    scratch.push(seg[q + 2]!);
    bounds.push(ports[from]!);
    bounds.push(ports[to - 1]!);
    q += 3;
  }
  segments.length = 0;
  for (let k = 0; k < scratch.length; k++) segments.push(scratch.values[k]!);
}

/** Remote of a candidate: ANY (any address), 1 + group index, or ADDRESS_REMOTE + address id. */
const ANY = 0;

interface GroupInfo {
  id: string;
  tenant: number;
  clusterId: string;
  vms: string[];
  /** VMs without history that the run put in another cluster, placed here by the traffic they repeat (new-vms.ts). */
  placedByPeers: string[];
}

/**
 * What learning hands the check: the connections as columns, each end's group, tenant and rank, and the
 * rules as columns (the check matches numbers, not text; the document is built from them when asked for).
 */
export interface Learned {
  cols: ConnectionColumns;
  ends: number;
  groups: GroupInfo[];
  tenants: string[];
  /** Per end: group index and tenant index (-1: not in a group), 1 when ranked anomalous. */
  endGroup: Int32Array;
  endTenant: Int32Array;
  endAnomalous: Uint8Array;
  ruleCount: number;
  /**
   * Per rule: its position in its group's list (the first match in list order wins), its group, port bounds
   * (-1: any port) and candidate. A group's rules are groupRuleStart[g] to groupRuleStart[g + 1] - 1.
   */
  rulePosition: Int32Array;
  ruleGroup: Int32Array;
  ruleMin: Int32Array;
  ruleMax: Int32Array;
  /** Per rule: direction * 256 + protocol. */
  ruleKind: Int32Array;
  /** Per rule: ethertype and protocol (protocolField), and remote (ANY, 1 + group, ADDRESS_REMOTE + address). */
  ruleField: Int32Array;
  ruleRemote: Int32Array;
  groupRuleStart: Int32Array;
  /**
   * Candidate rules by (side, ethertype and protocol, remote, 0), side being 2 * group + direction (see
   * candidateFields); their rules are candidateRules[2 * id] to candidateRules[2 * id + 1] (exclusive), in
   * list order.
   */
  candidates: IntTupleTable;
  candidateRules: Int32Array;
  /**
   * Per connection: 1 + the candidates of its server's ingress and client's egress learned from it (0: none).
   * With `candidates`, kept by LearnedEntries: read by the check, not after it.
   */
  rowCandidates: Int32Array;
  /** Per side: bit 1 when it has rules for a peer group, 2 for an address, 4 for any address. */
  sideRemotes: Uint8Array;
}


/** Connections between two steps of the sliced computation: a slice is about this many. */
export const SLICE_ROWS = 16_384;
/**
 * Entries (or rules) between two steps of the learning after the scan: a quarter of a slice, as each costs
 * a few look-ups in tables far larger than the caches (steps of SLICE_ROWS took 20 to 50 ms at 100k VMs).
 */
const ENTRY_SLICE = SLICE_ROWS >> 2;
/** VMs of the membership between two steps: each costs string keys and Map look-ups. */
const VM_SLICE = 1024;

/** Protocol numbers in the order their decimal text sorts, as the rule ids of a group follow it. */
const PROTOCOL_TEXT_RANK: Int32Array = (() => {
  const byText = Array.from({ length: 256 }, (_, p) => p).sort((a, b) => (`${a}|` < `${b}|` ? -1 : 1));
  const rank = new Int32Array(256);
  byText.forEach((p, k) => {
    rank[p] = k;
  });
  return rank;
})();

export interface SecurityGroupsOutcome {
  /** The fleet-wide figures, computed with the rules. */
  readonly summary: SecurityGroupsSummary;
  /**
   * The whole document, built from the rule columns on first use and kept: at 100k VMs its 200k rule
   * objects cost more than learning them, so a run computes only numbers and a reader pays for the text.
   */
  readonly document: SecurityGroupsDocument;
  /** The document built in steps (a few dozen tenants each), for a caller that gives the event loop back. */
  documentInSlices(): Generator<void, SecurityGroupsDocument, void>;
  /** The connections of the log with their server ends decided and the check's verdict (built on first use). */
  readonly connections: CheckedConnection[];
  /** Where each VM of the run is (built on first use). */
  readonly places: Map<string, VmPlace>;
  /**
   * Hands the columns this outcome reads over to a later computation (RunScratch), to be reused rather than
   * allocated anew. The document and connections must have been built before, if they are wanted: asked
   * for after, they throw. The summary stays.
   */
  release(): void;
  /** Time spent computing (for the sliced computation: its slices, not the pauses between them). */
  durationMs: number;
}

export function recommendSecurityGroups(
  membership: Membership,
  log: ConnectionLog,
  options: Partial<SecurityGroupOptions> = {},
): SecurityGroupsOutcome {
  const started = performance.now();
  const steps = recommendInSlices(membership, log, options);
  let step = steps.next();
  while (step.done !== true) step = steps.next();
  step.value.durationMs = performance.now() - started;
  return step.value;
}

/**
 * recommendSecurityGroups as steps of about SLICE_ROWS connections each, so that a caller can give the
 * event loop back between them (src/service/cluster-service.ts). The log's traffic is split at the check
 * window as it is at the first step: later records do not change the outcome.
 */
export function* recommendInSlices(
  membership: Membership,
  log: ConnectionLog,
  options: Partial<SecurityGroupOptions> = {},
): Generator<void, SecurityGroupsOutcome, void> {
  const o = { ...defaultSecurityGroupOptions, ...options };
  const columnScratch = RunScratch.take(log.size);
  const split = log.split(membership.computedAt, columnScratch.split);
  const logFigures = { held: log.size, max: log.maxConnections, ...log.counters, epochMs: log.epochMs, checkEpoch: log.epochOf(membership.computedAt) };
  while (!split.fill(2 * SLICE_ROWS)) yield;
  const endClusters = yield* clustersOfEnds(membership, split.columns);
  const turned = yield* breakTies(split.columns, split.turned, split.tied, endClusters, o.maxRangeGap, yield* columnScratch.table('tieBlocks'));
  const cols = yield* turnServerEnds(split.columns, turned, columnScratch);
  const n = cols.count;
  const ends = cols.ends;

  // Probers: VMs that opened connections to many distinct services in the earlier windows, most of them one-offs.
  const services = new Int32Array(ends);
  const oneOff = new Int32Array(ends);
  const isVm = new Uint8Array(ends);
  for (let e = 0; e < ends; e++) isVm[e] = cols.endVm[e] === null ? 0 : 1;
  for (let i = 0; i < n; i += 4 * SLICE_ROWS) {
    countServices(cols, isVm, i, Math.min(n, i + 4 * SLICE_ROWS), o, services, oneOff);
    yield;
  }
  const isProber = (e: number): boolean => services[e]! >= o.proberMinServices && 2 * oneOff[e]! > services[e]!;
  // Probes of clients the run does not rank anomalous: their connections alone, not all of the client's.
  const rowProbe = new Uint8Array(n);
  if (o.probeMinServers > 0)
    yield* markProbes(cols, { minFlows: o.minFlows, probeMinServers: o.probeMinServers }, rowProbe, yield* columnScratch.table('probeServers'), yield* columnScratch.table('probeClients'));

  const vmsWithoutTenant: string[] = [];
  const anomalousVms: string[] = [];
  const tenantIds = new Map<string, number>();
  const tenants: string[] = [];
  const groupIds = new Map<string, number>();
  let groups: GroupInfo[] = [];
  const endGroup = new Int32Array(ends).fill(-1);
  const endTenant = new Int32Array(ends).fill(-1);
  const endAnomalous = new Uint8Array(ends);
  const anomalousSet = new Set<string>();
  for (let row = 0; row < membership.vmIds.length; row++) {
    if ((row & (VM_SLICE - 1)) === VM_SLICE - 1) yield;
    const vmId = membership.vmIds[row]!;
    const tenant = membership.vmTenants[row] ?? null;
    const score = membership.anomalyScores?.[row] ?? 0;
    let end = cols.vmEnds.get(vmId);
    if (end !== undefined && end >= ends) end = undefined;
    const anomalous = score > o.anomalyThreshold && end !== undefined && isProber(end);
    if (anomalous) {
      anomalousVms.push(vmId);
      anomalousSet.add(vmId);
      endAnomalous[end!] = 1;
    }
    if (tenant === null) {
      vmsWithoutTenant.push(vmId);
      continue;
    }
    const clusterId = membership.clusterIds[row]!;
    const groupId = groupIdOf(tenant, clusterId);
    let t = tenantIds.get(tenant);
    if (t === undefined) {
      t = tenants.length;
      tenants.push(tenant);
      tenantIds.set(tenant, t);
    }
    let g = groupIds.get(groupId);
    if (g === undefined) {
      g = groups.length;
      groups.push({ id: groupId, tenant: t, clusterId, vms: [], placedByPeers: [] });
      groupIds.set(groupId, g);
    }
    groups[g]!.vms.push(vmId);
    if (end !== undefined) {
      endGroup[end] = g;
      endTenant[end] = t;
    }
  }
  yield;
  // The learner's entries are kept by group index (learned-entries.ts): the groups they know keep theirs.
  const scan = LearnedEntries.take();
  const renumbered = keptGroupOrder(groups, tenantIds, scan.keptGroups);
  yield;
  if (renumbered !== null) {
    groups = renumbered.groups;
    for (let e = 0; e < ends; e++) if (endGroup[e]! >= 0) endGroup[e] = renumbered.from[endGroup[e]!]!;
  }
  yield;
  const G = groups.length;
  // Groups in the order of their ids: the document's order, and the order remotes sort in within a group.
  const groupOrder = sortedIndices(groups.map((info) => info.id));
  const groupRank = new Int32Array(G);
  groupOrder.forEach((g, k) => {
    groupRank[g] = k;
  });
  yield;

  // Candidate rules (side, protocol field, remote) and their ports ("entries": a candidate at one port),
  // with their traffic and the VMs of the group it was seen at: kept from the last computation, the rows
  // that changed since filed again (learned-entries.ts).
  const notLearned: Record<string, number> = { anomalous: 0, no_group: 0, probes: 0, rare_rules: 0 };
  yield* scan.scan(
    cols,
    groups.map((info) => ({ id: info.id, tenant: tenants[info.tenant]!, clusterId: info.clusterId })),
    endGroup,
    endTenant,
    endAnomalous,
    rowProbe,
  );
  notLearned.anomalous = scan.anomalous;
  notLearned.no_group = scan.noGroup;
  notLearned.probes = scan.probes;
  const { candidates, entries, entryCandidate, entryTraffic, pairEntry, pairVm } = scan;
  const rowCandidates = scan.rowCandidates.subarray(0, 2 * n);

  // Outside addresses: one candidate per address, except for the ports of a group, direction and protocol
  // that more than maxPrefixesPerRule addresses used (of either family: a public service is public over
  // both): those go to one candidate for any address per ethertype. An address candidate holds one
  // address, so the addresses of a port are the address candidates that have it. Taken in the order the
  // candidates and their ports were first seen, the order the merged traffic is added up in.
  let ek = entries.keys;
  let byCandidate = yield* entriesByCandidate(entries.size, candidates.size, entryCandidate.values, entryTraffic.values, null);
  const addressesAtPort = yield* columnScratch.table('addressesAtPort');
  const addressCount = new IntColumn();
  // Steps of about as many entries as a scan's step has connections: a candidate may have thousands.
  let work = 0;
  for (let c = 0; c < candidates.size; c++) {
    if (work >= ENTRY_SLICE) {
      work = 0;
      yield;
    }
    if (candidates.keys[4 * c + 2]! <= G) continue;
    const count = byCandidate.start[c + 1]! - byCandidate.start[c]!;
    work += count;
    if (!addressesAtPort.hasRoomFor(count)) yield* addressesAtPort.reserveInSlices(2 * (addressesAtPort.size + count), ENTRY_SLICE);
    const side = candidates.keys[4 * c]!;
    const proto = candidates.keys[4 * c + 1]! & 255;
    for (let k = byCandidate.start[c]!; k < byCandidate.start[c + 1]!; k++) {
      const known = addressesAtPort.size;
      const a = addressesAtPort.idOf(side, proto, ek[4 * byCandidate.entries[k]! + 3]!, 0);
      if (a === known) addressCount.push(0);
      addressCount.values[a]!++;
    }
  }
  const movedTo = new Int32Array(entries.size).fill(-1);
  const scanned = candidates.size;
  work = 0;
  for (let c = 0; c < scanned; c++) {
    if (work >= ENTRY_SLICE) {
      work = 0;
      yield;
    }
    const remote = candidates.keys[4 * c + 2]!;
    if (remote <= G || remote === ANY) continue;
    const count = byCandidate.start[c + 1]! - byCandidate.start[c]!;
    work += count;
    // The kept entries' tables, grown here in steps rather than by idOf at once.
    if (!entries.hasRoomFor(count)) yield* entries.reserveInSlices(entries.size + 4 * count + ENTRY_SLICE, ENTRY_SLICE);
    if (!candidates.hasRoomFor(1)) yield* candidates.reserveInSlices(candidates.size + 1 + ENTRY_SLICE, ENTRY_SLICE);
    const side = candidates.keys[4 * c]!;
    const field = candidates.keys[4 * c + 1]!;
    for (let k = byCandidate.start[c]!; k < byCandidate.start[c + 1]!; k++) {
      const e = byCandidate.entries[k]!;
      const p = ek[4 * e + 3]!;
      if (addressCount.values[addressesAtPort.find(side, field & 255, p, 0)]! <= o.maxPrefixesPerRule) continue;
      const known = entries.size;
      const any = entries.idOf(side, field, ANY, p);
      if (any === known) {
        entryCandidate.push(candidates.idOf(side, field, ANY, 0));
        entryTraffic.reserve(2 * any + 1);
      }
      const traffic = entryTraffic.values;
      traffic[2 * any]! += traffic[2 * e]!;
      traffic[2 * any + 1]! += traffic[2 * e + 1]!;
      movedTo[e] = any;
    }
  }
  yield;
  const E = entries.size;
  const C = candidates.size;
  // Merged entries may have grown the table.
  ek = entries.keys;
  const trafficOf = entryTraffic.values;
  byCandidate = yield* entriesByCandidate(E, C, entryCandidate.values, trafficOf, movedTo);
  // The VMs of each entry (an entry merged into any address gives its VMs to that one).
  const vmsOf = yield* vmsByEntry(E, pairEntry, pairVm, movedTo);
  const vmStamp = new Int32Array(ends).fill(-1);
  let stamp = 0;
  /** Distinct VMs over entries sorted[from] to sorted[to - 1]. */
  const distinctVms = (sorted: readonly number[], from: number, to: number): number => {
    const s = stamp++;
    let count = 0;
    for (let k = from; k < to; k++) {
      const e = sorted[k]!;
      for (let v = vmsOf.start[e]!; v < vmsOf.start[e + 1]!; v++) {
        const vm = vmsOf.vms[v]!;
        if (vmStamp[vm] !== s) {
          vmStamp[vm] = s;
          count++;
        }
      }
    }
    return count;
  };

  // Each group's candidates in the order of their text keys (the order rule ids follow): egress to any
  // address, egress, ingress from any address, ingress (the words before the letters); then ethertype,
  // protocol as text, and the remote's group id or `a` and its address.
  // Grouped by counting sort: one array, not an array per group.
  const candidateStart = new Int32Array(G + 1);
  for (let c = 0; c < C; c++) if (byCandidate.start[c + 1]! > byCandidate.start[c]!) candidateStart[(candidates.keys[4 * c]! >> 1) + 1]!++;
  for (let g = 0; g < G; g++) candidateStart[g + 1]! += candidateStart[g]!;
  yield;
  const groupCandidates = new Int32Array(candidateStart[G]!);
  const filled = candidateStart.slice(0, G);
  for (let c = 0; c < C; c++) {
    if ((c & 65_535) === 65_535) yield;
    if (byCandidate.start[c + 1]! > byCandidate.start[c]!) groupCandidates[filled[candidates.keys[4 * c]! >> 1]!++] = c;
  }
  const ck = candidates.keys;
  const order = (c: number): number => {
    const direction = ck[4 * c]! & 1;
    const any = ck[4 * c + 2] === ANY ? 0 : 1;
    const field = ck[4 * c + 1]!;
    return (((direction === EGRESS ? 0 : 2) + any) * 2 + (field >> 8)) * 256 + PROTOCOL_TEXT_RANK[field & 255]!;
  };
  const remoteText = (remote: number): string => (remote <= G ? groups[remote - 1]!.id : `a${cols.ips[remote - ADDRESS_REMOTE]!}`);
  const byTextKey = (a: number, b: number): number => {
    const d = order(a) - order(b);
    if (d !== 0) return d;
    const ra = ck[4 * a + 2]!;
    const rb = ck[4 * b + 2]!;
    if (ra <= G && rb <= G) return groupRank[ra - 1]! - groupRank[rb - 1]!;
    // Two addresses compare as their texts do, without building `a<address>` for each comparison.
    if (ra > G && rb > G) {
      const ia = cols.ips[ra - ADDRESS_REMOTE]!;
      const ib = cols.ips[rb - ADDRESS_REMOTE]!;
      return ia < ib ? -1 : ia > ib ? 1 : 0;
    }
    const ta = remoteText(ra);
    const tb = remoteText(rb);
    return ta < tb ? -1 : ta > tb ? 1 : 0;
  };

  // The rules as columns: the document's objects and text ids are built when it is asked for
  // (SecurityGroupsOutcome.document); a run needs only numbers for its check and summary.
  const R = new RuleColumns(4 * G);
  const candidateRules = new Int32Array(2 * C);
  const sideRemotes = new Uint8Array(2 * G);
  const groupRuleStart = new Int32Array(G + 1);
  const kept: number[] = [];
  const rare: number[] = [];
  const portOfEntry = (e: number): number => ek[4 * e + 3]!;
  const flowsOfEntry = (e: number): number => trafficOf[2 * e]!;
  const ports: number[] = [];
  const joined: number[] = [];
  const segments = new IntColumn(48);
  const segmentBounds = new IntColumn(32);
  const segmentScratch = new IntColumn(48);
  // Without parts per tenant every group counts as of one tenant: the parts are the fleet's whole chains.
  const rangeTenant = (g: number): number => (o.serviceRangesPerTenant ? groups[g]!.tenant : 0);
  const fleetRanges = yield* serviceRanges(E, ek, trafficOf, G, groups.map((_, g) => rangeTenant(g)), o);
  const served = yield* servedPorts(E, ek, trafficOf, G, o.minFlows);
  work = 0;
  for (let g = 0; g < G; g++) {
    // Steps by the candidates' entries: one group may have thousands.
    if (work >= ENTRY_SLICE) {
      work = 0;
      yield;
    }
    groupRuleStart[g] = R.count;
    const list = groupCandidates.subarray(candidateStart[g]!, candidateStart[g + 1]!);
    for (let li = 0; li < list.length; li++) work += 1 + byCandidate.start[list[li]! + 1]! - byCandidate.start[list[li]!]!;
    if (list.length === 0) continue;
    if (list.length > 1) list.sort(byTextKey);
    for (let li = 0; li < list.length; li++) {
      const c = list[li]!;
      kept.length = 0;
      rare.length = 0;
      // A peer group's candidate: the side of the group that serves (this group's ingress, the remote's for egress).
      const peer = ck[4 * c + 2]!;
      // An address's ingress too (a VM without a tenant mounting a served share): one more host, no new port.
      const ingress = (ck[4 * c]! & 1) === INGRESS;
      const serverSide = peer >= 1 && peer <= G ? (ingress ? ck[4 * c]! : 2 * (peer - 1)) : peer > G && ingress ? ck[4 * c]! : -1;
      for (let k = byCandidate.start[c]!; k < byCandidate.start[c + 1]!; k++) {
        const e = byCandidate.entries[k]!;
        const flows = trafficOf[2 * e]!;
        if (flows >= o.minFlows) kept.push(e);
        // A rare connection with data to a port its server's group serves other peers at: a new peer of a
        // service, not a one-off port (a probe carries no data; probeMaxBytes).
        else if (serverSide >= 0 && ek[4 * e + 3]! >= 0 && trafficOf[2 * e + 1]! > o.probeMaxBytes * flows && served.find(serverSide, ck[4 * c + 1]!, ek[4 * e + 3]!, 0) >= 0)
          kept.push(e);
        else rare.push(e);
      }
      if (kept.length > 1) kept.sort((a, b) => ek[4 * a + 3]! - ek[4 * b + 3]!);
      if (rare.length > 0) joinRareRangePorts(kept, rare, portOfEntry, flowsOfEntry, o, segments);
      const side = ck[4 * c]!;
      const field = ck[4 * c + 1]!;
      const remote = ck[4 * c + 2]!;
      // Only a peer group's rules stand for a service range: an address's stay what that address used.
      const ranges = remote >= 1 && remote <= G ? fleetRanges.get(serviceRangeKey(rangeTenant(g), field)) : undefined;
      joined.length = 0;
      if (ranges !== undefined && rare.length > 0) joinRareServiceRangePorts(kept, rare, ranges, portOfEntry, (e) => listensAt(trafficOf, e, o), joined);
      candidateRules[2 * c] = candidateRules[2 * c + 1] = R.count;
      if (kept.length === 0) {
        notLearned.rare_rules! += rare.length;
        continue;
      }
      for (let attempt = 0; attempt < 2; attempt++) {
        ports.length = 0;
        for (const e of kept) ports.push(ek[4 * e + 3]!);
        if (kept.length === 1 && ports[0] === -1) {
          // No ports (ICMP): one segment.
          segments.length = 0;
          segments.push(0);
          segments.push(1);
          segments.push(0);
        } else portSegments(ports, o, segments);
        widenToServiceRanges(ports, ranges, segments, segmentBounds, segmentScratch);
        // A rare port joined for its service range widens nothing else: where it did not end in a service
        // range segment (the candidate's ports chained past the range's bounds), it stays a one-off.
        if (joined.length === 0 || rareJoinedInServiceRanges(kept, joined, segments)) break;
        const back = new Set(joined);
        const stillKept = kept.filter((e) => !back.has(e));
        kept.length = 0;
        kept.push(...stillKept);
        for (const e of joined) rare.push(e);
        joined.length = 0;
      }
      notLearned.rare_rules! += rare.length;
      sideRemotes[side]! |= remote === ANY ? 4 : remote <= G ? 1 : 2;
      for (let q = 0; q < segments.length; q += 3) {
        const from = segments.values[q]!;
        const to = segments.values[q + 1]!;
        let flows = 0;
        let bytes = 0;
        for (let k = from; k < to; k++) {
          flows += trafficOf[2 * kept[k]!]!;
          bytes += trafficOf[2 * kept[k]! + 1]!;
        }
        const b = (2 * q) / 3;
        R.push(g, R.count - groupRuleStart[g]!, (side & 1) * 256 + (field & 255), field, remote, segmentBounds.values[b]!, segmentBounds.values[b + 1]!, distinctVms(kept, from, to), to - from, segments.values[q + 2]!, flows, bytes);
      }
      candidateRules[2 * c + 1] = R.count;
    }
  }
  groupRuleStart[G] = R.count;
  yield;

  // VMs without history join the group whose rules allow what they do. They taught no rule (nothing of
  // theirs is in the rules above), so the rules stay as learned; only the check and the document see them
  // in their new group.
  const ruleAllows = (c: number, p: number): boolean => {
    if (c < 0) return false;
    for (let r = candidateRules[2 * c]!; r < candidateRules[2 * c + 1]!; r++) if (R.min.values[r]! <= p && p <= R.max.values[r]!) return true;
    return false;
  };
  const allows = (side: number, field: number, remote: number, p: number): boolean =>
    ruleAllows(candidates.find(side, field, remote, 0), p) || (remote > G && ruleAllows(candidates.find(side, field, ANY, 0), p));
  const placedByPeers = yield* placeNewVms(
    { cols, groupCount: G, endGroup, endTenant, endAnomalous, groupTenant: groups.map((info) => info.tenant), groupRank, allows, protocolField, ingress: INGRESS, egress: EGRESS },
    4 * SLICE_ROWS,
  );
  for (const [e, g] of placedByPeers) {
    const vmId = cols.endVm[e]!;
    const from = groups[endGroup[e]!]!;
    from.vms.splice(from.vms.indexOf(vmId), 1);
    groups[g]!.vms.push(vmId);
    groups[g]!.placedByPeers.push(vmId);
    endGroup[e] = g;
  }

  const learned: Learned = {
    cols,
    ends,
    groups,
    tenants,
    endGroup,
    endTenant,
    endAnomalous,
    ruleCount: R.count,
    rulePosition: R.position.values.subarray(0, R.count),
    ruleGroup: R.group.values.subarray(0, R.count),
    ruleMin: R.min.values.subarray(0, R.count),
    ruleMax: R.max.values.subarray(0, R.count),
    ruleKind: R.kind.values.subarray(0, R.count),
    ruleField: R.field.values.subarray(0, R.count),
    ruleRemote: R.remote.values.subarray(0, R.count),
    groupRuleStart,
    candidates,
    candidateRules,
    rowCandidates,
    sideRemotes,
  };
  const checked = yield* checkLearned(learned, o.maxListed);
  // The scan's tables (learned.candidates and rowCandidates among them) are not read after the check.
  scan.release();

  // Rules per tenant, and per (group, direction, protocol, port range): several only when several remotes use one port.
  const ruleCounts = new Array<number>(tenants.length).fill(0);
  for (let g = 0; g < G; g++) ruleCounts[groups[g]!.tenant]! += groupRuleStart[g + 1]! - groupRuleStart[g]!;
  const perGroupPort = yield* columnScratch.table('rulesPerGroupPort');
  const gpCount = new IntColumn(R.count);
  yield* perGroupPort.reserveInSlices(R.count, ENTRY_SLICE);
  for (let r = 0; r < R.count; r++) {
    if ((r & (ENTRY_SLICE - 1)) === ENTRY_SLICE - 1) yield;
    const known = perGroupPort.size;
    const k = perGroupPort.idOf(R.group.values[r]!, R.kind.values[r]!, R.min.values[r]!, R.max.values[r]!);
    if (k === known) gpCount.push(0);
    gpCount.values[k]!++;
  }
  yield;
  const gp = Array.from(gpCount.values.subarray(0, gpCount.length));
  const perGroupPortFigures = { ...distribution(gp), over_3: gp.filter((k) => k > 3).length };
  yield;
  const wm = membership.computedAt;
  const checkFrom = (logFigures.checkEpoch - EPOCHS_PER_WINDOW + 1) * logFigures.epochMs;
  const iso = (t: number): string | null => (Number.isFinite(t) ? new Date(t).toISOString() : null);
  const summary: SecurityGroupsSummary = {
    tenants: tenants.length,
    // A group whose VMs were all placed by their peers is left out of the document.
    groups: groups.filter((info) => info.vms.length > 0).length,
    rules: R.count,
    rules_per_tenant: distribution(ruleCounts),
    rules_per_group_port: perGroupPortFigures,
    vms_anomalous: anomalousVms.length,
    vms_without_tenant: vmsWithoutTenant.length,
    check: checked.all,
    check_normal_vm_to_vm: checked.normal,
    check_from_anomalous: checked.anomalous,
    connections: {
      held: logFigures.held,
      max: logFigures.max,
      recorded: logFigures.recorded,
      refused: logFigures.refused,
      bad_port: logFigures.badPort,
      no_vm: logFigures.noVm,
      forgotten: logFigures.forgotten,
    },
    not_learned: notLearned,
  };
  yield;
  const head: DocumentHead = {
    run_id: membership.runId,
    computed_at: iso(wm),
    check_window: { from: iso(checkFrom), to: iso(wm) },
    anomalous_vms: anomalousVms.sort(),
    vms_without_tenant: vmsWithoutTenant.sort(),
  };
  return new Outcome(head, summary, learned, R, checked, groupOrder, membership, anomalousSet, columnScratch);
}

/** The document's fields before its summary and tenants. */
type DocumentHead = Pick<SecurityGroupsDocument, 'run_id' | 'computed_at' | 'check_window' | 'anomalous_vms' | 'vms_without_tenant'>;

/** The learned rules as columns, in the order of the document (by group, each group's in list order). */
class RuleColumns {
  count = 0;
  readonly group: IntColumn;
  /** Position in its group's list: the rule id's number, and which of two matches comes first. */
  readonly position: IntColumn;
  /** Direction * 256 + protocol: with the group and ports, what rules_per_group_port counts. */
  readonly kind: IntColumn;
  /** Ethertype and protocol (protocolField), and the remote (ANY, 1 + group, or 1 + groups + address id). */
  readonly field: IntColumn;
  readonly remote: IntColumn;
  /** Port bounds, -1 for a protocol without ports. */
  readonly min: IntColumn;
  readonly max: IntColumn;
  // learned_from and basis.
  readonly vms: IntColumn;
  readonly ports: IntColumn;
  readonly range: IntColumn;
  readonly flows: FloatColumn;
  readonly bytes: FloatColumn;

  constructor(capacity: number) {
    this.group = new IntColumn(capacity);
    this.position = new IntColumn(capacity);
    this.kind = new IntColumn(capacity);
    this.field = new IntColumn(capacity);
    this.remote = new IntColumn(capacity);
    this.min = new IntColumn(capacity);
    this.max = new IntColumn(capacity);
    this.vms = new IntColumn(capacity);
    this.ports = new IntColumn(capacity);
    this.range = new IntColumn(capacity);
    this.flows = new FloatColumn(capacity);
    this.bytes = new FloatColumn(capacity);
  }

  push(group: number, position: number, kind: number, field: number, remote: number, min: number, max: number, vms: number, ports: number, range: number, flows: number, bytes: number): void {
    const r = this.count++;
    this.group.push(group);
    this.position.push(position);
    this.kind.push(kind);
    this.field.push(field);
    this.remote.push(remote);
    this.min.push(min);
    this.max.push(max);
    this.vms.push(vms);
    this.ports.push(ports);
    this.range.push(range);
    this.flows.reserve(r);
    this.flows.values[r] = flows;
    this.bytes.reserve(r);
    this.bytes.values[r] = bytes;
  }
}

/** Rule r's id: its group, direction and position in the group's list. */
export function ruleIdOf(l: Learned, r: number): string {
  return `${l.groups[l.ruleGroup[r]!]!.id}/${l.ruleKind[r]! >> 8 === INGRESS ? 'ingress' : 'egress'}/${l.rulePosition[r]!}`;
}

/** Tenants between two steps of building the document. */
const DOCUMENT_SLICE_TENANTS = 64;

class Outcome implements SecurityGroupsOutcome {
  durationMs = 0;
  private built: SecurityGroupsDocument | null = null;
  private connectionList: CheckedConnection[] | null = null;
  private placeMap: Map<string, VmPlace> | null = null;

  constructor(
    private readonly head: DocumentHead,
    readonly summary: SecurityGroupsSummary,
    private readonly learned: Learned,
    private readonly rules: RuleColumns,
    private readonly checked: CheckOutcome,
    /** Group indices in the order of their ids. */
    private readonly groupOrder: readonly number[],
    private readonly membership: Membership,
    private readonly anomalous: ReadonlySet<string>,
    /** The split's and turned rows' columns `learned.cols` reads: handed to a later computation at release. */
    private scratch: RunScratch | null,
  ) {}

  release(): void {
    if (this.scratch === null) return;
    this.scratch.release();
    this.scratch = null;
  }

  /** The columns are read only while they are this outcome's: what was built from them before stays. */
  private ownColumns(what: string): void {
    if (this.scratch === null) throw new Error(`security groups: ${what} asked for after the outcome was released`);
  }

  get document(): SecurityGroupsDocument {
    const steps = this.documentInSlices();
    let step = steps.next();
    while (step.done !== true) step = steps.next();
    return step.value;
  }

  *documentInSlices(): Generator<void, SecurityGroupsDocument, void> {
    if (this.built !== null) return this.built;
    this.ownColumns('the document');
    const l = this.learned;
    const { groups, tenants } = l;
    // Groups by tenant, in the order of their ids.
    const groupsOfTenant: number[][] = Array.from({ length: tenants.length }, () => []);
    for (const g of this.groupOrder) if (groups[g]!.vms.length > 0) groupsOfTenant[groups[g]!.tenant]!.push(g);
    const tenantOrder = sortedIndices(tenants);
    yield;
    const docs: TenantSecurityGroups[] = [];
    for (let k = 0; k < tenantOrder.length; k++) {
      if (k % DOCUMENT_SLICE_TENANTS === DOCUMENT_SLICE_TENANTS - 1) {
        yield;
        this.ownColumns('the document');
      }
      const t = tenantOrder[k]!;
      const tenantGroupDocs = groupsOfTenant[t]!.map((g) => this.groupDocument(g));
      const vmCount = tenantGroupDocs.reduce((n, g) => n + g.vm_ids.length, 0);
      const notes: string[] = [];
      if (vmCount === 1) notes.push('the tenant has one VM: its group is learned only from traffic with outside addresses and other tenants');
      const silent = tenantGroupDocs.filter((g) => g.security_group_rules.length === 0).length;
      if (silent > 0) notes.push(`${silent} of ${tenantGroupDocs.length} groups talk to nothing in the earlier windows and allow nothing`);
      docs.push({
        tenant_id: tenants[t]!,
        project_id: tenants[t]!,
        rule_count: tenantGroupDocs.reduce((n, g) => n + g.security_group_rules.length, 0),
        security_groups: tenantGroupDocs,
        check: this.checked.tenant(t),
        notes,
      });
    }
    this.built = { ...this.head, summary: this.summary, tenants: docs };
    return this.built;
  }

  private groupDocument(g: number): SecurityGroup {
    const l = this.learned;
    const info = l.groups[g]!;
    const name = this.membership.clusterNames.get(info.clusterId);
    const tenant = l.tenants[info.tenant]!;
    const groupRules: SecurityGroupRule[] = [];
    for (let r = l.groupRuleStart[g]!; r < l.groupRuleStart[g + 1]!; r++) groupRules.push(this.rule(r, info.id, tenant));
    const group: SecurityGroup = {
      id: info.id,
      security_group_id: info.id,
      name: `cluster-${info.clusterId}`,
      description: `VMs of cluster ${info.clusterId}${name === undefined ? '' : ` (${name})`}; rules learned from their traffic`,
      tenant_id: tenant,
      project_id: tenant,
      cluster_id: info.clusterId,
      vm_ids: info.vms.slice().sort(),
      security_group_rules: groupRules,
    };
    if (info.placedByPeers.length > 0) group.vms_placed_by_peers = info.placedByPeers.slice().sort();
    if (groupRules.length === 0) {
      group.note = info.vms.every((v) => this.anomalous.has(v))
        ? 'every VM of the group is ranked anomalous: nothing was learned, the group allows nothing'
        : 'no normal traffic seen in the earlier windows: the group allows nothing';
    }
    return group;
  }

  private rule(r: number, groupId: string, tenant: string): SecurityGroupRule {
    const l = this.learned;
    const R = this.rules;
    const G = l.groups.length;
    const field = R.field.values[r]!;
    const remote = R.remote.values[r]!;
    const ipv6 = field >> 8;
    const any = remote === ANY;
    const remoteGroup = !any && remote <= G ? l.groups[remote - 1]!.id : null;
    const direction: Direction = l.ruleKind[r]! >> 8 === INGRESS ? 'ingress' : 'egress';
    const min = l.ruleMin[r]!;
    const max = l.ruleMax[r]!;
    return {
      id: `${groupId}/${direction}/${l.rulePosition[r]!}`,
      security_group_id: groupId,
      direction,
      ethertype: ipv6 === 1 ? 'IPv6' : 'IPv4',
      protocol: protocolName(field & 255),
      port_range_min: min < 0 ? null : min,
      port_range_max: max < 0 ? null : max,
      remote_group_id: remoteGroup,
      remote_ip_prefix: remoteGroup !== null ? null : any ? (ipv6 === 1 ? '::/0' : '0.0.0.0/0') : hostPrefix(l.cols.ips[remote - ADDRESS_REMOTE]!),
      project_id: tenant,
      tenant_id: tenant,
      learned_from: { vms: R.vms.values[r]!, flows: R.flows.values[r]!, bytes: R.bytes.values[r]!, ports: R.ports.values[r]! },
      basis: BASIS_NAMES[R.range.values[r]!]!,
      remote_basis: any ? 'any_address' : 'seen',
    };
  }

  get connections(): CheckedConnection[] {
    if (this.connectionList === null) {
      this.ownColumns('the connections');
      const c = this.learned.cols;
      const allowed = this.checked.allowed;
      const list: CheckedConnection[] = [];
      for (let i = 0; i < c.count; i++) {
        const a = allowed[i]!;
        list.push({
          client: { vmId: c.endVm[c.client[i]!]!, ip: c.ips[c.clientIp[i]!]! },
          server: { vmId: c.endVm[c.server[i]!]!, ip: c.ips[c.serverIp[i]!]! },
          protocol: c.protocol[i]!,
          port: c.port[i]!,
          altPort: c.otherPort[i]!,
          earlierFlows: c.earlierFlows[i]!,
          earlierBytes: c.earlierBytes[i]!,
          latestFlows: c.latestFlows[i]!,
          latestBytes: c.latestBytes[i]!,
          allowed: a < 0 ? null : a === 1,
        });
      }
      this.connectionList = list;
    }
    return this.connectionList;
  }

  get places(): Map<string, VmPlace> {
    if (this.placeMap === null) {
      const m = this.membership;
      const l = this.learned;
      const places = new Map<string, VmPlace>();
      m.vmIds.forEach((vmId, row) => {
        const tenant = m.vmTenants[row] ?? null;
        if (tenant === null) return;
        // The group learning used: the run's cluster, or the group a VM without history was placed in.
        const end = l.cols.vmEnds.get(vmId);
        const g = end !== undefined && end < l.ends ? l.endGroup[end]! : -1;
        places.set(vmId, { tenant, groupId: g >= 0 ? l.groups[g]!.id : groupIdOf(tenant, m.clusterIds[row]!), anomalous: this.anomalous.has(vmId) });
      });
      this.placeMap = places;
    }
    return this.placeMap;
  }
}

/** Indices of `texts` in the order the texts sort (code units, as `<` compares them; the texts are distinct). */
function sortedIndices(texts: readonly string[]): number[] {
  const at = new Map<string, number>();
  for (let i = 0; i < texts.length; i++) at.set(texts[i]!, i);
  // The built-in sort of strings, not a comparator over indices: several times faster on tens of thousands.
  return texts
    .slice()
    .sort()
    .map((t) => at.get(t)!);
}

const TURNED_COLUMNS = ['client', 'server', 'clientIp', 'serverIp', 'port', 'otherPort'] as const;
type TurnedColumn = (typeof TURNED_COLUMNS)[number];

/**
 * The columns of the connections a computation reads until its outcome is released: the split's traffic
 * (SplitBuffers) and the copies of the six columns turned rows change (turnServerEnds). Kept from run to
 * run like the learned entries (LearnedEntries): at 100k VMs they are about 240 MB, allocated anew by every run
 * before, and the major collections those allocations brought on were the longest steps. Unlike the scan's
 * tables they outlive the computation (the outcome's document and connections read them), so they come
 * back only when the outcome is released (SecurityGroupsOutcome.release: the service does when a newer
 * run's rules replace them and no document is being built from them); an outcome never released keeps its
 * own. One set is kept idle.
 */
class RunScratch {
  private static idle: RunScratch | null = null;
  readonly split = new SplitBuffers();
  private readonly turned = new Map<TurnedColumn, Int32Array>();
  private readonly tables = new Map<KeptTable, IntTupleTable>();

  /** A set for a log of `rows` connections: the idle one when there is one. */
  static take(rows: number): RunScratch {
    const s = RunScratch.idle ?? new RunScratch();
    RunScratch.idle = null;
    // An eighth to spare when they grow: the log grows between runs.
    s.split.reserve(rows, rows >> 3);
    return s;
  }

  /**
   * What the turned copies hold: the log's columns whose buffer this is, up to `turnedCount` rows, with the
   * rows of `lastTurned` swapped. Held weakly: a purge replaces the log's columns, and the old ones go.
   */
  private turnedFrom: WeakRef<ArrayBufferLike> | null = null;
  private turnedCount = 0;
  private lastTurned = new IntColumn(16);

  /** Column `name` of the turned copies, `rows` long (its contents those of an earlier run: to be overwritten). */
  private turnedColumn(name: TurnedColumn, rows: number): Int32Array {
    let a = this.turned.get(name);
    if (a === undefined || a.length < rows) {
      a = new Int32Array(rows + (rows >> 3));
      this.turned.set(name, a);
      this.turnedFrom = null;
    }
    return a.subarray(0, rows);
  }

  /**
   * Copies of the six columns turned rows change, equal to the log's `cols`, to be swapped in for the rows
   * turned round (turnServerEnds). When the last run's copies were taken from the same columns (no purge or
   * growth since: the log never writes a row's ends and ports once added) only the rows that run turned
   * are put back and the rows added since copied: at 100k VMs copying them all (100 MB) was a tenth of
   * a second of every run.
   */
  *turnedCopies(cols: ConnectionColumns): Generator<void, Record<TurnedColumn, Int32Array>, void> {
    const same = this.turnedFrom !== null && this.turnedFrom.deref() === cols.client.buffer && this.turnedCount <= cols.count;
    // Until turnedAre: a computation dropped half-way leaves the copies in no known state.
    this.turnedFrom = null;
    const out = {} as Record<TurnedColumn, Int32Array>;
    for (const name of TURNED_COLUMNS) {
      const known = this.turned.get(name)?.length ?? 0;
      const into = this.turnedColumn(name, cols.count);
      const source = cols[name];
      // In steps: six columns of millions of rows.
      if (same && known >= cols.count) {
        const rows = this.lastTurned.values;
        for (let k = 0; k < this.lastTurned.length; k++) {
          if ((k & (4 * SLICE_ROWS - 1)) === 4 * SLICE_ROWS - 1) yield;
          into[rows[k]!] = source[rows[k]!]!;
        }
        yield* copyInSlices(source, into, this.turnedCount, cols.count);
      } else yield* copyInSlices(source, into, 0, cols.count);
      out[name] = into;
    }
    return out;
  }

  /** The copies of `cols` now have the rows of `turned` swapped (turnServerEnds). */
  *turnedAre(cols: ConnectionColumns, turned: Int32Array): Generator<void, void, void> {
    const last = this.lastTurned;
    last.length = 0;
    if (last.values.length < turned.length) last.values = new Int32Array(turned.length + (turned.length >> 3));
    yield* copyInSlices(turned, last.values, 0, turned.length);
    last.length = turned.length;
    this.turnedCount = cols.count;
    this.turnedFrom = new WeakRef(cols.client.buffer);
  }

  /**
   * Table `name`, empty: the last run's, cleared in steps, when it has room for as many tuples as that run
   * filed (grown a step at a time in one run, a table of hundreds of thousands of tuples rehashed in single
   * steps of up to 80 ms of CPU at 100k VMs).
   */
  *table(name: KeptTable): Generator<void, IntTupleTable, void> {
    const kept = this.tables.get(name);
    if (kept !== undefined && (yield* kept.clearInSlices(kept.size, CLEAR_SLICE))) return kept;
    const made = new IntTupleTable(kept?.size ?? 1024);
    this.tables.set(name, made);
    return made;
  }

  release(): void {
    RunScratch.idle = this;
  }
}

/** Rows `from` to `to` of `source` copied into `into`, a million numbers a step (4 MB). */
function* copyInSlices(source: Int32Array, into: Int32Array, from: number, to: number): Generator<void, void, void> {
  for (let at = from; at < to; at += 1 << 20) {
    yield;
    into.set(source.subarray(at, Math.min(to, at + (1 << 20))), at);
  }
}

/**
 * The tables a computation fills and RunScratch keeps: the tie-break's (cluster, block) counts, the outside
 * addresses per port, the rules per group and port, the probes' servers and clients (probes.ts).
 */
type KeptTable = 'tieBlocks' | 'addressesAtPort' | 'rulesPerGroupPort' | 'probeServers' | 'probeClients';

/**
 * The run's groups renumbered so that those the kept entries know (`kept`, in their index order) keep their
 * index, those gone staying as groups with no VM (left out of the document), and the new ones follow in
 * the run's order; with `from`, each group's new index by its old. Null to keep the run's order (the kept
 * entries are then filed again): nothing kept, a gone group's tenant gone too, or gone groups more than a
 * quarter of all. Rules and check do not depend on the order (groups, rules and remotes are sorted by id
 * where the output shows an order; learned-entries.test.ts compares with a computation from scratch).
 */
function keptGroupOrder(groups: readonly GroupInfo[], tenantIds: ReadonlyMap<string, number>, kept: readonly KeptGroup[]): { groups: GroupInfo[]; from: Int32Array } | null {
  if (kept.length === 0) return null;
  const index = new Map<string, number>();
  for (let g = 0; g < groups.length; g++) index.set(groups[g]!.id, g);
  const out: GroupInfo[] = [];
  const from = new Int32Array(groups.length).fill(-1);
  let gone = 0;
  for (const k of kept) {
    const g = index.get(k.id);
    if (g !== undefined) {
      from[g] = out.length;
      out.push(groups[g]!);
      continue;
    }
    const t = tenantIds.get(k.tenant);
    if (t === undefined) return null;
    gone++;
    out.push({ id: k.id, tenant: t, clusterId: k.clusterId, vms: [], placedByPeers: [] });
  }
  if (4 * gone > out.length) return null;
  for (let g = 0; g < groups.length; g++) {
    if (from[g]! >= 0) continue;
    from[g] = out.length;
    out.push(groups[g]!);
  }
  return { groups: out, from };
}

/**
 * Rows `from` to `to` of the probers' count: per client VM, the services it opened connections to in the
 * earlier windows and how many of them were one-offs. A plain function over a range, not a loop in the
 * generator, so that it is compiled on its own as EntryScan.rows is.
 */
function countServices(
  cols: ConnectionColumns,
  isVm: Uint8Array,
  from: number,
  to: number,
  o: Pick<SecurityGroupOptions, 'minFlows' | 'probeMaxBytes'>,
  services: Int32Array,
  oneOff: Int32Array,
): void {
  const { client, earlierFlows, earlierBytes } = cols;
  for (let i = from; i < to; i++) {
    const flows = earlierFlows[i]!;
    const c = client[i]!;
    if (flows === 0 || isVm[c] === 0) continue;
    services[c]!++;
    if (flows < o.minFlows && earlierBytes[i]! <= o.probeMaxBytes) oneOff[c]!++;
  }
}

/** Per end of the columns: an index of its VM's tenant and cluster in the run (-1: an address, or no tenant). */
function* clustersOfEnds(membership: Membership, cols: ConnectionColumns): Generator<void, Int32Array, void> {
  const of = new Int32Array(cols.ends).fill(-1);
  const ids = new Map<string, number>();
  for (let row = 0; row < membership.vmIds.length; row++) {
    if ((row & (VM_SLICE - 1)) === VM_SLICE - 1) yield;
    const tenant = membership.vmTenants[row] ?? null;
    const end = cols.vmEnds.get(membership.vmIds[row]!);
    if (tenant === null || end === undefined || end >= cols.ends) continue;
    const key = groupIdOf(tenant, membership.clusterIds[row]!);
    let id = ids.get(key);
    if (id === undefined) {
      id = ids.size;
      ids.set(key, id);
    }
    of[end] = id;
  }
  return of;
}

/**
 * The connections with the server end decided where the records could not tell it: the rows the split
 * turns round (decided by the log's degrees, ConnectionSplit.turned) get their ends, addresses and ports
 * swapped. The log's columns are not written: those of the ends, addresses and ports are copied when a
 * connection turns round.
 */
function* turnServerEnds(cols: ConnectionColumns, turned: Int32Array, scratch: RunScratch): Generator<void, ConnectionColumns, void> {
  if (turned.length === 0) return cols;
  const copied = { ...cols, ...(yield* scratch.turnedCopies(cols)) };
  for (let k = 0; k < turned.length; k++) {
    if ((k & (SLICE_ROWS - 1)) === SLICE_ROWS - 1) yield;
    const i = turned[k]!;
    copied.client[i] = cols.server[i]!;
    copied.server[i] = cols.client[i]!;
    copied.clientIp[i] = cols.serverIp[i]!;
    copied.serverIp[i] = cols.clientIp[i]!;
    copied.port[i] = cols.otherPort[i]!;
    copied.otherPort[i] = cols.port[i]!;
  }
  yield* scratch.turnedAre(cols, turned);
  return copied;
}

/**
 * The rows to turn round: those the log's degrees decided (`turned`), and of the `tied` ones (a collective's
 * listener has one peer, as its client's connection port has) those whose client end's port has more
 * ports of undecided connections of its cluster close by (in its block of `gap` ports or the two beside it)
 * than the server end's: a cluster's listeners of one service sit in one range, while its clients' ports
 * are drawn over the whole ephemeral range. Then the lower port. Ports are counted per connection end, in
 * one pass over a table of (cluster, block) counts, not per distinct (end, port).
 */
function* breakTies(
  cols: ConnectionColumns,
  turned: Int32Array,
  tied: Int32Array,
  endCluster: Int32Array,
  gap: number,
  /** Empty (RunScratch.table). */
  blocks: IntTupleTable,
): Generator<void, Int32Array, void> {
  if (tied.length === 0) return turned;
  const { client, server, port, otherPort } = cols;
  const inBlock = new IntColumn(1024);
  // A step's rows: two look-ups each in a table larger than the caches.
  for (let i = 0; i < cols.count; i += SLICE_ROWS) {
    if (!blocks.hasRoomFor(2 * SLICE_ROWS)) yield* blocks.reserveInSlices(2 * (blocks.size + 2 * SLICE_ROWS), SLICE_ROWS);
    countBlocks(cols, i, Math.min(cols.count, i + SLICE_ROWS), endCluster, gap, blocks, inBlock);
    yield;
  }
  const close = (end: number, p: number): number => {
    const cluster = endCluster[end]!;
    if (cluster < 0) return 0;
    const block = Math.floor(p / gap);
    let n = 0;
    for (let b = block - 1; b <= block + 1; b++) {
      const id = blocks.find(cluster, b, 0, 0);
      if (id >= 0) n += inBlock.values[id]!;
    }
    return n;
  };
  const out = new IntColumn(turned.length + tied.length);
  // One copy, not a push a row: a million rows pushed were most of a 40 ms step.
  out.values.set(turned);
  out.length = turned.length;
  for (let k = 0; k < tied.length; k++) {
    // Six look-ups a row.
    if ((k & (ENTRY_SLICE - 1)) === ENTRY_SLICE - 1) yield;
    const i = tied[k]!;
    const d = close(client[i]!, otherPort[i]!) - close(server[i]!, port[i]!);
    if (d > 0 || (d === 0 && otherPort[i]! < port[i]!)) out.push(i);
  }
  return out.values.subarray(0, out.length);
}

/** breakTies' count over rows `from` to `to`: ends of undecided connections per (cluster, block of `gap` ports). A plain function, compiled on its own. */
function countBlocks(cols: ConnectionColumns, from: number, to: number, endCluster: Int32Array, gap: number, blocks: IntTupleTable, inBlock: IntColumn): void {
  const { client, server, port, otherPort } = cols;
  for (let i = from; i < to; i++) {
    const other = otherPort[i]!;
    if (other < 0) continue;
    for (let side = 0; side < 2; side++) {
      const cluster = endCluster[side === 0 ? server[i]! : client[i]!]!;
      if (cluster < 0) continue;
      const known = blocks.size;
      const b = blocks.idOf(cluster, Math.floor((side === 0 ? port[i]! : other) / gap), 0, 0);
      if (b === known) inBlock.push(0);
      inBlock.values[b]!++;
    }
  }
}

/** Ids grouped by a key below `keys` (counting sort: ids keep their order within a key), as offsets and ids. */
interface Buckets {
  /** The ids of key k are at start[k] to start[k + 1] - 1. */
  start: Int32Array;
  entries: Int32Array;
}

/**
 * Entries by candidate, those merged into another left out (movedTo >= 0) and those no connection holds
 * now (no flows: LearnedEntries keeps them until they outnumber the live ones).
 */
function* entriesByCandidate(
  count: number,
  candidateCount: number,
  candidateOf: Int32Array,
  traffic: Float64Array,
  movedTo: Int32Array | null,
): Generator<void, Buckets, void> {
  const listed = (e: number): boolean => traffic[2 * e]! > 0 && (movedTo === null || e >= movedTo.length || movedTo[e]! < 0);
  const start = new Int32Array(candidateCount + 1);
  for (let e = 0; e < count; e++) {
    if ((e & (4 * SLICE_ROWS - 1)) === 4 * SLICE_ROWS - 1) yield;
    if (listed(e)) start[candidateOf[e]! + 1]!++;
  }
  for (let c = 0; c < candidateCount; c++) start[c + 1]! += start[c]!;
  yield;
  const at = start.slice(0, candidateCount);
  const entries = new Int32Array(start[candidateCount]!);
  for (let e = 0; e < count; e++) {
    if ((e & (4 * SLICE_ROWS - 1)) === 4 * SLICE_ROWS - 1) yield;
    if (listed(e)) entries[at[candidateOf[e]!]!++] = e;
  }
  return { start, entries };
}

/** The VMs listed for each entry, those of an entry merged into another listed for that one. */
function* vmsByEntry(count: number, pairEntry: IntColumn, pairVm: IntColumn, movedTo: Int32Array): Generator<void, { start: Int32Array; vms: Int32Array }, void> {
  const n = pairEntry.length;
  const target = (e: number): number => (e < movedTo.length && movedTo[e]! >= 0 ? movedTo[e]! : e);
  const start = new Int32Array(count + 1);
  for (let k = 0; k < n; k++) {
    if ((k & (4 * SLICE_ROWS - 1)) === 4 * SLICE_ROWS - 1) yield;
    start[target(pairEntry.values[k]!) + 1]!++;
  }
  for (let e = 0; e < count; e++) start[e + 1]! += start[e]!;
  yield;
  const at = start.slice(0, count);
  const vms = new Int32Array(n);
  for (let k = 0; k < n; k++) {
    if ((k & (4 * SLICE_ROWS - 1)) === 4 * SLICE_ROWS - 1) yield;
    vms[at[target(pairEntry.values[k]!)]!++] = pairVm.values[k]!;
  }
  return { start, vms };
}

function distribution(values: readonly number[]): { min: number; median: number; p90: number; max: number } {
  if (values.length === 0) return { min: 0, median: 0, p90: 0, max: 0 };
  const s = Float64Array.from(values).sort();
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { min: s[0]!, median: at(0.5), p90: at(0.9), max: s[s.length - 1]! };
}

export type { CheckedConnection };
export { protocolField };
