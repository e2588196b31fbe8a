/**
 * Wire formats of the two endpoints the dashboard (/ui) needs beyond the contract's: the VMs' 2-D projection
 * and the traffic graph around a VM or an affinity group. Kept apart from schemas.ts because they serve
 * drawing, not integration; they are documented in the OpenAPI document all the same.
 */
import { z } from 'zod';

const Id = z.string().min(1).max(128);
const RunTime = z.iso.datetime().nullable().describe('Event time the run describes (RFC 3339), null when no flow was seen');

const MAX_PROJECTION_POINTS = 20_000;
const DEFAULT_PROJECTION_POINTS = 5_000;

export const VmProjectionQuery = z.object({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_PROJECTION_POINTS)
    .default(DEFAULT_PROJECTION_POINTS)
    .describe(`At most this many points, 1..${MAX_PROJECTION_POINTS}; a larger fleet is sampled deterministically`),
  tenant_id: Id.optional().describe('Only VMs of this tenant'),
  cluster_id: Id.optional().describe('Only VMs in this cluster of the latest run'),
});
export type VmProjectionQuery = z.infer<typeof VmProjectionQuery>;

export const VmProjection = z
  .object({
    run_id: z.string(),
    computed_at: RunTime,
    explained: z.array(z.number()).length(2).describe('Share of the variance along x and along y'),
    total: z.number().int().describe('VMs that pass the filters; more than the points sent when sampled'),
    sampled: z.boolean(),
    vm_id: z.array(z.string()),
    cluster_id: z.array(z.string()).describe('Parallel to vm_id'),
    x: z.array(z.number()).describe('First principal component of the standardised features, parallel to vm_id'),
    y: z.array(z.number()).describe('Second principal component, parallel to vm_id'),
  })
  .describe(
    'The latest run\'s VMs on the first two principal components of the standardised features, as parallel arrays. ' +
      'Sampling keeps the VMs whose id hashes lowest, so the same VMs stay in the picture from run to run.',
  );
export type VmProjection = z.infer<typeof VmProjection>;

const MAX_GRAPH_NODES = 500;
const DEFAULT_GRAPH_NODES = 100;

export const AffinityGraphQuery = z
  .object({
    vm_id: Id.optional().describe('The graph around this VM: it and its heaviest peers'),
    group_id: Id.optional().describe('The graph of this affinity group: its most connected members'),
    limit: z.coerce.number().int().min(2).max(MAX_GRAPH_NODES).default(DEFAULT_GRAPH_NODES).describe(`At most this many nodes, 2..${MAX_GRAPH_NODES}`),
  })
  .refine((q) => (q.vm_id === undefined) !== (q.group_id === undefined), { message: 'give exactly one of vm_id and group_id' });
export type AffinityGraphQuery = z.infer<typeof AffinityGraphQuery>;

export const AffinityGraph = z
  .object({
    run_id: z.string(),
    computed_at: RunTime,
    focus: z.object({ vm_id: z.string().nullable(), group_id: z.string().nullable() }),
    total_nodes: z.number().int().describe('Nodes before the limit: the VM and all its peers, or all the group\'s members'),
    nodes: z.array(z.object({ vm_id: z.string(), cluster_id: z.string(), group_id: z.string(), tenant_id: z.string().nullable() })),
    edges: z.array(z.object({ source: z.string(), target: z.string(), bytes: z.number() })).describe('Traffic between the nodes over the window, bytes both ways'),
  })
  .describe('The window\'s VM-to-VM traffic among a few VMs, for drawing');
export type AffinityGraph = z.infer<typeof AffinityGraph>;
