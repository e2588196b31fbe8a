/**
 * Local copies of a member's checkpoints (docs/scale-out.md): a cache of what the changelog holds, for a
 * fast restart, never the only copy. After each checkpoint it commits, a member keeps the checkpoint in
 * STATE_DIR with where it lies in the changelog; on a restart, or when the partition comes back to it, the
 * member restores the local copy only when Kafka still holds exactly that checkpoint as the partition's
 * newest: the changelog has nothing after it (its high watermark is the record's offset + 2, the record and
 * its transaction's commit marker) and the window group's committed offset is the checkpoint's (both were
 * written in one transaction). Anything else (a newer checkpoint by another member, a recreated topic, a
 * file that does not decode) falls back to the changelog, and what the changelog cannot give is rebuilt
 * from the input; the member counts and logs which.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeSnapshotFile, encodeSnapshotFile } from '../snapshots/snapshot-file.ts';

/** What a local copy holds: the checkpoint and where it lies in Kafka. */
export interface LocalCheckpoint {
  /** The application the copy belongs to: a STATE_DIR reused under another id never restores it. */
  appId: string;
  partition: number;
  /** The by-VM offset of the first record the checkpoint does not include (the window group's commit). */
  offset: string;
  /** The checkpoint record's offset in its changelog partition. */
  changelogOffset: string;
  fleet: Uint8Array;
  /** The partition's newest published tick (PartitionState.publishedTick); absent in copies of earlier versions. */
  publishedTick?: number | null;
}

/** What Kafka holds for a partition, to judge a local copy by. */
export interface KafkaExtent {
  /** The changelog partition's log start offset and high watermark. */
  changelogLow: bigint;
  changelogHigh: bigint;
  /** The window group's committed offset of the by-VM partition, or null when none. */
  committed: bigint | null;
  /** The by-VM partition's log start offset and high watermark. */
  byVmLow: bigint;
  byVmHigh: bigint;
}

/** Why a local copy is not used, or null when it is the newest checkpoint Kafka holds. */
export function staleReason(c: LocalCheckpoint, k: KafkaExtent): string | null {
  const at = BigInt(c.changelogOffset);
  const offset = BigInt(c.offset);
  if (at < k.changelogLow || at >= k.changelogHigh) return `its changelog record (offset ${at}) is not in the changelog (${k.changelogLow}..${k.changelogHigh})`;
  if (k.changelogHigh > at + 2n) return `the changelog has records after it (high watermark ${k.changelogHigh}, the copy's record at ${at})`;
  if (k.committed !== offset) return `the window group's committed offset is ${k.committed ?? 'none'}, the copy's ${offset}`;
  if (offset < k.byVmLow || offset > k.byVmHigh) return `its by-VM offset ${offset} is outside the topic (${k.byVmLow}..${k.byVmHigh})`;
  return null;
}

export class LocalCheckpointCache {
  /** Saves in flight per partition: one at a time, the newest last. */
  private readonly saving = new Map<number, Promise<void>>();

  constructor(
    readonly dir: string,
    private readonly appId: string,
  ) {}

  private file(partition: number): string {
    return join(this.dir, `partition-${partition}.checkpoint`);
  }

  /** Keeps a committed checkpoint; written to a temporary file and renamed, so a crash leaves the old copy or the new. */
  save(c: Omit<LocalCheckpoint, 'appId'>): Promise<void> {
    const previous = this.saving.get(c.partition) ?? Promise.resolve();
    const next = previous.then(async () => {
      await mkdir(this.dir, { recursive: true });
      const tmp = `${this.file(c.partition)}.tmp`;
      await writeFile(tmp, encodeSnapshotFile({ ...c, appId: this.appId } satisfies LocalCheckpoint));
      await rename(tmp, this.file(c.partition));
    });
    const settled = next.catch(() => undefined);
    this.saving.set(c.partition, settled);
    return next;
  }

  /** The local copy of a partition's checkpoint, or null (none, unreadable, or another application's). */
  async load(partition: number): Promise<LocalCheckpoint | null> {
    await this.saving.get(partition);
    let bytes: Buffer;
    try {
      bytes = await readFile(this.file(partition));
    } catch {
      return null;
    }
    try {
      const c = decodeSnapshotFile(bytes) as LocalCheckpoint;
      if (c.appId !== this.appId || c.partition !== partition || typeof c.offset !== 'string' || typeof c.changelogOffset !== 'string' || !(c.fleet instanceof Uint8Array)) return null;
      return c;
    } catch {
      return null;
    }
  }

  /** Drops a copy that can never be used again (it did not decode). */
  async drop(partition: number): Promise<void> {
    await rm(this.file(partition), { force: true });
  }
}
