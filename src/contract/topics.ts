/**
 * The input topics of CONTRACT.md and positions in their logs. Here, below the pipeline, Kafka and the
 * snapshots, because all three speak of them: the pipeline routes messages by topic, Kafka options name
 * the topics to read, and a snapshot records the topics and offsets its state covers.
 */

export interface TopicNames {
  flows: string;
  vmAttributes: string;
  tenantAttributes: string;
}

/** The trace topic of host capacities (placement advice, docs/placement.md): a CONTRACT.md extension. */
export const DEFAULT_HOST_ATTRIBUTES_TOPIC = 'host-attributes';

export const defaultTopics: TopicNames = {
  flows: 'overlay-flows',
  vmAttributes: 'vm-attributes',
  tenantAttributes: 'tenant-attributes',
};

/** The next offset to read on one partition (a Kafka commit's meaning). */
export interface PartitionOffset {
  topic: string;
  partition: number;
  /** Decimal string: Kafka offsets are 64-bit. */
  next: string;
}

export interface PartitionExtent {
  topic: string;
  partition: number;
  /** First offset still in the log (the partition's start). */
  low: string;
  /** Next offset to be written (the partition's end, the high watermark). */
  high: string;
}

/** Which Kafka log a snapshot's offsets point into (src/kafka/log-identity.ts says how it is checked). */
export interface KafkaLogIdentity {
  clusterId: string;
  partitions: PartitionExtent[];
}
