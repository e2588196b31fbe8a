/** Wire format of GET /v1/security-groups (docs/security-groups.md): the document of src/security-groups/types.ts. */
import { z } from 'zod';

const Time = z.iso.datetime().nullable();

export const SecurityGroupsQuery = z.object({
  tenant_id: z.string().min(1).max(128).optional().describe('Only this tenant (an admin\'s filter; a tenant key always sees only its own)'),
  project_id: z.string().min(1).max(128).optional().describe('Alias of tenant_id (Alcor\'s name)'),
});

const Rule = z.object({
  id: z.string(),
  security_group_id: z.string(),
  direction: z.enum(['ingress', 'egress']),
  ethertype: z.enum(['IPv4', 'IPv6']),
  protocol: z.string(),
  port_range_min: z.number().int().nullable(),
  port_range_max: z.number().int().nullable(),
  remote_group_id: z.string().nullable(),
  remote_ip_prefix: z.string().nullable(),
  project_id: z.string(),
  tenant_id: z.string(),
  learned_from: z.object({ vms: z.number().int(), flows: z.number(), bytes: z.number(), ports: z.number().int() }),
  basis: z.enum(['exact', 'port_range', 'port_spread', 'service_range']),
  remote_basis: z.enum(['seen', 'any_address']),
});

const Group = z.object({
  id: z.string(),
  security_group_id: z.string(),
  name: z.string(),
  description: z.string(),
  tenant_id: z.string(),
  project_id: z.string(),
  cluster_id: z.string(),
  vm_ids: z.array(z.string()),
  vms_placed_by_peers: z.array(z.string()).optional().describe('VMs of vm_ids without earlier traffic that the run put in another cluster, placed here because their traffic repeats this group\'s'),
  security_group_rules: z.array(Rule),
  note: z.string().optional(),
});

const Figures = z.object({
  flows: z.number(),
  bytes: z.number(),
  flows_allowed: z.number(),
  bytes_allowed: z.number(),
  flows_denied: z.number(),
  bytes_denied: z.number(),
  share_flows_allowed: z.number().nullable(),
  share_bytes_allowed: z.number().nullable(),
});

const TenantCheck = z.object({
  all: Figures,
  normal_vm_to_vm: Figures,
  from_anomalous: Figures,
  by_vm: z.array(z.object({ vm_id: z.string(), flows: z.number(), bytes: z.number(), flows_denied: z.number(), bytes_denied: z.number() })),
  by_rule: z.array(z.object({ rule_id: z.string(), flows: z.number(), bytes: z.number() })),
  denied: z.array(
    z.object({
      client: z.string(),
      server: z.string(),
      protocol: z.string(),
      port: z.number().int().nullable(),
      flows: z.number(),
      bytes: z.number(),
      reason: z.enum(['ingress', 'egress']),
      anomalous: z.boolean(),
    }),
  ),
});

const Tenant = z.object({
  tenant_id: z.string(),
  project_id: z.string(),
  rule_count: z.number().int(),
  security_groups: z.array(Group),
  check: TenantCheck,
  notes: z.array(z.string()),
});

const Distribution = z.object({ min: z.number(), median: z.number(), p90: z.number(), max: z.number() });

const Summary = z.object({
  tenants: z.number().int(),
  groups: z.number().int(),
  rules: z.number().int(),
  rules_per_tenant: Distribution,
  rules_per_group_port: Distribution.extend({ over_3: z.number().int() }),
  vms_anomalous: z.number().int(),
  vms_without_tenant: z.number().int(),
  check: Figures,
  check_normal_vm_to_vm: Figures,
  check_from_anomalous: Figures,
  connections: z.object({
    held: z.number().int(),
    max: z.number().int(),
    recorded: z.number(),
    refused: z.number(),
    bad_port: z.number(),
    no_vm: z.number(),
    forgotten: z.number(),
  }),
  not_learned: z.record(z.string(), z.number()),
});

export const SecurityGroupsResponse = z.object({
  run_id: z.string(),
  computed_at: Time,
  check_window: z.object({ from: Time, to: Time }).describe('The latest window, that rules learned from before it are checked against'),
  anomalous_vms: z.array(z.string()).describe('VMs ranked anomalous that probe: not learned from (a tenant key sees its own)'),
  vms_without_tenant: z.array(z.string()).describe('VMs with traffic but no tenant: no group (admin only; empty for a tenant key)'),
  summary: Summary.nullable().describe('Fleet-wide figures (admin only; null for a tenant key or a filter)'),
  tenants: z.array(Tenant),
});
