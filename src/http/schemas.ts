/**
 * The wire formats of the REST API (CONTRACT.md, "REST"): request parameters and every response, as zod
 * schemas. Validation, serialization, the TypeScript types of the handlers and the OpenAPI document all
 * derive from these, so they cannot drift apart.
 *
 * Response schemas avoid transforms: the serializer *encodes* through them (fastify-type-provider-zod 7),
 * and a transform cannot be encoded.
 */
import { z } from 'zod';
import { CURSOR_PATTERN } from './paging.ts';

// ---- shared pieces ----------------------------------------------------------------------------------------

export const ErrorBody = z
  .object({
    error: z.string().describe('Stable machine-readable code, e.g. unknown_vm, bad_request, no_run'),
    message: z.string().describe('Human-readable explanation'),
  })
  .describe('Every error response');
export type ErrorBody = z.infer<typeof ErrorBody>;

const Id = z.string().min(1).max(128);
const Timestamp = z.iso.datetime().describe('RFC 3339, UTC');
/** The watermark of an empty run is not a time: null rather than an invalid date. */
const RunTime = Timestamp.nullable().describe('Event time the run describes (RFC 3339), null when no flow was seen');
const Cursor = z
  .string()
  .max(1024)
  .regex(CURSOR_PATTERN, 'not a cursor this API issued')
  .describe('Opaque cursor from a previous page\'s next_cursor. Any cursor of this form is a position: the page starts after it');
const NextCursor = z.string().nullable().describe('Pass as cursor to get the next page; null on the last page');

const MAX_PAGE = 1000;
const DEFAULT_PAGE = 100;
const Limit = z.coerce.number().int().min(1).max(MAX_PAGE).default(DEFAULT_PAGE).describe(`Page size, 1..${MAX_PAGE}`);

// ---- requests ---------------------------------------------------------------------------------------------

export const VmParams = z.object({ vm_id: Id });
export const TenantParams = z.object({ tenant_id: Id });
export const ClusterParams = z.object({ cluster_id: Id });

export const PageQuery = z.object({ limit: Limit, cursor: Cursor.optional() });
export type PageQuery = z.infer<typeof PageQuery>;

export const VmListQuery = PageQuery.extend({
  cluster_id: Id.optional().describe('Only VMs in this cluster of the latest run'),
  tenant_id: Id.optional().describe('Only VMs of this tenant'),
});
export type VmListQuery = z.infer<typeof VmListQuery>;

export const TenantListQuery = PageQuery.extend({
  cluster_id: Id.optional().describe('Only tenants in this cluster of the latest run'),
});
export type TenantListQuery = z.infer<typeof TenantListQuery>;

// ---- responses --------------------------------------------------------------------------------------------

export const Assignments = z.object({
  run_id: z.string(),
  computed_at: RunTime,
  vm_clusters: z.record(z.string(), z.string()).describe('Cluster id of every VM in the latest run'),
  tenant_clusters: z.record(z.string(), z.string()).describe('Cluster id of every tenant in the latest run'),
});
export type Assignments = z.infer<typeof Assignments>;

/** Snake_case VmAttributes of CONTRACT.md, as last received. */
export const VmAttributesBody = z.object({
  ts: Timestamp,
  vm_id: z.string(),
  tenant_id: z.string(),
  vpc_id: z.string().nullable(),
  subnet_id: z.string().nullable(),
  ip: z.string().nullable(),
  image: z.string().nullable(),
  host_id: z.string().nullable(),
  vcpus: z.number().nullable(),
  memory_mb: z.number().nullable(),
  state: z.enum(['active', 'stopped', 'deleted']),
  cpu_util: z.number().nullable(),
  labels: z.record(z.string(), z.string()).nullable(),
});
export type VmAttributesBody = z.infer<typeof VmAttributesBody>;

const FeatureMeans = z.record(z.string(), z.number().nullable());

export const VmDetail = z.object({
  vm_id: z.string(),
  tenant_id: z.string().nullable().describe('Null until the VM\'s attributes arrive'),
  cluster_id: z.string().nullable().describe('Null when the VM is not in the latest run'),
  features: z
    .record(z.string(), z.number().nullable())
    .nullable()
    .describe('Current feature values over the window by name (null: not defined for this VM); null without traffic'),
  attributes: VmAttributesBody.nullable(),
  last_seen: Timestamp.nullable().describe('Event time of the newest record that mentioned the VM'),
  distance: z.number().nullable().describe('Distance to its cluster\'s centroid in the clustering space; null when not in the latest run'),
  next_cluster_id: z.string().nullable().describe('The next-closest cluster; null with fewer than two clusters'),
  confidence: z
    .number()
    .nullable()
    .describe('1 - distance / distance to the next-closest centroid, in [0, 1]: 0 on the border, 1 on its own centroid'),
  anomaly_score: z.number().nullable().describe('How unlike its peers it behaves: 1 is usual, above 3 or so unusual (see /v1/anomalies)'),
  affinity_group: z.string().nullable().describe('Traffic affinity group in the latest run (see /v1/affinity-groups)'),
  cluster_means: FeatureMeans.nullable().describe(
    'Every feature\'s mean over the VM\'s cluster in the latest run, by name (null: undefined), to read its current values against; null when it is in no cluster of the run',
  ),
  fleet_means: FeatureMeans.nullable().describe('Every feature\'s mean over all VMs of the latest run, by name (null: undefined); null before a run'),
});
export type VmDetail = z.infer<typeof VmDetail>;

export const VmItem = z.object({ vm_id: z.string(), tenant_id: z.string().nullable(), cluster_id: z.string() });
export type VmItem = z.infer<typeof VmItem>;
export const VmPage = z.object({ items: z.array(VmItem), next_cursor: NextCursor });
export type VmPage = z.infer<typeof VmPage>;

export const TenantItem = z.object({
  tenant_id: z.string(),
  name: z.string().nullable().describe('The tenant\'s name from its attributes; null until they arrive'),
  cluster_id: z.string(),
  vm_count: z.number().int().describe('VMs of the tenant in the latest run'),
});
export type TenantItem = z.infer<typeof TenantItem>;
export const TenantPage = z.object({ items: z.array(TenantItem), next_cursor: NextCursor });
export type TenantPage = z.infer<typeof TenantPage>;

export const TenantDetail = z.object({
  tenant_id: z.string(),
  cluster_id: z.string().nullable().describe('Null when the tenant is not in the latest run'),
  name: z.string().nullable(),
  tier: z.string().nullable(),
  labels: z.record(z.string(), z.string()).nullable(),
  deleted: z.boolean(),
  vm_count: z.number().int().describe('VMs of the tenant in the latest run'),
});
export type TenantDetail = z.infer<typeof TenantDetail>;

export const ClusterDescription = z.object({
  cluster_id: z.string(),
  size: z.number().int(),
  name: z
    .string()
    .optional()
    .describe('A name suggested by the cluster\'s dominant traits (VM clusters: ports served and used; tenant clusters: size, traffic, exposure, VM roles); not an id'),
  distinguishing: z
    .array(
      z.object({
        feature: z.string(),
        value: z.number().nullable().describe('Cluster mean (null: undefined)'),
        overall: z.number().nullable().describe('Overall mean (null: undefined)'),
        z: z.number().nullable(),
      }),
    )
    .describe('Features whose cluster mean stands furthest from the overall mean, in overall standard deviations'),
});
export type ClusterDescription = z.infer<typeof ClusterDescription>;

export const ClusterList = z.object({
  run_id: z.string(),
  computed_at: RunTime,
  algorithm: z.string(),
  parameters: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])),
  quality: z.object({
    k: z.number().int(),
    silhouette: z.number().nullable(),
    inertia: z.number().nullable(),
    noise: z.number().int(),
  }),
  clusters: z.array(ClusterDescription),
});
export type ClusterList = z.infer<typeof ClusterList>;

const ClusterPageBase = ClusterDescription.extend({ run_id: z.string(), computed_at: RunTime, next_cursor: NextCursor });
export const VmClusterPage = ClusterPageBase.extend({ members: z.array(VmItem) });
export type VmClusterPage = z.infer<typeof VmClusterPage>;
export const TenantClusterPage = ClusterPageBase.extend({ members: z.array(TenantItem) });
export type TenantClusterPage = z.infer<typeof TenantClusterPage>;

/** The optional body of POST /v1/recluster. */
export const ReclusterBody = z.object({
  search: z.boolean().optional().describe('True: search k even when the fleet has not drifted (a fixed k never searches)'),
});

export const ReclusterAccepted = z.object({
  run_id: z.string(),
  started: z.boolean().describe('False when a run was already in progress: its id is returned'),
});
export type ReclusterAccepted = z.infer<typeof ReclusterAccepted>;

export const Health = z.object({ status: z.literal('ok') });
export const Readiness = z.object({
  status: z.enum(['ready', 'not_ready']),
  missing: z
    .array(z.enum(['inputs', 'dead_letters', 'first_run']))
    .describe('What the service still waits for; dead_letters: the input is held because its rejects cannot be written to the dead-letter topic'),
  reasons: z.array(z.string()).describe('Why it is not ready, one sentence per missing item, in the same order'),
});
export type Readiness = z.infer<typeof Readiness>;

export const IngestStatsResponse = z.object({
  messages: z.number().int(),
  records: z.object({ flows: z.number().int(), vm_attributes: z.number().int(), tenant_attributes: z.number().int() }),
  rejected: z.object({ count: z.number().int(), by_reason: z.record(z.string(), z.number().int()) }),
  watermark: z.string().nullable(),
  vms_tracked: z.number().int().describe('VMs held in memory, what MAX_VMS bounds: live VMs and those silent for less than IDLE_MINUTES'),
  tenants_tracked: z
    .number()
    .int()
    .describe('Tenants named by the attributes of a live VM (seen in the window) and not deleted: the tenants a run clusters (docs/OPERATING.md)'),
  latest_run_id: z.string().nullable(),
  run_in_progress: z.string().nullable(),
  security_group_connections: z
    .object({ held: z.number().int(), max: z.number().int(), refused: z.number().int() })
    .optional()
    .describe('The connection log security groups are learned from: connections held, MAX_SECURITY_GROUP_CONNECTIONS, new connections refused at it'),
});

// ---- run history ------------------------------------------------------------------------------------------

export const RunParams = z.object({ run_id: Id });

export const RunChangesQuery = PageQuery.extend({
  side: z.enum(['vms', 'tenants']).default('vms').describe('Whose events and moves: VM clusters or tenant clusters'),
});
export type RunChangesQuery = z.infer<typeof RunChangesQuery>;

const EventCounts = z.object({
  born: z.number().int(),
  died: z.number().int(),
  split: z.number().int(),
  merged: z.number().int(),
  moved: z.number().int().describe('Entities in both runs whose cluster id changed'),
});

const RunSide = z.object({
  count: z.number().int().describe('Entities clustered'),
  k: z.number().int(),
  silhouette: z.number().nullable(),
  inertia: z.number().nullable(),
  noise: z.number().int(),
  changes: EventCounts.describe('Lifecycle events against the previous run'),
  search: z
    .object({
      searched: z.boolean().describe('True: k was searched; false: one warm fit from the previous run (docs/clustering.md)'),
      reason: z.string().describe('Why: no-previous-run, requested, run-cap, no-reference, cluster-lost, new-rows, moved, unexplained-rise, final-run, vm-searched, no-drift, fixed-k'),
      runs_since_search: z.number().int().describe('Runs since the last search, after this one (0 when it searched)'),
      reference_unexplained: z.number().nullable().describe('Unexplained share (inertia / total sum of squares) of the last search: the drift reference'),
      drift: z
        .object({
          unexplained: z.number().nullable().describe("The warm fit's unexplained share"),
          moved: z.number().nullable().describe('Share of the previous run\'s entities that changed cluster in the warm fit'),
          new_rows: z.number().nullable().describe('Share of the entities that are new since the previous run'),
          lost_clusters: z.number().int().describe('Previous clusters with no member left or empty after the warm fit'),
        })
        .nullable()
        .describe('The warm fit\'s measures; null when no warm fit was made'),
    })
    .nullable()
    .describe('Whether the run searched k and why; null for DBSCAN and runs of older versions'),
});

export const RunSummary = z.object({
  run_id: z.string(),
  previous_run_id: z.string().nullable().describe('The run its cluster ids were matched against; null for the first'),
  computed_at: RunTime,
  duration_ms: z.number(),
  reason: z.enum(['schedule', 'request', 'final']),
  vms: RunSide,
  tenants: RunSide,
});
export type RunSummary = z.infer<typeof RunSummary>;

export const RunList = z.object({
  runs: z.array(RunSummary).describe('Newest first; the service keeps the last RUN_HISTORY runs (default 50)'),
});
export type RunList = z.infer<typeof RunList>;

const LifecycleEventBody = z
  .object({
    type: z.enum(['born', 'died', 'split', 'merged']),
    cluster_id: z.string().describe('born, merged: the current cluster; died, split: the previous one'),
    size: z.number().int().describe('Members of that cluster in its run'),
    from: z.array(z.string()).describe('born: previous clusters that gave it members; merged: the clusters it took in'),
    into: z.array(z.string()).describe('died: where its members went; split: the clusters it became'),
  })
  .describe('What happened to a cluster between the previous run and this one');

export const RunChangesPage = z.object({
  run_id: z.string(),
  previous_run_id: z.string().nullable(),
  computed_at: RunTime,
  side: z.enum(['vms', 'tenants']),
  events: z.array(LifecycleEventBody),
  moved_count: z.number().int(),
  moved: z
    .array(z.object({ id: z.string(), from: z.string(), to: z.string() }))
    .describe('A page of the entities whose cluster id changed, sorted by id'),
  next_cursor: NextCursor,
});
export type RunChangesPage = z.infer<typeof RunChangesPage>;

// ---- anomalies and affinity groups ------------------------------------------------------------------------

const MAX_ANOMALIES = 1000;
const DEFAULT_ANOMALIES = 20;

export const AnomalyQuery = z.object({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_ANOMALIES)
    .default(DEFAULT_ANOMALIES)
    .describe(`How many of the most anomalous VMs, 1..${MAX_ANOMALIES}`),
});
export type AnomalyQuery = z.infer<typeof AnomalyQuery>;

export const AnomalyList = z.object({
  run_id: z.string(),
  computed_at: RunTime,
  items: z
    .array(z.object({ vm_id: z.string(), tenant_id: z.string().nullable(), cluster_id: z.string(), score: z.number() }))
    .describe('Most anomalous first; score 1 is as usual as a median member of a cluster'),
});
export type AnomalyList = z.infer<typeof AnomalyList>;

const AffinityGroupSummary = z.object({ group_id: z.string(), size: z.number().int() });

export const AffinityGroupList = z.object({
  run_id: z.string(),
  computed_at: RunTime,
  group_count: z.number().int(),
  modularity: z.number().describe('Modularity of the partition of the traffic graph (Louvain)'),
  edges: z.number().int().describe('VM pairs that exchanged traffic in the window'),
  groups: z.array(AffinityGroupSummary).describe('Largest first (group ids are numbered by size)'),
  next_cursor: NextCursor,
});
export type AffinityGroupList = z.infer<typeof AffinityGroupList>;

export const AffinityGroupParams = z.object({ group_id: Id });

export const AffinityGroupPage = AffinityGroupSummary.extend({
  run_id: z.string(),
  computed_at: RunTime,
  members: z.array(VmItem),
  next_cursor: NextCursor,
});
export type AffinityGroupPage = z.infer<typeof AffinityGroupPage>;
