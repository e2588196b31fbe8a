/**
 * Security groups learned from the traffic a run's VM clusters really have: per tenant, one group per VM
 * cluster it holds, with the ingress and egress rules their normal traffic of the earlier windows needs,
 * then checked against the latest window (check.ts). Pure: a run's membership and a connection log in,
 * a document out. How rules are learned is told in docs/security-groups.md.
 */
import { ICMP, ICMPV6, SCTP, TCP, UDP } from '../contract/protocols.ts';
import { type CheckedConnection, checkLearned } from './check.ts';
import { type ConnectionColumns, type ConnectionEnd, type ConnectionLog, EPOCHS_PER_WINDOW } from './connection-log.ts';
import { FloatColumn, IntColumn, IntTupleTable, SLOT_VALUE } from './int-table.ts';
import { getOrAdd } from './maps.ts';
import type { Direction, SecurityGroup, SecurityGroupRule, SecurityGroupsDocument, TenantSecurityGroups } from './types.ts';

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
  /** Distinct ports, all >= 1024, with gaps of at most `maxRangeGap`, that become one range. */
  minRangePorts: number;
  maxRangeGap: number;
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
  minRangePorts: 4,
  maxRangeGap: 256,
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

/**
 * Sorted ports as segments, by index into `ports` (start inclusive, end exclusive): a range where many ports
 * sit close together above 1024, else contiguous runs of seen ports.
 */
function portSegments(ports: ArrayLike<number>, o: Pick<SecurityGroupOptions, 'minRangePorts' | 'maxRangeGap'>): Array<{ start: number; end: number; range: boolean }> {
  const out: Array<{ start: number; end: number; range: boolean }> = [];
  let i = 0;
  while (i < ports.length) {
    let j = i;
    while (j + 1 < ports.length && ports[j + 1]! - ports[j]! <= o.maxRangeGap) j++;
    if (j + 1 - i >= o.minRangePorts && ports[i]! >= 1024) out.push({ start: i, end: j + 1, range: true });
    else {
      // Contiguous seen ports merge without allowing an unseen one.
      let k = i;
      while (k <= j) {
        let m = k;
        while (m + 1 <= j && ports[m + 1] === ports[m]! + 1) m++;
        out.push({ start: k, end: m + 1, range: false });
        k = m + 1;
      }
    }
    i = j + 1;
  }
  return out;
}

/**
 * Moves into `kept` the rare entries (each port seen in fewer than minFlows flows) of a chain that is a range
 * by portSegments' measure (at least minRangePorts ports, all >= 1024, gaps of at most maxRangeGap) and
 * carries at least minFlows flows per port of that minimum in all: a service on a port per session (RTP,
 * passive-mode data, dynamic RPC endpoints) shows each port once or twice, and only the chain shows it is
 * one service. A chain that is not a range leaves its rare ports one-offs. Both lists stay sorted by port.
 */
function joinRareRangePorts(
  kept: number[],
  rare: number[],
  portOf: (e: number) => number,
  flowsOf: (e: number) => number,
  o: Pick<SecurityGroupOptions, 'minFlows' | 'minRangePorts' | 'maxRangeGap'>,
): void {
  const all = kept.concat(rare).sort((a, b) => portOf(a) - portOf(b));
  if (all.length < o.minRangePorts) return;
  const joined = new Set<number>();
  let i = 0;
  while (i < all.length) {
    let j = i;
    let flows = flowsOf(all[i]!);
    while (j + 1 < all.length && portOf(all[j + 1]!) - portOf(all[j]!) <= o.maxRangeGap) flows += flowsOf(all[++j]!);
    if (j + 1 - i >= o.minRangePorts && portOf(all[i]!) >= 1024 && flows >= o.minFlows * o.minRangePorts) {
      for (let k = i; k <= j; k++) joined.add(all[k]!);
    }
    i = j + 1;
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

/** Remote of a candidate: ANY (any address), 1 + group index, or 1 + groups + address id. */
const ANY = 0;
const INGRESS = 0;
const EGRESS = 1;

interface GroupInfo {
  id: string;
  tenant: number;
  clusterId: string;
  vms: string[];
}

/**
 * What learning hands the check: the connections as columns, each end's group, tenant and rank, and the
 * rules as columns beside their documents (the check matches numbers, not text).
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
  rules: SecurityGroupRule[];
  /** Per rule: its position in its group's list (the first match in list order wins), port bounds (-1: any port). */
  rulePosition: Int32Array;
  ruleGroup: Int32Array;
  ruleMin: Int32Array;
  ruleMax: Int32Array;
  /**
   * Candidate rules by (side, ethertype and protocol, remote, 0), side being 2 * group + direction (see
   * candidateFields); their rules are candidateRules[2 * id] to candidateRules[2 * id + 1] (exclusive), in
   * list order.
   */
  candidates: IntTupleTable;
  candidateRules: Int32Array;
  /** Per connection: the candidates of its server's ingress and client's egress learned from it (-1: none). */
  rowCandidates: Int32Array;
  /** Per side: bit 1 when it has rules for a peer group, 2 for an address, 4 for any address. */
  sideRemotes: Uint8Array;
}

/** A candidate's fields but the side: the ethertype (1 for IPv6) and protocol as one number, and the remote. */
export function protocolField(ipv6: number, protocol: number): number {
  return ipv6 * 256 + protocol;
}

/** Connections between two steps of the sliced computation: a slice is about this many. */
export const SLICE_ROWS = 16_384;

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
  document: SecurityGroupsDocument;
  /** The connections of the log with their server ends decided and the check's verdict (built on first use). */
  readonly connections: CheckedConnection[];
  /** Where each VM of the run is (built on first use). */
  readonly places: Map<string, VmPlace>;
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
  const split = log.split(membership.computedAt);
  const logFigures = { held: log.size, max: log.maxConnections, ...log.counters, epochMs: log.epochMs, checkEpoch: log.epochOf(membership.computedAt) };
  while (!split.fill(4 * SLICE_ROWS)) yield;
  const cols = yield* resolveServerEnds(split.columns);
  const n = cols.count;
  const ends = cols.ends;
  const { client, earlierFlows, earlierBytes } = cols;

  // Probers: VMs that opened connections to many distinct services in the earlier windows, most of them one-offs.
  const services = new Int32Array(ends);
  const oneOff = new Int32Array(ends);
  for (let i = 0; i < n; i++) {
    if ((i & (4 * SLICE_ROWS - 1)) === 4 * SLICE_ROWS - 1) yield;
    const c = client[i]!;
    if (cols.endVm[c] === null || earlierFlows[i] === 0) continue;
    services[c]!++;
    if (earlierFlows[i]! < o.minFlows && earlierBytes[i]! <= o.probeMaxBytes) oneOff[c]!++;
  }
  const isProber = (e: number): boolean => services[e]! >= o.proberMinServices && 2 * oneOff[e]! > services[e]!;

  const vmsWithoutTenant: string[] = [];
  const anomalousVms: string[] = [];
  const tenantIds = new Map<string, number>();
  const tenants: string[] = [];
  const groupIds = new Map<string, number>();
  const groups: GroupInfo[] = [];
  const endGroup = new Int32Array(ends).fill(-1);
  const endTenant = new Int32Array(ends).fill(-1);
  const endAnomalous = new Uint8Array(ends);
  const anomalousSet = new Set<string>();
  for (let row = 0; row < membership.vmIds.length; row++) {
    if ((row & 4095) === 4095) yield;
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
      groups.push({ id: groupId, tenant: t, clusterId, vms: [] });
      groupIds.set(groupId, g);
    }
    groups[g]!.vms.push(vmId);
    if (end !== undefined) {
      endGroup[end] = g;
      endTenant[end] = t;
    }
  }
  yield;
  const G = groups.length;
  // Groups in the order of their ids: the document's order, and the order remotes sort in within a group.
  const groupOrder = Array.from(groups.keys()).sort((a, b) => (groups[a]!.id < groups[b]!.id ? -1 : groups[a]!.id > groups[b]!.id ? 1 : 0));
  const groupRank = new Int32Array(G);
  groupOrder.forEach((g, k) => {
    groupRank[g] = k;
  });
  yield;

  // Candidate rules (side, protocol field, remote) and their ports ("entries": a candidate at one port),
  // with their traffic and the VMs of the group it was seen at. A VM is listed again for an entry only
  // when another came between (most entries have one VM); the distinct ones are counted at the end.
  const notLearned: Record<string, number> = { anomalous: 0, no_group: 0, rare_rules: 0 };
  const scan = new EntryScan(cols, G, endGroup, endTenant, endAnomalous);
  for (let i = 0; i < n; i += SLICE_ROWS) {
    scan.rows(i, Math.min(n, i + SLICE_ROWS));
    yield;
  }
  notLearned.anomalous = scan.anomalous;
  notLearned.no_group = scan.noGroup;
  const { candidates, entries, entryCandidate, entryTraffic, pairEntry, pairVm, rowCandidates } = scan;

  // Outside addresses: one candidate per address, except for the ports of a group, direction and protocol
  // that more than maxPrefixesPerRule addresses used (of either family: a public service is public over
  // both): those go to one candidate for any address per ethertype. An address candidate holds one
  // address, so the addresses of a port are the address candidates that have it. Taken in the order the
  // candidates and their ports were first seen, the order the merged traffic is added up in.
  let ek = entries.keys;
  let byCandidate = yield* entriesByCandidate(entries.size, candidates.size, entryCandidate.values, null);
  const addressesAtPort = new IntTupleTable(1024);
  const addressCount = new IntColumn();
  for (let c = 0; c < candidates.size; c++) {
    if ((c & 16_383) === 16_383) yield;
    if (candidates.keys[4 * c + 2]! <= G) continue;
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
  for (let c = 0; c < scanned; c++) {
    if ((c & 16_383) === 16_383) yield;
    const remote = candidates.keys[4 * c + 2]!;
    if (remote <= G || remote === ANY) continue;
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
  byCandidate = yield* entriesByCandidate(E, C, entryCandidate.values, movedTo);
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
  const groupCandidates: number[][] = Array.from({ length: G }, () => []);
  for (let c = 0; c < C; c++) {
    if ((c & 65_535) === 65_535) yield;
    if (byCandidate.start[c + 1]! > byCandidate.start[c]!) groupCandidates[candidates.keys[4 * c]! >> 1]!.push(c);
  }
  const ck = candidates.keys;
  const order = (c: number): number => {
    const direction = ck[4 * c]! & 1;
    const any = ck[4 * c + 2] === ANY ? 0 : 1;
    const field = ck[4 * c + 1]!;
    return (((direction === EGRESS ? 0 : 2) + any) * 2 + (field >> 8)) * 256 + PROTOCOL_TEXT_RANK[field & 255]!;
  };
  const remoteText = (remote: number): string => (remote <= G ? groups[remote - 1]!.id : `a${cols.ips[remote - 1 - G]!}`);
  const byTextKey = (a: number, b: number): number => {
    const d = order(a) - order(b);
    if (d !== 0) return d;
    const ra = ck[4 * a + 2]!;
    const rb = ck[4 * b + 2]!;
    if (ra <= G && rb <= G) return groupRank[ra - 1]! - groupRank[rb - 1]!;
    const ta = remoteText(ra);
    const tb = remoteText(rb);
    return ta < tb ? -1 : ta > tb ? 1 : 0;
  };

  const rules: SecurityGroupRule[] = [];
  const rulePosition = new IntColumn(4 * G);
  const ruleGroup = new IntColumn(4 * G);
  const ruleMin = new IntColumn(4 * G);
  const ruleMax = new IntColumn(4 * G);
  const ruleKind = new IntColumn(4 * G);
  const candidateRules = new Int32Array(2 * C);
  const sideRemotes = new Uint8Array(2 * G);
  const rulesOfGroup: SecurityGroupRule[][] = Array.from({ length: G }, () => []);
  const kept: number[] = [];
  const rare: number[] = [];
  const portOfEntry = (e: number): number => ek[4 * e + 3]!;
  const flowsOfEntry = (e: number): number => trafficOf[2 * e]!;
  const ports: number[] = [];
  for (let g = 0; g < G; g++) {
    if ((g & 255) === 255) yield;
    const list = groupCandidates[g]!;
    if (list.length === 0) continue;
    if (list.length > 1) list.sort(byTextKey);
    const groupRules = rulesOfGroup[g]!;
    const groupId = groups[g]!.id;
    const tenant = tenants[groups[g]!.tenant]!;
    for (const c of list) {
      kept.length = 0;
      rare.length = 0;
      for (let k = byCandidate.start[c]!; k < byCandidate.start[c + 1]!; k++) {
        const e = byCandidate.entries[k]!;
        if (trafficOf[2 * e]! >= o.minFlows) kept.push(e);
        else rare.push(e);
      }
      if (kept.length > 1) kept.sort((a, b) => ek[4 * a + 3]! - ek[4 * b + 3]!);
      if (rare.length > 0) joinRareRangePorts(kept, rare, portOfEntry, flowsOfEntry, o);
      notLearned.rare_rules! += rare.length;
      candidateRules[2 * c] = candidateRules[2 * c + 1] = rules.length;
      if (kept.length === 0) continue;
      ports.length = 0;
      for (const e of kept) ports.push(ek[4 * e + 3]!);
      const hasPorts = !(kept.length === 1 && ports[0] === -1);
      const segments = hasPorts ? portSegments(ports, o) : [{ start: 0, end: 1, range: false }];
      const side = ck[4 * c]!;
      const field = ck[4 * c + 1]!;
      const remote = ck[4 * c + 2]!;
      const ipv6 = field >> 8;
      const proto = field & 255;
      const any = remote === ANY;
      const remoteGroup = !any && remote <= G ? groups[remote - 1]!.id : null;
      const remotePrefix = remoteGroup !== null ? null : any ? (ipv6 === 1 ? '::/0' : '0.0.0.0/0') : hostPrefix(cols.ips[remote - 1 - G]!);
      sideRemotes[side]! |= any ? 4 : remoteGroup !== null ? 1 : 2;
      const direction: Direction = (side & 1) === INGRESS ? 'ingress' : 'egress';
      for (const s of segments) {
        let flows = 0;
        let bytes = 0;
        if (s.end - s.start === 1) {
          flows = trafficOf[2 * kept[s.start]!]!;
          bytes = trafficOf[2 * kept[s.start]! + 1]!;
        } else {
          for (let k = s.start; k < s.end; k++) {
            flows += trafficOf[2 * kept[k]!]!;
            bytes += trafficOf[2 * kept[k]! + 1]!;
          }
        }
        const min = ports[s.start]!;
        const max = ports[s.end - 1]!;
        rulePosition.push(groupRules.length);
        ruleGroup.push(g);
        ruleMin.push(min);
        ruleMax.push(max);
        ruleKind.push((side & 1) * 256 + proto);
        const rule: SecurityGroupRule = {
          id: `${groupId}/${direction}/${groupRules.length}`,
          security_group_id: groupId,
          direction,
          ethertype: ipv6 === 1 ? 'IPv6' : 'IPv4',
          protocol: protocolName(proto),
          port_range_min: min < 0 ? null : min,
          port_range_max: max < 0 ? null : max,
          remote_group_id: remoteGroup,
          remote_ip_prefix: remotePrefix,
          project_id: tenant,
          tenant_id: tenant,
          learned_from: { vms: distinctVms(kept, s.start, s.end), flows, bytes, ports: s.end - s.start },
          basis: s.range ? 'port_range' : 'exact',
          remote_basis: any ? 'any_address' : 'seen',
        };
        rules.push(rule);
        groupRules.push(rule);
      }
      candidateRules[2 * c + 1] = rules.length;
    }
  }
  yield;

  // Groups by tenant, sorted.
  const tenantDocs = new Map<number, SecurityGroup[]>();
  for (let k = 0; k < groupOrder.length; k++) {
    if ((k & 1023) === 1023) yield;
    const g = groupOrder[k]!;
    const info = groups[g]!;
    const groupRules = rulesOfGroup[g]!;
    const name = membership.clusterNames.get(info.clusterId);
    const tenant = tenants[info.tenant]!;
    const group: SecurityGroup = {
      id: info.id,
      security_group_id: info.id,
      name: `cluster-${info.clusterId}`,
      description: `VMs of cluster ${info.clusterId}${name === undefined ? '' : ` (${name})`}; rules learned from their traffic`,
      tenant_id: tenant,
      project_id: tenant,
      cluster_id: info.clusterId,
      vm_ids: info.vms.sort(),
      security_group_rules: groupRules,
    };
    if (groupRules.length === 0) {
      group.note = info.vms.every((v) => anomalousSet.has(v))
        ? 'every VM of the group is ranked anomalous: nothing was learned, the group allows nothing'
        : 'no normal traffic seen in the earlier windows: the group allows nothing';
    }
    getOrAdd(tenantDocs, info.tenant, () => []).push(group);
  }
  yield;

  const learned: Learned = {
    cols,
    ends,
    groups,
    tenants,
    endGroup,
    endTenant,
    endAnomalous,
    rules,
    rulePosition: rulePosition.values.subarray(0, rules.length),
    ruleGroup: ruleGroup.values.subarray(0, rules.length),
    ruleMin: ruleMin.values.subarray(0, rules.length),
    ruleMax: ruleMax.values.subarray(0, rules.length),
    candidates,
    candidateRules,
    rowCandidates,
    sideRemotes,
  };
  const checked = yield* checkLearned(learned, o.maxListed);

  const tenantOrder = Array.from(tenants.keys()).sort((a, b) => (tenants[a]! < tenants[b]! ? -1 : tenants[a]! > tenants[b]! ? 1 : 0));
  const docs: TenantSecurityGroups[] = [];
  for (let k = 0; k < tenantOrder.length; k++) {
    if ((k & 1023) === 1023) yield;
    const t = tenantOrder[k]!;
    const tenantGroupDocs = tenantDocs.get(t)!;
    const vmCount = tenantGroupDocs.reduce((k, g) => k + g.vm_ids.length, 0);
    const notes: string[] = [];
    if (vmCount === 1) notes.push('the tenant has one VM: its group is learned only from traffic with outside addresses and other tenants');
    const silent = tenantGroupDocs.filter((g) => g.security_group_rules.length === 0).length;
    if (silent > 0) notes.push(`${silent} of ${tenantGroupDocs.length} groups talk to nothing in the earlier windows and allow nothing`);
    docs.push({
      tenant_id: tenants[t]!,
      project_id: tenants[t]!,
      rule_count: tenantGroupDocs.reduce((k, g) => k + g.security_group_rules.length, 0),
      security_groups: tenantGroupDocs,
      check: checked.byTenant[t]!,
      notes,
    });
  }

  const ruleCounts = docs.map((t) => t.rule_count);
  // Rules per (group, direction, protocol, port range): several only when several remotes use one port.
  const perGroupPort = new IntTupleTable(rules.length);
  const gpCount = new IntColumn(rules.length);
  for (let r = 0; r < rules.length; r++) {
    if ((r & 16_383) === 16_383) yield;
    const known = perGroupPort.size;
    const k = perGroupPort.idOf(ruleGroup.values[r]!, ruleKind.values[r]!, ruleMin.values[r]!, ruleMax.values[r]!);
    if (k === known) gpCount.push(0);
    gpCount.values[k]!++;
  }
  const gp = Array.from(gpCount.values.subarray(0, gpCount.length));
  const wm = membership.computedAt;
  const checkFrom = (logFigures.checkEpoch - EPOCHS_PER_WINDOW + 1) * logFigures.epochMs;
  const iso = (t: number): string | null => (Number.isFinite(t) ? new Date(t).toISOString() : null);
  const document: SecurityGroupsDocument = {
    run_id: membership.runId,
    computed_at: iso(wm),
    check_window: { from: iso(checkFrom), to: iso(wm) },
    anomalous_vms: anomalousVms.sort(),
    vms_without_tenant: vmsWithoutTenant.sort(),
    summary: {
      tenants: docs.length,
      groups: G,
      rules: ruleCounts.reduce((a, b) => a + b, 0),
      rules_per_tenant: distribution(ruleCounts),
      rules_per_group_port: { ...distribution(gp), over_3: gp.filter((k) => k > 3).length },
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
    },
    tenants: docs,
  };
  return new Outcome(document, learned, checked.allowed, membership, anomalousSet);
}

class Outcome implements SecurityGroupsOutcome {
  durationMs = 0;
  private connectionList: CheckedConnection[] | null = null;
  private placeMap: Map<string, VmPlace> | null = null;

  constructor(
    readonly document: SecurityGroupsDocument,
    private readonly learned: Learned,
    /** Per connection: -1 no check-window traffic, 0 denied, 1 allowed. */
    private readonly allowed: Int8Array,
    private readonly membership: Membership,
    private readonly anomalous: ReadonlySet<string>,
  ) {}

  get connections(): CheckedConnection[] {
    if (this.connectionList === null) {
      const c = this.learned.cols;
      const list: CheckedConnection[] = [];
      for (let i = 0; i < c.count; i++) {
        const a = this.allowed[i]!;
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
      const places = new Map<string, VmPlace>();
      m.vmIds.forEach((vmId, row) => {
        const tenant = m.vmTenants[row] ?? null;
        if (tenant !== null) places.set(vmId, { tenant, groupId: groupIdOf(tenant, m.clusterIds[row]!), anomalous: this.anomalous.has(vmId) });
      });
      this.placeMap = places;
    }
    return this.placeMap;
  }
}

/**
 * Candidate rules (side, protocol field, remote) and their ports ("entries": a candidate at one port),
 * with their traffic and the VMs of the group it was seen at, filed from the connections' earlier
 * traffic. A VM is listed again for an entry only when another came between (most entries have one VM);
 * the distinct ones are counted at the end. A class with a plain method over a range of connections,
 * not a loop in the generator: the hottest loop of a run, compiled on its own.
 */
class EntryScan {
  anomalous = 0;
  noGroup = 0;
  readonly candidates: IntTupleTable;
  readonly entries: IntTupleTable;
  readonly entryCandidate: IntColumn;
  /** Flows and bytes of entry e at 2e and 2e + 1. */
  readonly entryTraffic: FloatColumn;
  readonly pairEntry: IntColumn;
  readonly pairVm: IntColumn;
  /** Per connection, the candidates its two ends' rules were learned from (-1: none): the check's first look. */
  readonly rowCandidates: Int32Array;

  constructor(
    private readonly cols: ConnectionColumns,
    private readonly groupCount: number,
    private readonly endGroup: Int32Array,
    private readonly endTenant: Int32Array,
    private readonly endAnomalous: Uint8Array,
  ) {
    const n = cols.count;
    // Sized for what replicated traces show (about one entry per three connections, nearly as many
    // candidates), so that few rehash.
    this.candidates = new IntTupleTable(Math.max(groupCount, n >> 2));
    this.entries = new IntTupleTable(n >> 2);
    this.entryCandidate = new IntColumn(n >> 2);
    this.entryTraffic = new FloatColumn(n >> 2);
    this.pairEntry = new IntColumn(n >> 2);
    this.pairVm = new IntColumn(n >> 2);
    this.rowCandidates = new Int32Array(2 * n).fill(-1);
  }

  rows(from: number, to: number): void {
    const { client, server, clientIp, serverIp, protocol, port, earlierFlows, earlierBytes, ipV6 } = this.cols;
    const { endGroup, endTenant, endAnomalous, rowCandidates } = this;
    const G = this.groupCount;
    for (let i = from; i < to; i++) {
      const flows = earlierFlows[i]!;
      if (flows === 0) continue;
      const ce = client[i]!;
      const se = server[i]!;
      if (endAnomalous[ce] === 1 || endAnomalous[se] === 1) {
        this.anomalous++;
        continue;
      }
      const cg = endGroup[ce]!;
      const sg = endGroup[se]!;
      if (cg < 0 && sg < 0) {
        this.noGroup++;
        continue;
      }
      const proto = protocol[i]!;
      const sameTenant = cg >= 0 && sg >= 0 && endTenant[ce] === endTenant[se];
      if (sg >= 0) {
        const ip = clientIp[i]!;
        rowCandidates[2 * i] = this.add(2 * sg + INGRESS, protocolField(ipV6[ip]!, proto), sameTenant ? 1 + cg : 1 + G + ip, port[i]!, se, flows, earlierBytes[i]!);
      }
      if (cg >= 0) {
        const ip = serverIp[i]!;
        rowCandidates[2 * i + 1] = this.add(2 * cg + EGRESS, protocolField(ipV6[ip]!, proto), sameTenant ? 1 + sg : 1 + G + ip, port[i]!, ce, flows, earlierBytes[i]!);
      }
    }
  }

  /** Adds traffic to an entry, made when new; its candidate. */
  add(side: number, field: number, remote: number, p: number, vm: number, flows: number, bytes: number): number {
    const entries = this.entries;
    const known = entries.size;
    const e = entries.idOf(side, field, remote, p);
    // The slot keeps the entry's last VM + 1: read with the tuple, in the same cache line.
    const slot = entries.slot + SLOT_VALUE;
    if (e === known) {
      this.entryCandidate.push(this.candidates.idOf(side, field, remote, 0));
      this.entryTraffic.reserve(2 * e + 1);
    }
    const traffic = this.entryTraffic.values;
    traffic[2 * e]! += flows;
    traffic[2 * e + 1]! += bytes;
    if (entries.slots[slot] !== vm + 1) {
      entries.slots[slot] = vm + 1;
      this.pairEntry.push(e);
      this.pairVm.push(vm);
    }
    return this.entryCandidate.values[e]!;
  }
}

/**
 * The connections with the server end decided where the records could not tell it: the end whose port
 * meets more distinct (peer, peer port) pairs is the listening one (a service port meets every client's
 * ephemeral ports; a client's port meets one server port); on a tie, the lower port. The log's columns
 * are not written: those of the ends, addresses and ports are copied when a connection turns round.
 */
function* resolveServerEnds(cols: ConnectionColumns): Generator<void, ConnectionColumns, void> {
  const n = cols.count;
  const { client, server, port, otherPort: altPort } = cols;
  const undecided: number[] = [];
  for (let i = 0; i < n; i++) {
    if ((i & (4 * SLICE_ROWS - 1)) === 4 * SLICE_ROWS - 1) yield;
    if (altPort[i]! >= 0) undecided.push(i);
  }
  if (undecided.length === 0) return cols;
  const peers = new Map<number, Set<number>>();
  const endPort = (end: number, p: number): number => end * 65_536 + p;
  for (let k = 0; k < undecided.length; k++) {
    if ((k & (SLICE_ROWS - 1)) === SLICE_ROWS - 1) yield;
    const i = undecided[k]!;
    const s = endPort(server[i]!, port[i]!);
    const c = endPort(client[i]!, altPort[i]!);
    getOrAdd(peers, s, () => new Set()).add(c);
    getOrAdd(peers, c, () => new Set()).add(s);
  }
  const turned: number[] = [];
  for (let k = 0; k < undecided.length; k++) {
    if ((k & (SLICE_ROWS - 1)) === SLICE_ROWS - 1) yield;
    const i = undecided[k]!;
    const degServer = peers.get(endPort(server[i]!, port[i]!))!.size;
    const degClient = peers.get(endPort(client[i]!, altPort[i]!))!.size;
    if (degClient > degServer || (degClient === degServer && altPort[i]! < port[i]!)) turned.push(i);
  }
  if (turned.length === 0) return cols;
  const copied = { ...cols };
  for (const name of ['client', 'server', 'clientIp', 'serverIp', 'port', 'otherPort'] as const) {
    copied[name] = cols[name].slice();
    yield;
  }
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
  return copied;
}

/** Ids grouped by a key below `keys` (counting sort: ids keep their order within a key), as offsets and ids. */
interface Buckets {
  /** The ids of key k are at start[k] to start[k + 1] - 1. */
  start: Int32Array;
  entries: Int32Array;
}

/** Entries by candidate, those merged into another left out (movedTo >= 0). */
function* entriesByCandidate(count: number, candidateCount: number, candidateOf: Int32Array, movedTo: Int32Array | null): Generator<void, Buckets, void> {
  const start = new Int32Array(candidateCount + 1);
  for (let e = 0; e < count; e++) {
    if ((e & (4 * SLICE_ROWS - 1)) === 4 * SLICE_ROWS - 1) yield;
    if (movedTo === null || e >= movedTo.length || movedTo[e]! < 0) start[candidateOf[e]! + 1]!++;
  }
  for (let c = 0; c < candidateCount; c++) start[c + 1]! += start[c]!;
  yield;
  const at = start.slice(0, candidateCount);
  const entries = new Int32Array(start[candidateCount]!);
  for (let e = 0; e < count; e++) {
    if ((e & (4 * SLICE_ROWS - 1)) === 4 * SLICE_ROWS - 1) yield;
    if (movedTo === null || e >= movedTo.length || movedTo[e]! < 0) entries[at[candidateOf[e]!]!++] = e;
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
