/**
 * Scale-out settings (docs/scale-out.md): several members of one application share the work through Kafka.
 * Every internal topic is named after the application id, so that two applications on one cluster never
 * read each other's state, and a new id starts from nothing.
 */
import { z } from 'zod';
import { envBoolean } from '../config/env-values.ts';
import { isValidTopicName } from '../config/kafka-settings.ts';

export interface TopologyConfig {
  appId: string;
  /** Partitions of the by-VM topic (and its changelog): the most members that can own windows. */
  partitions: number;
  replicationFactor: number;
  /** How long the group waits for a silent member before its partitions move (and the leadership). */
  sessionTimeoutMs: number;
  /** The route stage in a worker thread of its own (the default); false: in the main thread, as on one core. */
  routeWorker?: boolean;
  /** A route transaction commits at this many input messages (route-stage.ts, DEFAULT_ROUTE_COMMIT_MESSAGES)... */
  routeCommitMessages?: number;
  /** ... or once it is this old, ms (DEFAULT_ROUTE_COMMIT_MS), whichever comes first. */
  routeCommitMs?: number;
  /**
   * How long a fetch of the member's table readers (topic-reader.ts) waits on an idle topic, ms; kafkajs' own
   * 5000 when absent. A reader's stop waits for the fetch in flight, so a member's stop and each changelog
   * restore wait up to this long; the tests set it short (docs/testing.md).
   */
  readerWaitMs?: number;
}

export interface TopologyTopics {
  /** Each accepted flow as its two VM-sided halves, and each VM-attributes record, keyed by VM id. */
  byVm: string;
  /** Checkpoints of each by-VM partition's windows with the offset they include (compacted). */
  changelog: string;
  /** Accepted tenant attributes keyed by tenant id: the global table every member reads (compacted). */
  tenants: string;
  /** Host capacities (placement advice) keyed by host id: a global table, read by the leader (compacted). */
  hosts: string;
  /** Every VM's address claims keyed by VM id: the global table that attributes address-only flows (compacted). */
  addresses: string;
  /** Every flow routed, once, in route order: the leader's security-groups connection log (1 partition). */
  connections: string;
  /** Each input partition's flows held for late VM attributes, keyed by input partition (compacted). */
  held: string;
  /**
   * Each flows partition's router watermark and whether it is behind, keyed by input partition, written in its
   * route transactions: every member paces its routers against the others' (compacted; route-watermarks.ts).
   */
  routeWatermarks: string;
  /** Each window partition's features at each tick, keyed by partition (compacted). */
  features: string;
  /** One partition: its owner is the leader; members post recluster requests to it. */
  leader: string;
  /** The latest run with the run numbering, ids and history (compacted). */
  runs: string;
}

export function topologyTopics(appId: string): TopologyTopics {
  return {
    byVm: `${appId}-by-vm`,
    changelog: `${appId}-window-changelog`,
    tenants: `${appId}-tenants`,
    addresses: `${appId}-addresses`,
    hosts: `${appId}-hosts`,
    held: `${appId}-route-held`,
    routeWatermarks: `${appId}-route-watermarks`,
    connections: `${appId}-connections`,
    features: `${appId}-features`,
    leader: `${appId}-leader`,
    runs: `${appId}-runs`,
  };
}

/** Consumer groups (and transactional id prefixes) of the three consuming stages. */
export function topologyGroups(appId: string): { route: string; window: string; leader: string } {
  return { route: `${appId}-route`, window: `${appId}-window`, leader: `${appId}-leader` };
}

/** The shortest session timeout a member takes (the broker must allow it: group.min.session.timeout.ms). */
export const MIN_SESSION_TIMEOUT_MS = 1000;

const Env = z.object({
  SCALE_OUT_APP_ID: z
    .string()
    .trim()
    .min(1)
    .max(180)
    .refine((id) => isValidTopicName(`${id}-window-changelog`), 'letters, digits, ".", "_" and "-" only'),
  SCALE_OUT_PARTITIONS: z.coerce.number().int().min(1).max(10_000).default(12),
  SCALE_OUT_REPLICATION_FACTOR: z.coerce.number().int().min(1).max(16).default(1),
  // The floor is the client's, not the broker's: a broker accepts sessions from its
  // group.min.session.timeout.ms (6000 by default) up; a test broker set lower lets a test fail over in seconds.
  SCALE_OUT_SESSION_TIMEOUT_MS: z.coerce.number().int().min(MIN_SESSION_TIMEOUT_MS).max(300_000).default(30_000),
  SCALE_OUT_ROUTE_WORKER: envBoolean.default(true),
  // Under the transaction timeout (stage-kafka.ts, 15 s) with room to spare: the broker aborts an older one.
  SCALE_OUT_ROUTE_COMMIT_MESSAGES: z.coerce.number().int().min(1).max(10_000_000).optional(),
  SCALE_OUT_ROUTE_COMMIT_MS: z.coerce.number().int().min(1).max(5_000).optional(),
  // Under the readers' 30 s session: kafkajs heartbeats between fetches.
  SCALE_OUT_READER_WAIT_MS: z.coerce.number().int().min(10).max(10_000).optional(),
});

export class TopologyEnvError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid scale-out settings:\n  ${problems.join('\n  ')}`);
    this.name = 'TopologyEnvError';
  }
}

/** The scale-out settings, or null when SCALE_OUT_APP_ID is unset (one process holds every VM, as before). */
export function parseTopologyEnv(env: Readonly<Record<string, string | undefined>>): TopologyConfig | null {
  if (!env.SCALE_OUT_APP_ID?.trim()) return null;
  const input: Record<string, string> = {};
  for (const key of Object.keys(Env.shape)) {
    const v = env[key];
    if (v !== undefined && v.trim() !== '') input[key] = v;
  }
  const parsed = Env.safeParse(input);
  if (!parsed.success) throw new TopologyEnvError(parsed.error.issues.map((i) => `${String(i.path[0] ?? '?')}: ${i.message}`));
  const e = parsed.data;
  return {
    appId: e.SCALE_OUT_APP_ID,
    partitions: e.SCALE_OUT_PARTITIONS,
    replicationFactor: e.SCALE_OUT_REPLICATION_FACTOR,
    sessionTimeoutMs: e.SCALE_OUT_SESSION_TIMEOUT_MS,
    routeWorker: e.SCALE_OUT_ROUTE_WORKER,
    ...(e.SCALE_OUT_ROUTE_COMMIT_MESSAGES === undefined ? {} : { routeCommitMessages: e.SCALE_OUT_ROUTE_COMMIT_MESSAGES }),
    ...(e.SCALE_OUT_ROUTE_COMMIT_MS === undefined ? {} : { routeCommitMs: e.SCALE_OUT_ROUTE_COMMIT_MS }),
    ...(e.SCALE_OUT_READER_WAIT_MS === undefined ? {} : { readerWaitMs: e.SCALE_OUT_READER_WAIT_MS }),
  };
}
