/**
 * What the member's stages share about their Kafka consumers and transactions: group timing, the
 * transaction timeout, the router state committed with a route offset, and the errors a batch gives kafkajs.
 * Kept apart from member.ts so that the route worker (route-worker.ts) loads none of the member's other stages.
 */
import { z } from 'zod';
import type { TopologyConfig } from './config.ts';

/**
 * A member killed inside a transaction holds back every read_committed reader of its topics until its
 * successor fences it or this passes: short, since a transaction here is one tick, or the batches of at most
 * SCALE_OUT_ROUTE_COMMIT_MS (5 s at most).
 */
export const TRANSACTION_TIMEOUT_MS = 15_000;

/**
 * A stage consumer's timing, from the session timeout. kafkajs heartbeats between fetches only, and a fetch
 * of an idle partition waits up to maxWaitTimeInMs for data: above a third of a short session (a test's few
 * seconds) a member would miss it while alive, and the group would move its partitions for nothing.
 * A survivor learns of a rebalance (a member's session expired) only from its next heartbeat, and the group
 * waits for every survivor to rejoin: with a heartbeat every 3 s behind fetches of up to 2.5 s, that added
 * 1 to 3 s to every failover after the session timeout (docs/scale-out.md, "Failover time"). At most 1 s
 * each: a heartbeat and an empty fetch a second per stage are nothing to the broker, and a fetch with data
 * returns at once whatever its wait.
 */
const REJOIN_WITHIN_MS = 1000;

export function groupTiming(t: TopologyConfig): { sessionTimeout: number; heartbeatInterval: number; maxWaitTimeInMs: number } {
  return {
    sessionTimeout: t.sessionTimeoutMs,
    heartbeatInterval: Math.min(REJOIN_WITHIN_MS, Math.floor(t.sessionTimeoutMs / 3)),
    maxWaitTimeInMs: Math.min(REJOIN_WITHIN_MS, Math.floor(t.sessionTimeoutMs / 4)),
  };
}

/** A router's state as it rides in the metadata of its input partition's committed offset (router.ts RouterState). */
export const RouterStateShape = z.object({
  watermark: z.number().nullable(),
  sweptAt: z.number().nullable(),
  sweptBucket: z.number().nullable(),
  nextTick: z.number().nullable(),
  records: z.object({ flows: z.number(), vmAttributes: z.number(), tenantAttributes: z.number() }),
  rejected: z.object({ count: z.number(), by_reason: z.record(z.string(), z.number()) }),
});

/**
 * The error a stage's batch gives kafkajs once it has put its state right (the batch is read again, or by
 * the partition's new owner): always retried. kafkajs retries a plain error and restarts the consumer when
 * the retries run out; a fenced producer's error is marked not retriable, and on it the member's stage
 * stopped for good while the process lived on. No `cause`: kafkajs judges a crash by the innermost cause.
 * (A plain Error: kafkajs' error classes are not among its ES module exports.)
 */
export function retriable(err: unknown): Error {
  return new Error(err instanceof Error ? err.message : String(err));
}

/**
 * Awaits `work` (a restore, a fence) inside a batch, heartbeating meanwhile: kafkajs heartbeats between
 * batches only, and under load a restore takes longer than a session of a few seconds; the group would
 * take the member for dead and move its partitions again. A heartbeat refused (a rebalance) is left to
 * kafkajs, which learns of it at its own next heartbeat.
 */
export async function beating<T>(heartbeat: () => Promise<void>, work: Promise<T>, everyMs: number): Promise<T> {
  const timer = setInterval(() => void heartbeat().catch(() => undefined), everyMs);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}
