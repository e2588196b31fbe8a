/** The implementation before integer ids (issue 15's cost), kept only to compare outputs with; deleted with the golden test. */
/**
 * The recommended rules against the traffic of the check window (the latest one): what they would allow
 * and what they would deny, by tenant, VM and rule. A connection is allowed when the server's group has an
 * ingress rule for it and the client's group an egress rule; an end that is not in a recommended group
 * (outside address, VM without a tenant) imposes nothing. Replies ride on their request (stateful), so a
 * connection's bytes in both directions are allowed or denied together.
 */
import { getOrAdd } from '../maps.ts';
import { protocolName, type ResolvedConnection, type VmPlace } from './recommend.ts';
import type { CheckFigures, DeniedConnection, RuleCheck, SecurityGroup, SecurityGroupRule, TenantCheck, VmCheck } from '../types.ts';

export interface CheckedConnection extends ResolvedConnection {
  /** Null when the connection has no traffic in the check window (set by checkRules). */
  allowed: boolean | null;
}

interface Tally {
  flows: number;
  bytes: number;
  flowsAllowed: number;
  bytesAllowed: number;
}

const tally = (): Tally => ({ flows: 0, bytes: 0, flowsAllowed: 0, bytesAllowed: 0 });

function add(t: Tally, flows: number, bytes: number, allowed: boolean): void {
  t.flows += flows;
  t.bytes += bytes;
  if (allowed) {
    t.flowsAllowed += flows;
    t.bytesAllowed += bytes;
  }
}

export function figures(t: Tally): CheckFigures {
  const r = (x: number): number => Number(x.toPrecision(6));
  return {
    flows: t.flows,
    bytes: t.bytes,
    flows_allowed: t.flowsAllowed,
    bytes_allowed: t.bytesAllowed,
    flows_denied: t.flows - t.flowsAllowed,
    bytes_denied: t.bytes - t.bytesAllowed,
    share_flows_allowed: t.flows === 0 ? null : r(t.flowsAllowed / t.flows),
    share_bytes_allowed: t.bytes === 0 ? null : r(t.bytesAllowed / t.bytes),
  };
}

/** Whether `rule` allows traffic of this ethertype, protocol and port with a remote end in `remoteGroup` (null: none) at `remoteIp`. */
export function ruleMatches(rule: SecurityGroupRule, protocol: string, port: number, remoteGroup: string | null, remoteIp: string): boolean {
  if (rule.protocol !== protocol) return false;
  if (rule.ethertype !== (remoteIp.includes(':') ? 'IPv6' : 'IPv4')) return false;
  if (rule.port_range_min !== null && (port < rule.port_range_min || port > (rule.port_range_max ?? rule.port_range_min))) return false;
  if (rule.remote_group_id !== null) return rule.remote_group_id === remoteGroup;
  const p = rule.remote_ip_prefix!;
  if (p === '0.0.0.0/0' || p === '::/0') return true;
  // A host prefix: the address and /32 or /128, compared without building the string.
  const slash = p.length - (remoteIp.includes(':') ? 4 : 3);
  return slash === remoteIp.length && p.startsWith(remoteIp);
}

export interface RuleIndex {
  /** Rules of each group by direction. */
  ingress: Map<string, SecurityGroupRule[]>;
  egress: Map<string, SecurityGroupRule[]>;
}

export function ruleIndex(groups: Iterable<SecurityGroup>): RuleIndex {
  const ingress = new Map<string, SecurityGroupRule[]>();
  const egress = new Map<string, SecurityGroupRule[]>();
  for (const g of groups) {
    ingress.set(g.id, g.security_group_rules.filter((r) => r.direction === 'ingress'));
    egress.set(g.id, g.security_group_rules.filter((r) => r.direction === 'egress'));
  }
  return { ingress, egress };
}

export interface Verdict {
  allowed: boolean;
  /** The rules that allowed it (ingress of the server's group, egress of the client's), when allowed. */
  ingressRule: SecurityGroupRule | null;
  egressRule: SecurityGroupRule | null;
  /** When denied: the side whose group had no rule. */
  deniedBy: 'ingress' | 'egress' | null;
}

/** The verdict on one connection in one orientation: client to server at `port`. */
export function verdictOf(
  index: RuleIndex,
  places: ReadonlyMap<string, VmPlace>,
  client: { vmId: string | null; ip: string },
  server: { vmId: string | null; ip: string },
  protocol: number,
  port: number,
): Verdict {
  const proto = protocolName(protocol);
  const cp = client.vmId === null ? undefined : places.get(client.vmId);
  const sp = server.vmId === null ? undefined : places.get(server.vmId);
  let ingressRule: SecurityGroupRule | null = null;
  if (sp !== undefined) {
    const remote = cp !== undefined && cp.tenant === sp.tenant ? cp.groupId : null;
    ingressRule = index.ingress.get(sp.groupId)?.find((r) => ruleMatches(r, proto, port, remote, client.ip)) ?? null;
    if (ingressRule === null) return { allowed: false, ingressRule: null, egressRule: null, deniedBy: 'ingress' };
  }
  let egressRule: SecurityGroupRule | null = null;
  if (cp !== undefined) {
    const remote = sp !== undefined && sp.tenant === cp.tenant ? sp.groupId : null;
    egressRule = index.egress.get(cp.groupId)?.find((r) => ruleMatches(r, proto, port, remote, server.ip)) ?? null;
    if (egressRule === null) return { allowed: false, ingressRule, egressRule: null, deniedBy: 'egress' };
  }
  return { allowed: true, ingressRule, egressRule, deniedBy: null };
}

/** A connection's verdict; one whose server end the records could not tell is allowed in either orientation. */
export function connectionVerdict(index: RuleIndex, places: ReadonlyMap<string, VmPlace>, c: ResolvedConnection): Verdict {
  const v = verdictOf(index, places, c.client, c.server, c.protocol, c.port);
  if (v.allowed || c.altPort < 0) return v;
  const w = verdictOf(index, places, c.server, c.client, c.protocol, c.altPort);
  return w.allowed ? w : v;
}

function nameIn(tenant: string, end: { vmId: string | null; ip: string }, places: ReadonlyMap<string, VmPlace>): string {
  return end.vmId !== null && places.get(end.vmId)?.tenant === tenant ? end.vmId : end.ip;
}

export interface CheckOutcome {
  byTenant: Map<string, TenantCheck>;
  all: CheckFigures;
  normal: CheckFigures;
  anomalous: CheckFigures;
  connections: CheckedConnection[];
}

interface TenantTally {
  all: Tally;
  normal: Tally;
  anomalous: Tally;
  vms: Map<string, { flows: number; bytes: number; flowsDenied: number; bytesDenied: number }>;
  rules: Map<string, RuleCheck>;
  denied: DeniedConnection[];
}

export function checkRules(
  connections: CheckedConnection[],
  places: ReadonlyMap<string, VmPlace>,
  tenants: ReadonlyMap<string, readonly SecurityGroup[]>,
  anomalous: ReadonlySet<string>,
  maxListed: number,
): CheckOutcome {
  const index = ruleIndex([...tenants.values()].flat());
  const perTenant = new Map<string, TenantTally>();
  for (const t of tenants.keys()) perTenant.set(t, { all: tally(), normal: tally(), anomalous: tally(), vms: new Map(), rules: new Map(), denied: [] });
  const all = tally();
  const normal = tally();
  const fromAnomalous = tally();
  for (const c of connections) {
    if (c.latestFlows === 0) continue;
    const v = connectionVerdict(index, places, c);
    c.allowed = v.allowed;
    const flows = c.latestFlows;
    const bytes = c.latestBytes;
    const isAnomalous = (c.client.vmId !== null && anomalous.has(c.client.vmId)) || (c.server.vmId !== null && anomalous.has(c.server.vmId));
    const isNormalVmToVm = !isAnomalous && c.client.vmId !== null && c.server.vmId !== null;
    add(all, flows, bytes, v.allowed);
    if (isNormalVmToVm) add(normal, flows, bytes, v.allowed);
    if (isAnomalous) add(fromAnomalous, flows, bytes, v.allowed);
    const ends: string[] = [];
    if (c.client.vmId !== null && places.has(c.client.vmId)) ends.push(c.client.vmId);
    if (c.server.vmId !== null && places.has(c.server.vmId)) ends.push(c.server.vmId);
    const seen = new Set<string>();
    for (const vmId of ends) {
      const tenant = places.get(vmId)!.tenant;
      const t = perTenant.get(tenant)!;
      const vm = getOrAdd(t.vms, vmId, () => ({ flows: 0, bytes: 0, flowsDenied: 0, bytesDenied: 0 }));
      vm.flows += flows;
      vm.bytes += bytes;
      if (!v.allowed) {
        vm.flowsDenied += flows;
        vm.bytesDenied += bytes;
      }
      if (seen.has(tenant)) continue;
      seen.add(tenant);
      add(t.all, flows, bytes, v.allowed);
      if (isNormalVmToVm) add(t.normal, flows, bytes, v.allowed);
      if (isAnomalous) add(t.anomalous, flows, bytes, v.allowed);
      for (const r of [v.ingressRule, v.egressRule]) {
        if (r === null || r.tenant_id !== tenant) continue;
        const rc = getOrAdd(t.rules, r.id, () => ({ rule_id: r.id, flows: 0, bytes: 0 }));
        rc.flows += flows;
        rc.bytes += bytes;
      }
      if (!v.allowed)
        t.denied.push({
          // Another tenant's VM is named by its address: a tenant's view names only its own VMs.
          client: nameIn(tenant, c.client, places),
          server: nameIn(tenant, c.server, places),
          protocol: protocolName(c.protocol),
          port: c.port < 0 ? null : c.port,
          flows,
          bytes,
          reason: v.deniedBy ?? 'ingress',
          anomalous: isAnomalous,
        });
    }
  }
  const byTenant = new Map<string, TenantCheck>();
  for (const [tenant, t] of perTenant) {
    const byVm: VmCheck[] = [...t.vms]
      .filter(([, v]) => v.flowsDenied > 0)
      .sort((a, b) => b[1].bytesDenied - a[1].bytesDenied || (a[0] < b[0] ? -1 : 1))
      .slice(0, maxListed)
      .map(([vmId, v]) => ({ vm_id: vmId, flows: v.flows, bytes: v.bytes, flows_denied: v.flowsDenied, bytes_denied: v.bytesDenied }));
    const denied = t.denied
      .sort((a, b) => b.bytes - a.bytes || (a.client < b.client ? -1 : a.client > b.client ? 1 : (a.port ?? -1) - (b.port ?? -1)))
      .slice(0, maxListed);
    const byRule = [...t.rules.values()].sort((a, b) => (a.rule_id < b.rule_id ? -1 : 1));
    byTenant.set(tenant, { all: figures(t.all), normal_vm_to_vm: figures(t.normal), from_anomalous: figures(t.anomalous), by_vm: byVm, by_rule: byRule, denied });
  }
  return { byTenant, all: figures(all), normal: figures(normal), anomalous: figures(fromAnomalous), connections };
}
