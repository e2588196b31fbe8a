/**
 * Routers of different members paced against each other (docs/event-time.md, "Routers of several members").
 * Each member paces the flows partitions it routes in a PartitionWatermarks (route-stage.ts); a window
 * partition moves with the newest of all routers' watermarks, so a member's router more than a window ahead
 * of another member's would push the slower one's flow sides out of the rings (refused as too_late). So every
 * flows route transaction also writes its router's watermark, and whether its partition was still behind its
 * log end, to the compacted `<app>-route-watermarks` topic, keyed by input partition (atomic with the offset),
 * and every member reads that topic as a table into its PartitionWatermarks (report()), where the other
 * members' partitions hold as its own do: while behind or unknown, until silent for the idle time (5 s).
 */
import type { Kafka } from 'kafkajs';
import { z } from 'zod';
import type { KafkaLogger } from '../kafka/options.ts';
import type { PartitionWatermarks } from '../pipeline/partition-watermarks.ts';
import { retrying } from './member.ts';
import { TopicReader } from './topic-reader.ts';

/** A flows partition's router as the table holds it: its watermark (null before its first flow), and whether its partition was behind its log end (null: unknown). */
const RouteWatermarkShape = z.object({
  watermark: z.number().nullable(),
  behind: z.boolean().nullable(),
});
export type RouteWatermark = z.infer<typeof RouteWatermarkShape>;

/** The value of a router's record in `<app>-route-watermarks`. */
export function encodeRouteWatermark(latest: number, behind: boolean | null): string {
  const w: RouteWatermark = { watermark: Number.isFinite(latest) ? latest : null, behind };
  return JSON.stringify(w);
}

/** A record's value read back; null when it is unreadable (not JSON, or another shape). */
export function decodeRouteWatermark(value: Buffer): RouteWatermark | null {
  try {
    const r = RouteWatermarkShape.safeParse(JSON.parse(value.toString()));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

/** The keys (`<topic>:<partition>`, the route's) of a topic's partitions other than `mine`. */
export function otherPartitions(topic: string, count: number, mine: Iterable<number>): string[] {
  const own = new Set(mine);
  const out: string[] = [];
  for (let p = 0; p < count; p++) if (!own.has(p)) out.push(`${topic}:${p}`);
  return out;
}

/**
 * The other members' routers, read from `<app>-route-watermarks` into a member's pace: started (and read to
 * the end it has) before the member routes anything, so that a member joining late knows how far the others
 * are; each record counts from when it is read (an old one, of a member gone, holds for the idle time at most).
 */
export class RouteWatermarksTable {
  private reader: TopicReader | null = null;
  /** The flows topic's partition count, asked at start: the partitions a member does not route are the others'. */
  flowsPartitions: number | null = null;

  constructor(
    private readonly o: {
      kafka: Kafka;
      topic: string;
      flowsTopic: string;
      groupPrefix: string;
      pace: PartitionWatermarks;
      log: KafkaLogger;
      readerWaitMs?: number | undefined;
    },
  ) {}

  async start(): Promise<void> {
    const admin = this.o.kafka.admin();
    try {
      await admin.connect();
      this.flowsPartitions = (await retrying(() => admin.fetchTopicOffsets(this.o.flowsTopic))).length;
    } catch (err) {
      // Paced against the partitions reported only: a router no member has reported yet is not waited for.
      this.o.log.warn({ topic: this.o.flowsTopic, err: String(err) }, 'could not read how many partitions the flows topic has: every route transaction publishes its watermark, and only reported partitions are paced against');
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    const reader = new TopicReader(this.o.kafka, this.o.topic, this.o.groupPrefix, (m) => {
      if (m.key === null || m.value === null) return;
      const w = decodeRouteWatermark(m.value);
      if (w === null) this.o.log.error({ key: m.key, offset: m.offset }, `skipping an unreadable record of ${this.o.topic}`);
      else this.o.pace.report(m.key, w.watermark, w.behind, Date.now());
    }, { maxWaitMs: this.o.readerWaitMs });
    this.reader = reader;
    await reader.start();
    await reader.caughtUp;
  }

  /**
   * Whether a member routing the flows partitions `mine` publishes its routers' watermarks: not while it
   * routes them all (one member, nobody to pace; a member joining reads the others as unknown for the idle
   * time, and the first one publishes again from the rebalance on). Unknown partition count: it publishes.
   */
  publishes(mine: readonly number[]): boolean {
    return this.flowsPartitions === null || mine.length < this.flowsPartitions;
  }

  /** The others' flows partitions, for PartitionWatermarks.assign (none while the count is unknown). */
  others(mine: readonly number[]): string[] {
    return this.flowsPartitions === null ? [] : otherPartitions(this.o.flowsTopic, this.flowsPartitions, mine);
  }

  async stop(): Promise<void> {
    await this.reader?.stop();
  }
}
