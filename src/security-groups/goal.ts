/**
 * The goal of issue 15 measured against a generated trace's truth: the share of the normal VM-to-VM bytes
 * of the check window the rules allow, and the scanners' probes to ports their targets do not serve, which
 * must all be denied. "Normal" is the truth's (every VM but the scanners), not the run's ranking, so that
 * a rule the ranking wrongly held back counts against the rules.
 */
import type { CheckedConnection } from './check.ts';
import type { ConnectionLog } from './connection-log.ts';
import { type Membership, recommendSecurityGroups } from './recommend.ts';
import type { SecurityGroupsDocument } from './types.ts';

export interface GoalFigures {
  normal_vm_to_vm_bytes: number;
  normal_vm_to_vm_bytes_allowed: number;
  /** The measure. One heavy connection denied moves it by points: the two below weigh otherwise. */
  share_normal_bytes_allowed: number | null;
  /** The same connections weighed by their flows (records) in the check window. */
  normal_vm_to_vm_flows: number;
  normal_vm_to_vm_flows_allowed: number;
  share_normal_flows_allowed: number | null;
  /**
   * Services (server VM, protocol, port) of the check window with normal VM clients, and those whose every
   * normal VM-to-VM connection is allowed: each counts once, however heavy (a port per session is a service each).
   */
  normal_services: number;
  normal_services_allowed: number;
  share_normal_services_allowed: number | null;
  /** Scanner connections of the check window to a VM at a port that VM serves to no normal client. */
  probes: number;
  probes_allowed: number;
  rules: number;
  groups: number;
}

/**
 * `isProbe`: which of a scanner's connections are probes (default: all). A compromised client's connections
 * are also its role's traffic, some at ports its targets serve to no one else (a port per session): only
 * those the trace's generator made as probes count.
 */
export function goalFigures(
  connections: readonly CheckedConnection[],
  document: SecurityGroupsDocument,
  scanners: ReadonlySet<string>,
  isProbe: (c: CheckedConnection) => boolean = () => true,
): GoalFigures {
  const served = new Set<string>();
  const isNormalVm = (vm: string | null): vm is string => vm !== null && !scanners.has(vm);
  for (const c of connections) {
    if (!isNormalVm(c.client.vmId) || !isNormalVm(c.server.vmId)) continue;
    served.add(`${c.server.vmId}|${c.protocol}|${c.port}`);
    if (c.altPort >= 0) served.add(`${c.client.vmId}|${c.protocol}|${c.altPort}`);
  }
  let bytes = 0;
  let allowed = 0;
  let flows = 0;
  let flowsAllowed = 0;
  /** Per service: true while every connection seen so far is allowed. */
  const services = new Map<string, boolean>();
  let probes = 0;
  let probesAllowed = 0;
  for (const c of connections) {
    if (c.allowed === null) continue;
    if (isNormalVm(c.client.vmId) && isNormalVm(c.server.vmId)) {
      bytes += c.latestBytes;
      flows += c.latestFlows;
      if (c.allowed) {
        allowed += c.latestBytes;
        flowsAllowed += c.latestFlows;
      }
      const service = `${c.server.vmId}|${c.protocol}|${c.port}`;
      services.set(service, (services.get(service) ?? true) && c.allowed);
    }
    const cv = c.client.vmId;
    const sv = c.server.vmId;
    if (cv !== null && scanners.has(cv) && sv !== null && !scanners.has(sv) && !served.has(`${sv}|${c.protocol}|${c.port}`) && isProbe(c)) {
      probes++;
      if (c.allowed) probesAllowed++;
    }
  }
  let servicesAllowed = 0;
  for (const ok of services.values()) if (ok) servicesAllowed++;
  return {
    normal_vm_to_vm_bytes: bytes,
    normal_vm_to_vm_bytes_allowed: allowed,
    share_normal_bytes_allowed: bytes === 0 ? null : allowed / bytes,
    normal_vm_to_vm_flows: flows,
    normal_vm_to_vm_flows_allowed: flowsAllowed,
    share_normal_flows_allowed: flows === 0 ? null : flowsAllowed / flows,
    normal_services: services.size,
    normal_services_allowed: servicesAllowed,
    share_normal_services_allowed: services.size === 0 ? null : servicesAllowed / services.size,
    probes,
    probes_allowed: probesAllowed,
    rules: document.summary.rules,
    groups: document.summary.groups,
  };
}

/**
 * The baseline on the same clusters and connections: rules learned per exact port and peer group
 * (no ranges), measured as `goalFigures` measures the learned ones.
 */
export function exactPortsGoalFigures(
  membership: Membership,
  log: ConnectionLog,
  scanners: ReadonlySet<string>,
  isProbe: (c: CheckedConnection) => boolean = () => true,
): GoalFigures {
  const exact = recommendSecurityGroups(membership, log, { minRangePorts: Number.MAX_SAFE_INTEGER, serviceRangeMinPorts: Number.MAX_SAFE_INTEGER });
  return goalFigures(exact.connections, exact.document, scanners, isProbe);
}
