/**
 * Which Kafka log a snapshot's offsets point into, and whether they still do. An offset means something
 * only in the partition it was read from: after a topic is deleted and recreated, a partition truncated by
 * an unclean leader election, or a move to another cluster, the same numbers name other records (or none),
 * and resuming from them would skip new records as "already applied".
 *
 * Kafka identifies a topic incarnation by its topic id, but kafkajs 2.2.4 speaks Metadata v6, which has no
 * topic ids (they came with v10), so a snapshot keeps what kafkajs does expose: the cluster id
 * (describeCluster) and each partition's start and end offsets (fetchTopicOffsets) when it was taken. On
 * restart they are compared with the log as it is now. What this cannot see: a topic recreated, on the same
 * cluster, from a start of 0, and refilled past the snapshot's offset before the restart (a topic id would);
 * the consumer then also checks, batch by batch, that the log's end is not behind what it applied.
 */
import { type Admin, Kafka } from 'kafkajs';
import type { KafkaLogIdentity, PartitionExtent, PartitionOffset } from '../contract/topics.ts';
import type { KafkaSettings } from '../config/kafka-settings.ts';
import { defaultRetry, describeKafkaError, silentLogger, toKafkaConfig } from './options.ts';

export async function describeKafkaLog(admin: Admin, topics: readonly string[]): Promise<KafkaLogIdentity> {
  const { clusterId } = await admin.describeCluster();
  const partitions: PartitionExtent[] = [];
  for (const topic of new Set(topics)) {
    for (const p of await admin.fetchTopicOffsets(topic)) partitions.push({ topic, partition: p.partition, low: p.low, high: p.high });
  }
  partitions.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
  return { clusterId, partitions };
}

export type ResumeMismatchReason = 'cluster_changed' | 'partition_missing' | 'below_start' | 'beyond_end' | 'start_moved_back';

export interface ResumeMismatch {
  reason: ResumeMismatchReason;
  /** One clause for the log line, e.g. `flows/0: snapshot offset 500, log now 0..120`. */
  detail: string;
}

/**
 * Every way the snapshot's offsets no longer fit the log. Empty: resuming from them is safe. `saved` is
 * null for a snapshot of the first format, which kept no identity: only its offsets are checked.
 */
export function checkResumePoint(offsets: readonly PartitionOffset[], saved: KafkaLogIdentity | null, now: KafkaLogIdentity): ResumeMismatch[] {
  const out: ResumeMismatch[] = [];
  if (saved !== null && saved.clusterId !== now.clusterId) {
    out.push({ reason: 'cluster_changed', detail: `cluster id ${saved.clusterId} in the snapshot, ${now.clusterId} now` });
  }
  const key = (topic: string, partition: number): string => `${topic}\0${partition}`;
  const current = new Map(now.partitions.map((p) => [key(p.topic, p.partition), p]));
  const before = new Map((saved?.partitions ?? []).map((p) => [key(p.topic, p.partition), p]));
  for (const o of offsets) {
    const name = `${o.topic}/${o.partition}`;
    const p = current.get(key(o.topic, o.partition));
    if (p === undefined) {
      out.push({ reason: 'partition_missing', detail: `${name}: in the snapshot, not in the cluster` });
      continue;
    }
    const next = BigInt(o.next);
    const range = `snapshot offset ${o.next}, log now ${p.low}..${p.high}`;
    if (next < BigInt(p.low)) out.push({ reason: 'below_start', detail: `${name}: ${range}` });
    else if (next > BigInt(p.high)) out.push({ reason: 'beyond_end', detail: `${name}: ${range}` });
    const was = before.get(key(o.topic, o.partition));
    if (was !== undefined && BigInt(p.low) < BigInt(was.low)) {
      out.push({ reason: 'start_moved_back', detail: `${name}: log started at ${was.low} when the snapshot was taken, at ${p.low} now` });
    }
  }
  return out;
}

/** The start of every partition: where a rebuild from the input reads from. */
export function startOffsets(identity: KafkaLogIdentity): PartitionOffset[] {
  return identity.partitions.map((p) => ({ topic: p.topic, partition: p.partition, next: p.low }));
}

export type ResumeCheck =
  | { status: 'ok'; identity: KafkaLogIdentity }
  /** The cluster could not be asked (down, no permission): resumed from the offsets, the consumer's own check remains. */
  | { status: 'unverified'; error: string }
  | { status: 'mismatch'; problems: ResumeMismatch[]; identity: KafkaLogIdentity };

/** Asks the cluster (a few quick retries, about 10 s at most) and compares; never throws. */
export async function verifyResumePoint(
  settings: KafkaSettings,
  snapshot: { offsets: readonly PartitionOffset[]; kafka: KafkaLogIdentity | null },
): Promise<ResumeCheck> {
  const topics = [settings.topics.flows, settings.topics.vmAttributes, settings.topics.tenantAttributes];
  const admin = new Kafka(toKafkaConfig(settings, { logger: silentLogger, retry: { ...defaultRetry, retries: 3, maxRetryTime: 2000 } })).admin();
  try {
    await admin.connect();
    const identity = await describeKafkaLog(admin, topics);
    const problems = checkResumePoint(snapshot.offsets, snapshot.kafka, identity);
    return problems.length === 0 ? { status: 'ok', identity } : { status: 'mismatch', problems, identity };
  } catch (err) {
    return { status: 'unverified', error: describeKafkaError(err, settings).message };
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
