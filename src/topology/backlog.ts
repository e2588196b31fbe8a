/**
 * Whether the application is still reading a backlog: input the routers have not committed yet, or by-VM
 * records the leader's own window partitions have not applied. The leader asks only when a complete tick
 * comes less than RUN_CATCH_UP_MS after its last run started (run-choice.ts), which in real time, with ticks
 * minutes apart, never happens: live, this costs nothing.
 */
import type { Admin } from 'kafkajs';

/** A partition's end (the next offset to be written) and how far a reader has come in it. */
export interface PartitionProgress {
  end: bigint;
  /** The reader's next offset; null when it has none (a group with no commit for the partition yet: its start). */
  at: bigint | null;
  start: bigint;
}

/**
 * Offsets left to read beyond which a partition is behind. A committed offset stops before the commit marker
 * of the transaction it was read from (a transactional producer's input, every by-VM transaction), which
 * takes one offset: so a lag of one is no backlog. An unread transaction takes two at least (a record and its
 * marker); one record unread of a plain producer's input is not taken for a backlog.
 */
export const MARKER_SLACK = 1n;

/** Pure: whether any partition has more than MARKER_SLACK offsets left to read. */
export function isBehind(partitions: Iterable<PartitionProgress>): boolean {
  for (const p of partitions) if (p.end - (p.at ?? p.start) > MARKER_SLACK) return true;
  return false;
}

/** The route group's progress over the input topics: committed offsets against the topics' ends. */
export async function routeProgress(admin: Admin, groupId: string, topics: readonly string[]): Promise<PartitionProgress[]> {
  const [committed, ends] = await Promise.all([admin.fetchOffsets({ groupId, topics: [...topics] }), Promise.all(topics.map((t) => admin.fetchTopicOffsets(t)))]);
  const out: PartitionProgress[] = [];
  for (let i = 0; i < topics.length; i++) {
    const group = committed.find((c) => c.topic === topics[i]);
    for (const e of ends[i]!) {
      const c = group?.partitions.find((p) => p.partition === e.partition);
      const at = c === undefined || BigInt(c.offset) < 0n ? null : BigInt(c.offset);
      out.push({ end: BigInt(e.high), at, start: BigInt(e.low) });
    }
  }
  return out;
}

/** Some partitions of a topic (this member's window partitions) against the topic's ends, `at` from the reader itself (null: nothing read yet). */
export async function ownProgress(admin: Admin, topic: string, at: ReadonlyMap<number, bigint | null>): Promise<PartitionProgress[]> {
  const ends = await admin.fetchTopicOffsets(topic);
  return ends.filter((e) => at.has(e.partition)).map((e) => ({ end: BigInt(e.high), at: at.get(e.partition) ?? null, start: BigInt(e.low) }));
}
