/**
 * The options of the pipeline and of clustering runs, as one zod schema shared by the replay CLI and (later)
 * the service's configuration, so that a value means the same everywhere and is checked once, at the edge.
 */
import { z } from 'zod';
import { DEFAULT_MAX_CLAIMS } from '../attribution/address-map.ts';
import { DEFAULT_MAX_HELD_FLOW_BYTES, DEFAULT_MAX_HELD_FLOWS } from '../attribution/held-flows.ts';
import { FLOW_FORMATS } from '../contract/formats/flow-formats.ts';
import { defaultDecodeLimits } from '../contract/message-decoder.ts';
import { envBoolean } from './env-values.ts';
import { DEFAULT_FUTURE_QUORUM, DEFAULT_MAX_FUTURE_SKEW_MS } from '../pipeline/future-bound.ts';
import { DEFAULT_HOST_ATTRIBUTES_TOPIC, defaultTopics } from '../contract/topics.ts';
import type { PipelineConfig } from '../pipeline/pipeline.ts';
import { defaultTierOptions } from '../placement/types.ts';
import type { RunOptions } from '../runs/clustering-run.ts';
import { DEFAULT_MAX_CONNECTIONS } from '../security-groups/connection-log.ts';
import { DEFAULT_MAX_VM_PAIRS } from '../windows/pair-traffic.ts';
import { DEFAULT_DELETED_RETENTION_MS, DEFAULT_MAX_VMS, defaultWindowConfig } from '../windows/window-config.ts';

const positiveInt = z.coerce.number().int().positive();
/** A number of clusters: one cluster would say nothing about anything. */
const clusterCount = z.coerce.number().int().min(2, 'at least 2: one cluster would say nothing').max(1000);

/**
 * A check across fields runs only when those fields are valid themselves: WINDOW_MINUTES=0 is one error
 * (the window), not also a complaint that the lateness exceeds a window of 0.
 */
const whenValid = (...fields: string[]) => ({
  when: (payload: z.core.ParsePayload): boolean => !payload.issues.some((i) => fields.includes(String(i.path?.[0]))),
});

/** The topic names: Kafka's (KAFKA_TOPIC_*) and a trace's alike. */
const topicShape = {
  flowsTopic: z.string().min(1).default(defaultTopics.flows),
  vmAttributesTopic: z.string().min(1).default(defaultTopics.vmAttributes),
  tenantAttributesTopic: z.string().min(1).default(defaultTopics.tenantAttributes),
  /** Host capacities for the placement advice (docs/placement.md). */
  hostAttributesTopic: z.string().min(1).default(DEFAULT_HOST_ATTRIBUTES_TOPIC),
};
export const TopicOptions = z.object(topicShape);
export type TopicOptionsValue = z.infer<typeof TopicOptions>;

/** The environment variables of the topic names. */
export const TOPIC_ENV: Record<string, keyof TopicOptionsValue> = {
  KAFKA_TOPIC_FLOWS: 'flowsTopic',
  KAFKA_TOPIC_VM_ATTRIBUTES: 'vmAttributesTopic',
  KAFKA_TOPIC_TENANT_ATTRIBUTES: 'tenantAttributesTopic',
  KAFKA_TOPIC_HOST_ATTRIBUTES: 'hostAttributesTopic',
};

export const PipelineOptions = z
  .object({
    windowMinutes: z.coerce.number().positive().max(24 * 60).default(15),
    bucketSeconds: positiveInt.max(3600).default(60),
    latenessSeconds: z.coerce.number().min(0).default(defaultWindowConfig.allowedLatenessMs / 1000),
    /** How far ahead of now (wall clock live; the time the quorum of sources agree on) a record may be: else future_ts. */
    maxFutureSkewSeconds: z.coerce.number().min(0).max(7 * 86_400).default(DEFAULT_MAX_FUTURE_SKEW_MS / 1000),
    /** Distinct recent sources (exporting hosts) that must reach a time before flows may lead it by more than the skew. */
    futureQuorum: positiveInt.max(1000).default(DEFAULT_FUTURE_QUORUM),
    reclusterMinutes: z.coerce.number().min(0).default(5),
    algorithm: z.enum(['kmeans', 'dbscan']).default('kmeans'),
    k: clusterCount.optional(),
    kMin: clusterCount.default(2),
    kMax: clusterCount.default(24),
    tenantAlgorithm: z.enum(['kmeans', 'dbscan']).default('kmeans'),
    tenantK: clusterCount.optional(),
    tenantKMin: clusterCount.default(2),
    tenantKMax: clusterCount.default(12),
    restarts: positiveInt.max(100).default(5),
    seed: z.coerce.number().int().min(0).max(2 ** 32 - 1).default(1),
    pca: envBoolean.default(false),
    dbscanEps: z.coerce.number().positive().optional(),
    dbscanMinPoints: positiveInt.max(1000).default(5),
    ...topicShape,
    /** The JSON the flows topic carries: the contract's own, or a flow collector's (docs/exporters.md). */
    flowFormat: z.enum(FLOW_FORMATS).default('alcor'),
    /** Most VM migrations one placement advice suggests. */
    placementMaxMoves: z.coerce.number().int().min(0).max(100_000).default(20),
    /** Capacity of a host that announced none; unset: the largest load observed on any host. */
    placementDefaultVcpus: positiveInt.max(1_000_000).optional(),
    placementDefaultMemoryMb: positiveInt.max(1_000_000_000).optional(),
    /** Host label keys of the placement tiers (docs/placement.md#tiers): unused while no host carries them. */
    placementRackLabel: z.string().min(1).max(256).default(defaultTierOptions.rackLabel),
    placementZoneLabel: z.string().min(1).max(256).default(defaultTierOptions.zoneLabel),
    /** Distances same rack, same zone, across zones ("1,2,3"): a pair costs traffic x distance, 0 on one host. */
    placementTierDistances: z
      .string()
      .default(`${defaultTierOptions.sameRack},${defaultTierOptions.sameZone},${defaultTierOptions.acrossZones}`)
      .transform((s) => s.split(',').map((x) => Number(x.trim())))
      .refine((d) => d.length === 3 && d.every((x) => Number.isFinite(x) && x > 0 && x <= 1_000_000) && d[0]! <= d[1]! && d[1]! <= d[2]!, {
        message: 'three positive numbers, non-decreasing: same rack, same zone, across zones',
      }),
    // Bounded resources: each cap, when hit, is counted (FleetState.counters, rejection reasons) and logged.
    /** VMs tracked at once; new ones beyond it are refused. */
    maxVms: positiveInt.max(10_000_000).default(DEFAULT_MAX_VMS),
    /** Exact distinct peers (and ports) per VM and window before the set is counted by a sketch. */
    maxPeersPerVm: positiveInt.max(1_000_000).default(defaultWindowConfig.maxPeersPerVm),
    /** VM pairs remembered for the affinity graph. */
    maxVmPairs: positiveInt.max(100_000_000).default(DEFAULT_MAX_VM_PAIRS),
    /** Connections the security groups' connection log holds (docs/security-groups.md); new ones beyond it are refused. */
    maxSecurityGroupConnections: positiveInt.max(100_000_000).default(DEFAULT_MAX_CONNECTIONS),
    /** Event time without flows or attributes after which a VM is forgotten; default twice the window. */
    idleMinutes: z.coerce.number().positive().max(7 * 24 * 60).optional(),
    /** Event time a deleted VM's tombstone is kept against older messages. */
    deletedRetentionHours: z.coerce.number().min(0).max(24 * 365).default(DEFAULT_DELETED_RETENTION_MS / 3_600_000),
    /** Tenants held at once; new ones beyond it are refused. Default DEFAULT_MAX_TENANTS. */
    maxTenants: positiveInt.max(10_000_000).optional(),
    /** Labels held over all tenants; beyond it a tenant's message is applied without labels. Default DEFAULT_MAX_TENANT_LABELS. */
    maxTenantLabels: z.coerce.number().int().min(0).max(100_000_000).optional(),
    /** Tombstones of deleted VMs held at once; beyond it the oldest is forgotten early. Default DEFAULT_MAX_DELETED_VMS. */
    maxDeletedVms: positiveInt.max(10_000_000).optional(),
    /** Address claims (VM, address, VPC, time span) held to attribute flows by address; beyond it new ones are refused. */
    maxAddressClaims: positiveInt.max(100_000_000).default(DEFAULT_MAX_CLAIMS),
    /** Address-only flows held for late VM attributes at most (0: none held); beyond it they are applied at once. */
    maxHeldFlows: z.coerce.number().int().min(0).max(100_000_000).default(DEFAULT_MAX_HELD_FLOWS),
    /** Estimated bytes of the held flows at most. */
    maxHeldFlowBytes: positiveInt.max(64 * 1024 * 1024 * 1024).default(DEFAULT_MAX_HELD_FLOW_BYTES),
    /** Largest message (or trace line) accepted, in bytes; larger ones are rejected as too_large. */
    maxMessageBytes: positiveInt.min(1024).max(256 * 1024 * 1024).default(defaultDecodeLimits.maxMessageBytes),
    /** Most records in one message's array; larger batches are rejected as batch_too_large. */
    maxBatchRecords: positiveInt.max(10_000_000).default(defaultDecodeLimits.maxBatchRecords),
  })
  .refine((o) => (o.placementDefaultVcpus === undefined) === (o.placementDefaultMemoryMb === undefined), {
    message: 'a default host capacity needs both vCPUs and memory',
    path: ['placementDefaultVcpus'],
  })
  .refine((o) => o.kMin <= o.kMax, { message: 'kMin must not exceed kMax', path: ['kMin'], ...whenValid('kMin', 'kMax') })
  .refine((o) => o.tenantKMin <= o.tenantKMax, {
    message: 'tenantKMin must not exceed tenantKMax',
    path: ['tenantKMin'],
    ...whenValid('tenantKMin', 'tenantKMax'),
  })
  .refine((o) => (o.windowMinutes * 60) % o.bucketSeconds === 0, {
    message: 'the window must be a whole number of buckets',
    path: ['bucketSeconds'],
    ...whenValid('windowMinutes', 'bucketSeconds'),
  })
  .refine((o) => o.latenessSeconds <= o.windowMinutes * 60, {
    message: 'allowed lateness cannot exceed the window',
    path: ['latenessSeconds'],
    ...whenValid('windowMinutes', 'latenessSeconds'),
  })
  .refine((o) => o.idleMinutes === undefined || o.idleMinutes >= o.windowMinutes, {
    message: 'the idle time cannot be shorter than the window',
    path: ['idleMinutes'],
    ...whenValid('windowMinutes', 'idleMinutes'),
  });
export type PipelineOptions = z.infer<typeof PipelineOptions>;

export function toPipelineConfig(o: PipelineOptions): PipelineConfig {
  return {
    window: {
      ...defaultWindowConfig,
      windowMs: o.windowMinutes * 60_000,
      bucketMs: o.bucketSeconds * 1000,
      allowedLatenessMs: o.latenessSeconds * 1000,
      maxVms: o.maxVms,
      maxPeersPerVm: o.maxPeersPerVm,
      maxVmPairs: o.maxVmPairs,
      deletedRetentionMs: o.deletedRetentionHours * 3_600_000,
      ...(o.idleMinutes === undefined ? {} : { idleMs: o.idleMinutes * 60_000 }),
      // Only when set: a snapshot is checked against the whole window configuration.
      ...(o.maxTenants === undefined ? {} : { maxTenants: o.maxTenants }),
      ...(o.maxTenantLabels === undefined ? {} : { maxTenantLabels: o.maxTenantLabels }),
      ...(o.maxDeletedVms === undefined ? {} : { maxDeletedVms: o.maxDeletedVms }),
    },
    topics: { flows: o.flowsTopic, vmAttributes: o.vmAttributesTopic, tenantAttributes: o.tenantAttributesTopic },
    reclusterEveryMs: o.reclusterMinutes * 60_000,
    limits: { ...defaultDecodeLimits, maxMessageBytes: o.maxMessageBytes, maxBatchRecords: o.maxBatchRecords },
    // No wall clock here: a replay has only the trace's own time; the live service adds Date.now.
    future: { maxSkewMs: o.maxFutureSkewSeconds * 1000, quorum: o.futureQuorum, wallClock: null },
    hostAttributesTopic: o.hostAttributesTopic,
    maxAddressClaims: o.maxAddressClaims,
    maxHeldFlows: o.maxHeldFlows,
    maxHeldFlowBytes: o.maxHeldFlowBytes,
    flowFormat: o.flowFormat,
    maxSecurityGroupConnections: o.maxSecurityGroupConnections,
  };
}

export function toRunOptions(o: PipelineOptions): RunOptions {
  const dbscan = { minPoints: o.dbscanMinPoints, ...(o.dbscanEps === undefined ? {} : { eps: o.dbscanEps }) };
  return {
    vm: {
      algorithm: o.algorithm,
      kMin: o.kMin,
      kMax: o.kMax,
      restarts: o.restarts,
      seed: o.seed,
      pca: { enabled: o.pca, varianceToKeep: 0.95, maxComponents: 16 },
      dbscan,
      ...(o.k === undefined ? {} : { k: o.k }),
    },
    tenant: {
      algorithm: o.tenantAlgorithm,
      kMin: o.tenantKMin,
      kMax: o.tenantKMax,
      restarts: o.restarts,
      seed: o.seed,
      dbscan,
      ...(o.tenantK === undefined ? {} : { k: o.tenantK }),
    },
    vmFeatureWeights: {},
    placement: {
      maxMoves: o.placementMaxMoves,
      defaultCapacity:
        o.placementDefaultVcpus === undefined || o.placementDefaultMemoryMb === undefined
          ? 'max-observed'
          : { vcpus: o.placementDefaultVcpus, memoryMb: o.placementDefaultMemoryMb },
      tiers: {
        rackLabel: o.placementRackLabel,
        zoneLabel: o.placementZoneLabel,
        sameRack: o.placementTierDistances[0]!,
        sameZone: o.placementTierDistances[1]!,
        acrossZones: o.placementTierDistances[2]!,
      },
    },
  };
}

/** Human-readable lines for a failed parse: one per issue, naming the option. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `  --${String(i.path[0] ?? 'options').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${i.message}`).join('\n');
}
