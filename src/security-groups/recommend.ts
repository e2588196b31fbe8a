/**
 * Security groups learned from the traffic a run's VM clusters really have: per tenant, one group per VM
 * cluster it holds, with the ingress and egress rules their normal traffic of the earlier windows needs,
 * then checked against the latest window (check.ts). Pure: a run's membership and a connection log in,
 * a document out. How rules are learned is told in docs/security-groups.md.
 */
import { ICMP, ICMPV6, SCTP, TCP, UDP } from '../contract/protocols.ts';
import { type CheckedConnection, checkLearned } from './check.ts';
import { type ConnectionColumns, type ConnectionEnd, type ConnectionLog, EPOCHS_PER_WINDOW } from './connection-log.ts';
import { getOrAdd } from './maps.ts';
import type { Direction, Ethertype, SecurityGroup, SecurityGroupRule, SecurityGroupsDocument, TenantSecurityGroups } from './types.ts';

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

export function groupIdOf(tenant: string, clusterId: string): string {
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

export function ethertypeOf(ip: string): Ethertype {
  return ip.includes(':') ? 'IPv6' : 'IPv4';
}

export function hostPrefix(ip: string): string {
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

/** Ports as segments: a range where many ports sit close together above 1024, else contiguous runs of seen ports. */
export function portSegments(ports: readonly number[], o: Pick<SecurityGroupOptions, 'minRangePorts' | 'maxRangeGap'>): Array<{ min: number; max: number; range: boolean; ports: number[] }> {
  const sorted = [...ports].sort((a, b) => a - b);
  const out: Array<{ min: number; max: number; range: boolean; ports: number[] }> = [];
  let i = 0;
  while (i < sorted.length) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1]! - sorted[j]! <= o.maxRangeGap) j++;
    const run = sorted.slice(i, j + 1);
    if (run.length >= o.minRangePorts && run[0]! >= 1024) out.push({ min: run[0]!, max: run[run.length - 1]!, range: true, ports: run });
    else {
      // Contiguous seen ports merge without allowing an unseen one.
      let k = 0;
      while (k < run.length) {
        let m = k;
        while (m + 1 < run.length && run[m + 1] === run[m]! + 1) m++;
        out.push({ min: run[k]!, max: run[m]!, range: false, ports: run.slice(k, m + 1) });
        k = m + 1;
      }
    }
    i = j + 1;
  }
  return out;
}

/** The traffic of one candidate rule at one port: a second VM makes a set (most ports have one VM). */
interface PortTraffic {
  flows: number;
  bytes: number;
  vm: number;
  vms: Set<number> | null;
}

/** Remote of a candidate: ANY (any address), 1 + group index, or 1 + groups + address id. */
const ANY = 0;
const INGRESS = 0;
const EGRESS = 1;

/** The traffic of one group, direction, ethertype, protocol and remote, by port. */
interface Candidate {
  /** Where it is filed: side (group and direction), then the key of the rest (candidateKey). */
  side: number;
  key: number;
  group: number;
  direction: number;
  ipv6: number;
  protocol: number;
  remote: number;
  ports: Map<number, PortTraffic>;
}

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
  /** Remote ids: 1 + group, or 1 + groups + address id, below remoteSpan. */
  remoteSpan: number;
  rules: SecurityGroupRule[];
  /** Per rule: its position in its group's list (the first match in list order wins), port bounds (-1: any port). */
  rulePosition: Int32Array;
  ruleGroup: Int32Array;
  ruleMin: Int32Array;
  ruleMax: Int32Array;
  /**
   * By side (2 * group + direction), candidate key → the rules learned from it, in list order. Two levels
   * keep the keys small integers, which maps hash without allocating.
   */
  rulesBySide: Array<Map<number, number[]> | undefined>;
}

/** A candidate's key within its side (group and direction). */
export function candidateKey(ipv6: number, protocol: number, remote: number, remoteSpan: number): number {
  return (ipv6 * 256 + protocol) * remoteSpan + remote;
}

/** Candidates by side (2 * group + direction), then by candidateKey; `created` gets every new one. */
type CandidateTable = Array<Map<number, Candidate> | undefined>;

function addTo(candidates: CandidateTable, created: Candidate[], group: number, direction: number, ipv6: number, protocol: number, remote: number, remoteSpan: number, port: number, vm: number, flows: number, bytes: number): Candidate {
  const side = 2 * group + direction;
  const key = candidateKey(ipv6, protocol, remote, remoteSpan);
  let bySide = candidates[side];
  if (bySide === undefined) {
    bySide = new Map();
    candidates[side] = bySide;
  }
  let c = bySide.get(key);
  if (c === undefined) {
    c = { side, key, group, direction, ipv6, protocol, remote, ports: new Map() };
    bySide.set(key, c);
    created.push(c);
  }
  addPort(c, port, vm, null, flows, bytes);
  return c;
}

function addPort(c: Candidate, port: number, vm: number, vms: Set<number> | null, flows: number, bytes: number): void {
  let p = c.ports.get(port);
  if (p === undefined) {
    p = { flows: 0, bytes: 0, vm, vms: null };
    c.ports.set(port, p);
  }
  p.flows += flows;
  p.bytes += bytes;
  if (vms !== null) {
    p.vms ??= new Set([p.vm]);
    for (const v of vms) p.vms.add(v);
  } else if (vm !== p.vm) {
    p.vms ??= new Set([p.vm]);
    p.vms.add(vm);
  }
}

/** Connections between two steps of the sliced computation: a slice is about this many. */
export const SLICE_ROWS = 16_384;

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
 * event loop back between them (src/service/cluster-service.ts). The first step copies what it needs of
 * the log: later records do not change the outcome.
 */
export function* recommendInSlices(
  membership: Membership,
  log: ConnectionLog,
  options: Partial<SecurityGroupOptions> = {},
): Generator<void, SecurityGroupsOutcome, void> {
  const o = { ...defaultSecurityGroupOptions, ...options };
  const cols = log.columns(membership.computedAt);
  const logFigures = { held: log.size, max: log.maxConnections, ...log.counters, epochMs: log.epochMs, checkEpoch: log.epochOf(membership.computedAt) };
  yield;
  const n = cols.count;
  const ends = cols.ends;
  const { client, server, clientIp, serverIp, protocol, port, otherPort: altPort, earlierFlows, earlierBytes } = cols;

  // Connections whose records could not tell the server end get it from the traffic: the end whose port
  // meets more distinct (peer, peer port) pairs is the listening one (a service port meets every client's
  // ephemeral ports; a client's port meets one server port); on a tie, the lower port.
  const peers = new Map<number, Set<number>>();
  const endPort = (end: number, p: number): number => end * 65_536 + p;
  for (let i = 0; i < n; i++) {
    if ((i & (SLICE_ROWS - 1)) === SLICE_ROWS - 1) yield;
    if (altPort[i]! < 0) continue;
    const s = endPort(server[i]!, port[i]!);
    const c = endPort(client[i]!, altPort[i]!);
    getOrAdd(peers, s, () => new Set()).add(c);
    getOrAdd(peers, c, () => new Set()).add(s);
  }
  for (let i = 0; i < n; i++) {
    if ((i & (SLICE_ROWS - 1)) === SLICE_ROWS - 1) yield;
    if (altPort[i]! < 0) continue;
    const degServer = peers.get(endPort(server[i]!, port[i]!))!.size;
    const degClient = peers.get(endPort(client[i]!, altPort[i]!))!.size;
    if (degClient > degServer || (degClient === degServer && altPort[i]! < port[i]!)) {
      const c = client[i]!;
      client[i] = server[i]!;
      server[i] = c;
      const ip = clientIp[i]!;
      clientIp[i] = serverIp[i]!;
      serverIp[i] = ip;
      const p = port[i]!;
      port[i] = altPort[i]!;
      altPort[i] = p;
    }
  }
  yield;

  // Probers: VMs that opened connections to many distinct services in the earlier windows, most of them one-offs.
  const services = new Int32Array(ends);
  const oneOff = new Int32Array(ends);
  for (let i = 0; i < n; i++) {
    if ((i & (4 * SLICE_ROWS - 1)) === 4 * SLICE_ROWS - 1) yield;
    const c = client[i]!;
    if (cols.endVm[c] === null || earlierFlows[i] === 0) continue;
    services[c]!++;
    if (earlierFlows[i]! < o.minFlows) oneOff[c]!++;
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
  const remoteSpan = 1 + G + cols.ipCount;
  const notLearned: Record<string, number> = { anomalous: 0, no_group: 0, rare_rules: 0 };
  const candidates: CandidateTable = new Array(2 * G);
  const created: Candidate[] = [];
  for (let i = 0; i < n; i++) {
    if ((i & (SLICE_ROWS - 1)) === SLICE_ROWS - 1) yield;
    if (earlierFlows[i] === 0) continue;
    const ce = client[i]!;
    const se = server[i]!;
    if (endAnomalous[ce] === 1 || endAnomalous[se] === 1) {
      notLearned.anomalous!++;
      continue;
    }
    const cg = endGroup[ce]!;
    const sg = endGroup[se]!;
    if (cg < 0 && sg < 0) {
      notLearned.no_group!++;
      continue;
    }
    const proto = protocol[i]!;
    if (sg >= 0) {
      const ip = clientIp[i]!;
      const remote = cg >= 0 && endTenant[ce] === endTenant[se] ? 1 + cg : 1 + G + ip;
      addTo(candidates, created, sg, INGRESS, cols.ipV6[ip]!, proto, remote, remoteSpan, port[i]!, se, earlierFlows[i]!, earlierBytes[i]!);
    }
    if (cg >= 0) {
      const ip = serverIp[i]!;
      const remote = sg >= 0 && endTenant[se] === endTenant[ce] ? 1 + sg : 1 + G + ip;
      addTo(candidates, created, cg, EGRESS, cols.ipV6[ip]!, proto, remote, remoteSpan, port[i]!, ce, earlierFlows[i]!, earlierBytes[i]!);
    }
  }
  yield;

  // Outside addresses: one candidate per address, except for the ports of a group, direction and protocol
  // that more than maxPrefixesPerRule addresses used (of either family: a public service is public over
  // both): those go to one candidate for any address per ethertype. An address candidate holds one
  // address, so the addresses of a port are the address candidates that have it.
  const addressCandidates = created.filter((c) => c.remote > G);
  const addressesByPort: Array<Map<number, number> | undefined> = new Array(2 * G);
  const portKey = (c: Candidate, p: number): number => c.protocol * 65_537 + p + 1;
  for (let k = 0; k < addressCandidates.length; k++) {
    if ((k & 4095) === 4095) yield;
    const c = addressCandidates[k]!;
    let bySide = addressesByPort[c.side];
    if (bySide === undefined) {
      bySide = new Map();
      addressesByPort[c.side] = bySide;
    }
    for (const p of c.ports.keys()) {
      const k = portKey(c, p);
      bySide.set(k, (bySide.get(k) ?? 0) + 1);
    }
  }
  for (let k = 0; k < addressCandidates.length; k++) {
    if ((k & 4095) === 4095) yield;
    const c = addressCandidates[k]!;
    for (const [p, t] of c.ports) {
      if (addressesByPort[c.side]!.get(portKey(c, p))! <= o.maxPrefixesPerRule) continue;
      const merged = addTo(candidates, created, c.group, c.direction, c.ipv6, c.protocol, ANY, remoteSpan, p, t.vm, 0, 0);
      // addTo counted the first VM; the rest and the traffic follow.
      addPort(merged, p, t.vm, t.vms, t.flows, t.bytes);
      c.ports.delete(p);
    }
    if (c.ports.size === 0) candidates[c.side]!.delete(c.key);
  }
  yield;

  // Rules group by group, each group's candidates in the order of their text keys (the order rule ids follow).
  const byGroup: Candidate[][] = Array.from({ length: G }, () => []);
  for (let side = 0; side < candidates.length; side++) {
    if ((side & 4095) === 4095) yield;
    const bySide = candidates[side];
    if (bySide !== undefined) for (const c of bySide.values()) byGroup[c.group]!.push(c);
  }
  const rules: SecurityGroupRule[] = [];
  const rulePosition: number[] = [];
  const ruleGroup: number[] = [];
  const ruleMin: number[] = [];
  const ruleMax: number[] = [];
  const rulesBySide: Array<Map<number, number[]> | undefined> = new Array(2 * G);
  const rulesOfGroup: SecurityGroupRule[][] = Array.from({ length: G }, () => []);
  const textKey = (c: Candidate): string => {
    const g = groups[c.group]!.id;
    const eth = c.ipv6 === 1 ? 'IPv6' : 'IPv4';
    if (c.remote === ANY) return `${g}|${c.direction === INGRESS ? 'ingress' : 'egress'}|${eth}|${c.protocol}|any`;
    const remote = c.remote <= G ? groups[c.remote - 1]!.id : `a${cols.ips[c.remote - 1 - G]!}`;
    return `${g}|${c.direction === INGRESS ? 'i' : 'e'}|${eth}|${c.protocol}|${remote}`;
  };
  for (let g = 0; g < G; g++) {
    if ((g & 1023) === 1023) yield;
    const list = byGroup[g]!;
    if (list.length === 0) continue;
    const keyed = list.map((c) => [textKey(c), c] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const groupRules = rulesOfGroup[g]!;
    const groupId = groups[g]!.id;
    const tenant = tenants[groups[g]!.tenant]!;
    for (const [, c] of keyed) {
      const kept: number[] = [];
      for (const [p, t] of c.ports) {
        if (t.flows >= o.minFlows) kept.push(p);
        else notLearned.rare_rules!++;
      }
      if (kept.length === 0) continue;
      const hasPorts = !(kept.length === 1 && kept[0] === -1);
      const segments = hasPorts ? portSegments(kept, o) : [{ min: -1, max: -1, range: false, ports: [-1] }];
      const any = c.remote === ANY;
      const remoteGroup = c.remote !== ANY && c.remote <= G ? groups[c.remote - 1]!.id : null;
      const remotePrefix = remoteGroup !== null ? null : any ? (c.ipv6 === 1 ? '::/0' : '0.0.0.0/0') : hostPrefix(cols.ips[c.remote - 1 - G]!);
      const direction: Direction = c.direction === INGRESS ? 'ingress' : 'egress';
      let bySide = rulesBySide[c.side];
      if (bySide === undefined) {
        bySide = new Map();
        rulesBySide[c.side] = bySide;
      }
      const forKey = getOrAdd(bySide, c.key, () => []);
      for (const s of segments) {
        let flows = 0;
        let bytes = 0;
        let vms = 0;
        if (s.ports.length === 1) {
          const t = c.ports.get(s.ports[0]!)!;
          flows = t.flows;
          bytes = t.bytes;
          vms = t.vms === null ? 1 : t.vms.size;
        } else {
          const set = new Set<number>();
          for (const p of s.ports) {
            const t = c.ports.get(p)!;
            flows += t.flows;
            bytes += t.bytes;
            if (t.vms === null) set.add(t.vm);
            else for (const v of t.vms) set.add(v);
          }
          vms = set.size;
        }
        forKey.push(rules.length);
        rulePosition.push(groupRules.length);
        ruleGroup.push(g);
        ruleMin.push(s.min);
        ruleMax.push(s.max);
        const rule: SecurityGroupRule = {
          id: `${groupId}/${direction}/${groupRules.length}`,
          security_group_id: groupId,
          direction,
          ethertype: c.ipv6 === 1 ? 'IPv6' : 'IPv4',
          protocol: protocolName(c.protocol),
          port_range_min: s.min < 0 ? null : s.min,
          port_range_max: s.max < 0 ? null : s.max,
          remote_group_id: remoteGroup,
          remote_ip_prefix: remotePrefix,
          project_id: tenant,
          tenant_id: tenant,
          learned_from: { vms, flows, bytes, ports: s.ports.length },
          basis: s.range ? 'port_range' : 'exact',
          remote_basis: any ? 'any_address' : 'seen',
        };
        rules.push(rule);
        groupRules.push(rule);
      }
    }
  }
  yield;

  // Groups by tenant, sorted.
  const groupOrder = Array.from(groups.keys()).sort((a, b) => (groups[a]!.id < groups[b]!.id ? -1 : groups[a]!.id > groups[b]!.id ? 1 : 0));
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
    remoteSpan,
    rules,
    rulePosition: Int32Array.from(rulePosition),
    ruleGroup: Int32Array.from(ruleGroup),
    ruleMin: Int32Array.from(ruleMin),
    ruleMax: Int32Array.from(ruleMax),
    rulesBySide,
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
  const gp: number[] = [];
  for (let g = 0; g < G; g++) {
    if ((g & 4095) === 4095) yield;
    // Rules per (group, direction, protocol, port range): several only when several remotes use one port.
    const per = new Map<number, number>();
    for (const r of rulesOfGroup[g]!) {
      const k = ((r.direction === 'ingress' ? 0 : 1) * 256 + protocolNumberOf(r)) * 65_537 * 65_537 + ((r.port_range_min ?? -1) + 1) * 65_537 + (r.port_range_max ?? -1) + 1;
      per.set(k, (per.get(k) ?? 0) + 1);
    }
    for (const v of per.values()) gp.push(v);
  }
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

function protocolNumberOf(r: SecurityGroupRule): number {
  const p = r.protocol;
  if (p === 'tcp') return TCP;
  if (p === 'udp') return UDP;
  if (p === 'icmp') return ICMP;
  if (p === 'ipv6-icmp') return ICMPV6;
  if (p === 'sctp') return SCTP;
  return Number(p);
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

function distribution(values: readonly number[]): { min: number; median: number; p90: number; max: number } {
  if (values.length === 0) return { min: 0, median: 0, p90: 0, max: 0 };
  const s = Float64Array.from(values).sort();
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { min: s[0]!, median: at(0.5), p90: at(0.9), max: s[s.length - 1]! };
}

export type { CheckedConnection };
