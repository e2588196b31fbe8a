/**
 * Security groups learned from the traffic a run's VM clusters really have: per tenant, one group per VM
 * cluster it holds, with the ingress and egress rules their normal traffic of the earlier windows needs,
 * then checked against the latest window (check.ts). Pure: a run's membership and a connection log in,
 * a document out. How rules are learned is told in docs/security-groups.md.
 */
import { ICMP, ICMPV6, SCTP, TCP, UDP } from '../contract/protocols.ts';
import { type CheckedConnection, checkRules } from './check.ts';
import { getOrAdd } from './maps.ts';
import { type ConnectionEnd, type ConnectionLog, EPOCHS_PER_WINDOW, endKey } from './connection-log.ts';
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
 * Connections whose records could not tell the server end get it from the traffic: the end whose port
 * meets more distinct (peer, peer port) pairs is the listening one (a service port meets every client's
 * ephemeral ports; a client's port meets one server port); on a tie, the lower port.
 */
export function resolveConnections(log: ConnectionLog, watermark: number): CheckedConnection[] {
  const peers = new Map<string, Set<string>>();
  const out: CheckedConnection[] = [];
  log.forEachTraffic(watermark, (c, t) => {
    out.push({
      client: c.client,
      server: c.server,
      protocol: c.protocol,
      port: c.port,
      altPort: c.otherPort,
      earlierFlows: t.earlierFlows,
      earlierBytes: t.earlierBytes,
      latestFlows: t.latestFlows,
      latestBytes: t.latestBytes,
      allowed: null,
    });
    if (c.otherPort < 0) return;
    const server = `${endKey(c.server)}|${c.port}`;
    const client = `${endKey(c.client)}|${c.otherPort}`;
    getOrAdd(peers, server, () => new Set()).add(client);
    getOrAdd(peers, client, () => new Set()).add(server);
  });
  for (const r of out) {
    if (r.altPort < 0) continue;
    // Still in the log's order: client and server as stored, altPort the client's port.
    const degServer = peers.get(`${endKey(r.server)}|${r.port}`)!.size;
    const degClient = peers.get(`${endKey(r.client)}|${r.altPort}`)!.size;
    if (degClient > degServer || (degClient === degServer && r.altPort < r.port)) {
      const client = r.client;
      r.client = r.server;
      r.server = client;
      const port = r.port;
      r.port = r.altPort;
      r.altPort = port;
    }
  }
  return out;
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

interface PortTraffic {
  flows: number;
  bytes: number;
  vms: Set<string>;
}

/** The traffic of one group, direction, ethertype, protocol and remote, by port. */
interface Candidate {
  groupId: string;
  tenant: string;
  direction: Direction;
  ethertype: Ethertype;
  protocol: number;
  /** A group of the same tenant, or null for outside addresses (in `addresses`). */
  remoteGroup: string | null;
  addresses: Set<string>;
  ports: Map<number, PortTraffic>;
}

function addTo(candidates: Map<string, Candidate>, key: string, make: () => Candidate, port: number, vm: string, flows: number, bytes: number, address: string | null): void {
  const c = getOrAdd(candidates, key, () => make());
  if (address !== null) c.addresses.add(address);
  const p = getOrAdd(c.ports, port, () => ({ flows: 0, bytes: 0, vms: new Set() }));
  p.flows += flows;
  p.bytes += bytes;
  p.vms.add(vm);
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

export interface SecurityGroupsOutcome {
  document: SecurityGroupsDocument;
  /** The connections of the log with their server ends decided and the check's verdict. */
  connections: CheckedConnection[];
  places: Map<string, VmPlace>;
  durationMs: number;
}

export function recommendSecurityGroups(
  membership: Membership,
  log: ConnectionLog,
  options: Partial<SecurityGroupOptions> = {},
): SecurityGroupsOutcome {
  const started = performance.now();
  const o = { ...defaultSecurityGroupOptions, ...options };
  const places = new Map<string, VmPlace>();
  const vmsWithoutTenant: string[] = [];
  const anomalousVms: string[] = [];
  const groupMembers = new Map<string, { tenant: string; clusterId: string; vms: string[] }>();
  const connections = resolveConnections(log, membership.computedAt);
  const probers = probingVms(connections, o);
  membership.vmIds.forEach((vmId, row) => {
    const tenant = membership.vmTenants[row] ?? null;
    const score = membership.anomalyScores?.[row] ?? 0;
    const anomalous = score > o.anomalyThreshold && probers.has(vmId);
    if (anomalous) anomalousVms.push(vmId);
    if (tenant === null) {
      vmsWithoutTenant.push(vmId);
      return;
    }
    const clusterId = membership.clusterIds[row]!;
    const groupId = groupIdOf(tenant, clusterId);
    places.set(vmId, { tenant, groupId, anomalous });
    const g = getOrAdd(groupMembers, groupId, () => ({ tenant, clusterId, vms: [] }));
    g.vms.push(vmId);
  });
  const anomalousSet = new Set(anomalousVms);

  const notLearned: Record<string, number> = { anomalous: 0, no_group: 0, rare_rules: 0 };
  const candidates = new Map<string, Candidate>();
  for (const c of connections) {
    if (c.earlierFlows === 0) continue;
    const cv = c.client.vmId;
    const sv = c.server.vmId;
    if ((cv !== null && anomalousSet.has(cv)) || (sv !== null && anomalousSet.has(sv))) {
      notLearned.anomalous!++;
      continue;
    }
    const cp = cv === null ? undefined : places.get(cv);
    const sp = sv === null ? undefined : places.get(sv);
    if (cp === undefined && sp === undefined) {
      notLearned.no_group!++;
      continue;
    }
    if (sp !== undefined) {
      const eth = ethertypeOf(c.client.ip);
      const remoteGroup = cp !== undefined && cp.tenant === sp.tenant ? cp.groupId : null;
      const address = remoteGroup === null ? c.client.ip : null;
      const key = `${sp.groupId}|i|${eth}|${c.protocol}|${remoteGroup ?? `a${address}`}`;
      addTo(candidates, key, () => ({ groupId: sp.groupId, tenant: sp.tenant, direction: 'ingress', ethertype: eth, protocol: c.protocol, remoteGroup, addresses: new Set(), ports: new Map() }), c.port, sv!, c.earlierFlows, c.earlierBytes, address);
    }
    if (cp !== undefined) {
      const eth = ethertypeOf(c.server.ip);
      const remoteGroup = sp !== undefined && sp.tenant === cp.tenant ? sp.groupId : null;
      const address = remoteGroup === null ? c.server.ip : null;
      const key = `${cp.groupId}|e|${eth}|${c.protocol}|${remoteGroup ?? `a${address}`}`;
      addTo(candidates, key, () => ({ groupId: cp.groupId, tenant: cp.tenant, direction: 'egress', ethertype: eth, protocol: c.protocol, remoteGroup, addresses: new Set(), ports: new Map() }), c.port, cv!, c.earlierFlows, c.earlierBytes, address);
    }
  }

  // Outside addresses: one candidate per address, except for the ports of a group, direction and protocol
  // that more than maxPrefixesPerRule addresses used (of either family: a public service is public over
  // both): those go to one candidate for any address per ethertype.
  const addressesByPort = new Map<string, Set<string>>();
  const portKey = (c: Candidate, port: number): string => `${c.groupId}|${c.direction}|${c.protocol}|${port}`;
  const outsideKey = (c: Candidate): string => `${c.groupId}|${c.direction}|${c.ethertype}|${c.protocol}`;
  for (const c of candidates.values()) {
    if (c.remoteGroup !== null) continue;
    for (const port of c.ports.keys()) {
      const set = getOrAdd(addressesByPort, portKey(c, port), () => new Set());
      for (const a of c.addresses) set.add(a);
    }
  }
  const anyAddress = new Set<Candidate>();
  for (const [key, c] of [...candidates]) {
    if (c.remoteGroup !== null) continue;
    for (const [port, t] of [...c.ports]) {
      if (addressesByPort.get(portKey(c, port))!.size <= o.maxPrefixesPerRule) continue;
      const merged = getOrAdd(candidates, `${outsideKey(c)}|any`, () => {
        const m: Candidate = { ...c, addresses: new Set(), ports: new Map() };
        anyAddress.add(m);
        return m;
      });
      for (const a of c.addresses) merged.addresses.add(a);
      const p = getOrAdd(merged.ports, port, () => ({ flows: 0, bytes: 0, vms: new Set() }));
      p.flows += t.flows;
      p.bytes += t.bytes;
      for (const v of t.vms) p.vms.add(v);
      c.ports.delete(port);
    }
    if (c.ports.size === 0) candidates.delete(key);
  }

  const rulesByGroup = new Map<string, SecurityGroupRule[]>();
  const sortedKeys = [...candidates.keys()].sort();
  for (const key of sortedKeys) {
    const c = candidates.get(key)!;
    const kept: number[] = [];
    for (const [port, t] of c.ports) {
      if (t.flows >= o.minFlows) kept.push(port);
      else notLearned.rare_rules!++;
    }
    if (kept.length === 0) continue;
    const hasPorts = !(kept.length === 1 && kept[0] === -1);
    const segments = hasPorts ? portSegments(kept, o) : [{ min: -1, max: -1, range: false, ports: [-1] }];
    const rules = getOrAdd(rulesByGroup, c.groupId, () => []);
    for (const s of segments) {
      const vms = new Set<string>();
      let flows = 0;
      let bytes = 0;
      for (const port of s.ports) {
        const t = c.ports.get(port)!;
        flows += t.flows;
        bytes += t.bytes;
        for (const v of t.vms) vms.add(v);
      }
      const any = anyAddress.has(c);
      const remotePrefix = c.remoteGroup !== null ? null : any ? (c.ethertype === 'IPv6' ? '::/0' : '0.0.0.0/0') : hostPrefix([...c.addresses][0]!);
      rules.push({
        id: `${c.groupId}/${c.direction}/${rules.length}`,
        security_group_id: c.groupId,
        direction: c.direction,
        ethertype: c.ethertype,
        protocol: protocolName(c.protocol),
        port_range_min: s.min < 0 ? null : s.min,
        port_range_max: s.max < 0 ? null : s.max,
        remote_group_id: c.remoteGroup,
        remote_ip_prefix: remotePrefix,
        project_id: c.tenant,
        tenant_id: c.tenant,
        learned_from: { vms: vms.size, flows, bytes, ports: s.ports.length },
        basis: s.range ? 'port_range' : 'exact',
        remote_basis: any ? 'any_address' : 'seen',
      });
    }
  }

  // Groups by tenant, sorted.
  const tenants = new Map<string, SecurityGroup[]>();
  for (const groupId of [...groupMembers.keys()].sort()) {
    const g = groupMembers.get(groupId)!;
    const rules = rulesByGroup.get(groupId) ?? [];
    const name = membership.clusterNames.get(g.clusterId);
    const group: SecurityGroup = {
      id: groupId,
      security_group_id: groupId,
      name: `cluster-${g.clusterId}`,
      description: `VMs of cluster ${g.clusterId}${name === undefined ? '' : ` (${name})`}; rules learned from their traffic`,
      tenant_id: g.tenant,
      project_id: g.tenant,
      cluster_id: g.clusterId,
      vm_ids: g.vms.sort(),
      security_group_rules: rules,
    };
    if (rules.length === 0) {
      group.note = g.vms.every((v) => anomalousSet.has(v))
        ? 'every VM of the group is ranked anomalous: nothing was learned, the group allows nothing'
        : 'no normal traffic seen in the earlier windows: the group allows nothing';
    }
    const list = getOrAdd(tenants, g.tenant, () => []);
    list.push(group);
  }

  const checked = checkRules(connections, places, tenants, anomalousSet, o.maxListed);
  const tenantDocs: TenantSecurityGroups[] = [];
  for (const tenant of [...tenants.keys()].sort()) {
    const groups = tenants.get(tenant)!;
    const vmCount = groups.reduce((n, g) => n + g.vm_ids.length, 0);
    const notes: string[] = [];
    if (vmCount === 1) notes.push('the tenant has one VM: its group is learned only from traffic with outside addresses and other tenants');
    const silent = groups.filter((g) => g.security_group_rules.length === 0).length;
    if (silent > 0) notes.push(`${silent} of ${groups.length} groups talk to nothing in the earlier windows and allow nothing`);
    tenantDocs.push({
      tenant_id: tenant,
      project_id: tenant,
      rule_count: groups.reduce((n, g) => n + g.security_group_rules.length, 0),
      security_groups: groups,
      check: checked.byTenant.get(tenant)!,
      notes,
    });
  }

  const ruleCounts = tenantDocs.map((t) => t.rule_count);
  const perGroupPort = new Map<string, number>();
  for (const t of tenantDocs)
    for (const g of t.security_groups)
      for (const r of g.security_group_rules) {
        const k = `${g.id}|${r.direction}|${r.protocol}|${r.port_range_min}|${r.port_range_max}`;
        perGroupPort.set(k, (perGroupPort.get(k) ?? 0) + 1);
      }
  const gp = [...perGroupPort.values()];
  const wm = membership.computedAt;
  const checkFrom = (log.epochOf(wm) - EPOCHS_PER_WINDOW + 1) * log.epochMs;
  const iso = (t: number): string | null => (Number.isFinite(t) ? new Date(t).toISOString() : null);
  const document: SecurityGroupsDocument = {
    run_id: membership.runId,
    computed_at: iso(wm),
    check_window: { from: iso(checkFrom), to: iso(wm) },
    anomalous_vms: anomalousVms.sort(),
    vms_without_tenant: vmsWithoutTenant.sort(),
    summary: {
      tenants: tenantDocs.length,
      groups: groupMembers.size,
      rules: ruleCounts.reduce((a, b) => a + b, 0),
      rules_per_tenant: distribution(ruleCounts),
      rules_per_group_port: { ...distribution(gp), over_3: gp.filter((n) => n > 3).length },
      vms_anomalous: anomalousVms.length,
      vms_without_tenant: vmsWithoutTenant.length,
      check: checked.all,
      check_normal_vm_to_vm: checked.normal,
      check_from_anomalous: checked.anomalous,
      connections: {
        held: log.size,
        max: log.maxConnections,
        recorded: log.counters.recorded,
        refused: log.counters.refused,
        bad_port: log.counters.badPort,
        no_vm: log.counters.noVm,
        forgotten: log.counters.forgotten,
      },
      not_learned: notLearned,
    },
    tenants: tenantDocs,
  };
  return { document, connections: checked.connections, places, durationMs: performance.now() - started };
}

/** VMs that opened connections to many distinct services in the earlier windows, most of them one-offs. */
export function probingVms(connections: readonly ResolvedConnection[], o: Pick<SecurityGroupOptions, 'proberMinServices' | 'minFlows'>): Set<string> {
  const opened = new Map<string, { services: number; oneOff: number }>();
  for (const c of connections) {
    const vm = c.client.vmId;
    if (vm === null || c.earlierFlows === 0) continue;
    const t = getOrAdd(opened, vm, () => ({ services: 0, oneOff: 0 }));
    t.services++;
    if (c.earlierFlows < o.minFlows) t.oneOff++;
  }
  const out = new Set<string>();
  for (const [vm, t] of opened) if (t.services >= o.proberMinServices && 2 * t.oneOff > t.services) out.add(vm);
  return out;
}

function distribution(values: readonly number[]): { min: number; median: number; p90: number; max: number } {
  if (values.length === 0) return { min: 0, median: 0, p90: 0, max: 0 };
  const s = Float64Array.from(values).sort();
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { min: s[0]!, median: at(0.5), p90: at(0.9), max: s[s.length - 1]! };
}

export type { CheckedConnection };
