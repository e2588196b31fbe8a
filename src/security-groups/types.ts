/** The security-group document: OpenStack/Alcor field names, our names beside them where they differ. */

export type Direction = 'ingress' | 'egress';
export type Ethertype = 'IPv4' | 'IPv6';

/** Where a rule's traffic was learned from. */
export interface LearnedFrom {
  /** VMs of the group that had this traffic. */
  vms: number;
  flows: number;
  bytes: number;
  /** Distinct ports seen (a range stands for these). */
  ports: number;
}

export interface SecurityGroupRule {
  id: string;
  security_group_id: string;
  direction: Direction;
  ethertype: Ethertype;
  /** tcp, udp, icmp, ipv6-icmp, sctp, or the IANA number as text. */
  protocol: string;
  port_range_min: number | null;
  port_range_max: number | null;
  remote_group_id: string | null;
  remote_ip_prefix: string | null;
  /** Alcor's name of the tenant. */
  project_id: string;
  tenant_id: string;
  learned_from: LearnedFrom;
  /**
   * Why the ports are as wide as they are: `exact` (every port of the range seen), `port_range` (many ports
   * seen close together), `port_spread` (many listeners in the ephemeral range, close together on average),
   * `service_range` (the group's ports lie in a range many listeners of the fleet serve: its bounds are
   * ports the fleet's servers listened at).
   */
  basis: 'exact' | 'port_range' | 'port_spread' | 'service_range';
  /**
   * Why the remote is as wide as it is: `seen` (the peers' group, or the one address seen), `any_address`
   * (more distinct outside addresses used the port than `maxPrefixesPerRule`).
   */
  remote_basis: 'seen' | 'any_address';
}

export interface SecurityGroup {
  id: string;
  security_group_id: string;
  name: string;
  description: string;
  tenant_id: string;
  project_id: string;
  cluster_id: string;
  vm_ids: string[];
  /**
   * Those of vm_ids with no traffic before the check window that the run put in another cluster: placed here
   * because their traffic repeats this group's (docs/security-groups.md). Absent when none.
   */
  vms_placed_by_peers?: string[];
  security_group_rules: SecurityGroupRule[];
  /** Set when the group allows nothing in or out, and why. */
  note?: string;
}

export interface RuleCheck {
  rule_id: string;
  flows: number;
  bytes: number;
}

export interface VmCheck {
  vm_id: string;
  flows: number;
  bytes: number;
  flows_denied: number;
  bytes_denied: number;
}

export interface DeniedConnection {
  client: string;
  server: string;
  protocol: string;
  port: number | null;
  flows: number;
  bytes: number;
  /** Which side's group has no matching rule: the server's ingress or the client's egress. */
  reason: 'ingress' | 'egress';
  /** True when an end is a VM the run ranks anomalous. */
  anomalous: boolean;
}

export interface CheckFigures {
  flows: number;
  bytes: number;
  flows_allowed: number;
  bytes_allowed: number;
  flows_denied: number;
  bytes_denied: number;
  share_flows_allowed: number | null;
  share_bytes_allowed: number | null;
}

export interface TenantCheck {
  /** Every connection of the tenant's VMs in the check window. */
  all: CheckFigures;
  /** Between two VMs of the fleet, neither ranked anomalous: what the goal of 99% of bytes is about. */
  normal_vm_to_vm: CheckFigures;
  /** From VMs ranked anomalous (not learned from): what rules should deny. */
  from_anomalous: CheckFigures;
  /** The VMs with denied traffic, most denied bytes first (at most `maxListed`). */
  by_vm: VmCheck[];
  /** Check-window traffic each rule allows, by rule. */
  by_rule: RuleCheck[];
  /** The largest denied connections (at most `maxListed`). */
  denied: DeniedConnection[];
}

export interface TenantSecurityGroups {
  tenant_id: string;
  project_id: string;
  rule_count: number;
  security_groups: SecurityGroup[];
  check: TenantCheck;
  /** Plain answers to conditions that make advice thin (one VM, groups that talk to nothing). */
  notes: string[];
}

export interface SecurityGroupsSummary {
  tenants: number;
  groups: number;
  rules: number;
  /** Rules per tenant: how many tenants have this many rules (as text keys, ascending). */
  rules_per_tenant: { min: number; median: number; p90: number; max: number };
  /** Rules per (group, direction, protocol, service port) pair: the compactness goal. */
  rules_per_group_port: { min: number; median: number; p90: number; max: number; over_3: number };
  /** VMs left out of learning because the run ranks them anomalous, and those without a tenant. */
  vms_anomalous: number;
  vms_without_tenant: number;
  check: CheckFigures;
  check_normal_vm_to_vm: CheckFigures;
  check_from_anomalous: CheckFigures;
  /** The connection log's state and counters (caps reached, records it could not use). */
  connections: { held: number; max: number; recorded: number; refused: number; bad_port: number; no_vm: number; forgotten: number };
  /**
   * What learning left out: connections with an anomalous (probing) end (`anomalous`) or no end in a group
   * (`no_group`), probes of clients the run does not rank anomalous (`probes`, probes.ts), and would-be
   * rules seen in fewer than minFlows flows (`rare_rules`).
   */
  not_learned: Record<string, number>;
}

export interface SecurityGroupsDocument {
  run_id: string;
  computed_at: string | null;
  /** The check window: the latest one, ending at the run's watermark. Rules are learned from before it. */
  check_window: { from: string | null; to: string | null };
  /** VMs the run ranks anomalous, left out of learning. */
  anomalous_vms: string[];
  /** VMs with traffic but no tenant: no group can be recommended for them. */
  vms_without_tenant: string[];
  summary: SecurityGroupsSummary;
  tenants: TenantSecurityGroups[];
}
