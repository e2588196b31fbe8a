/** Response of GET /v1/placement (docs/placement.md): the advice document of src/placement/types.ts. */
import { z } from 'zod';

const HostLoad = z.object({
  vcpus: z.number(),
  memory_mb: z.number(),
  vcpus_capacity: z.number().nullable().describe('null: the host has no capacity (unknown host and no default)'),
  memory_mb_capacity: z.number().nullable(),
});

const Constraint = z.enum(['vcpus', 'memory_mb', 'host_without_capacity', 'host_over_capacity', 'anti_affinity', 'pinned', 'size_unknown', 'move_budget']);

const BlockedMove = z.object({
  vm_ids: z.array(z.string()),
  to_host: z.string(),
  bytes_per_minute_saved: z.number(),
  constraint: Constraint.describe('what stopped the move'),
  cost_saved: z.number().optional().describe('with tiers only: the weighted cost (traffic x host distance) the move would have saved'),
});

export const PlacementResponse = z.object({
  run_id: z.string(),
  computed_at: z.string().nullable(),
  moves: z
    .array(
      z.object({
        step: z.number().int().describe('moves with the same step are one decision, applied together (a pair brought onto a third host)'),
        vm_ids: z.array(z.string()).describe('the VMs moved together: one VM, or the part of an affinity group on from_host'),
        affinity_group: z.string().nullable(),
        from_host: z.string(),
        to_host: z.string(),
        bytes_per_minute_saved: z.number().describe('cross-host traffic this move takes off the fabric'),
        from_load: HostLoad.describe('load of from_host after this move'),
        to_load: HostLoad.describe('load of to_host after this move'),
        better_blocked: BlockedMove.nullable().describe('the move of these VMs that would have saved more, and what stopped it'),
        cost_saved: z.number().optional().describe('with tiers only: the weighted cost (traffic x host distance) this move saves'),
      }),
    )
    .describe('in the order to apply them'),
  migrations: z.number().int(),
  max_moves: z.number().int(),
  cross_host_bytes_per_minute: z.object({ before: z.number(), after: z.number() }),
  no_moves_reason: z
    .enum([
      'no_vms',
      'no_vm_has_a_host',
      'no_traffic',
      'no_cross_host_traffic',
      'no_host_has_capacity',
      'move_budget_zero',
      'no_feasible_move',
      'no_move_for_tenant',
    ])
    .nullable(),
  blocked: z.array(BlockedMove).describe('the most valuable moves a constraint stopped'),
  hosts: z.array(
    z.object({
      host_id: z.string(),
      load_before: HostLoad,
      load_after: HostLoad,
      cross_host_bytes_per_minute_before: z.number(),
      cross_host_bytes_per_minute_after: z.number(),
    }),
  ),
  issues: z.object({
    vms_without_host: z.number().int(),
    vms_without_size: z.number().int(),
    pinned_vms: z.number().int(),
    pairs_without_host: z.number().int(),
    hosts_without_capacity: z.array(z.string()),
    hosts_over_capacity: z.array(z.string()),
  }),
  strategy: z.enum(['single', 'groups', 'group-density', 'pairs']),
  weighted_cost: z
    .object({
      before: z.number(),
      after: z.number(),
      distances: z.object({ same_host: z.literal(0), same_rack: z.number(), same_zone: z.number(), across_zones: z.number() }),
      rack_label: z.string(),
      zone_label: z.string(),
    })
    .optional()
    .describe('with tiers only (a host has a rack or zone label): traffic x host distance, the objective of the advice'),
});
