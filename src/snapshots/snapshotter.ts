/**
 * Takes snapshots of the running service on a wall-clock interval and at shutdown: capture (synchronous,
 * between batches), make sure the rejects of the included records are in the dead-letter topic, write
 * durably, then commit the snapshot's offsets for the group. A failure at any step leaves the previous
 * snapshot and its committed offsets in force: the resume point only ever moves to a snapshot on disk.
 * The dead letters go first because a snapshot on disk is a resume point even when its commit fails: a
 * restart skips the records it includes, and so would never dead-letter them again.
 */
import type { PartitionOffset } from '../contract/topics.ts';
import type { ServiceSnapshot } from './service-snapshot.ts';
import { encodeSnapshot } from './service-snapshot.ts';
import type { SnapshotStore } from './snapshot-store.ts';

export interface SnapshotterOptions {
  store: SnapshotStore;
  /** State and offsets of one moment (the caller holds the input still until it resolves). */
  capture: () => ServiceSnapshot | Promise<ServiceSnapshot>;
  /** Before the write (and so the commit): the dead-letter producer's flush. A failure is step 'dead_letters'. */
  beforeCommit?: () => Promise<void>;
  /** Commits the snapshot's offsets for the group; none when there is no Kafka input. */
  commit?: (offsets: readonly PartitionOffset[]) => Promise<void>;
  intervalMs: number;
  onSaved?: (outcome: SnapshotSaved) => void;
  onFailed?: (err: Error, step: SnapshotStep) => void;
  now?: () => number;
}

export type SnapshotStep = 'capture' | 'dead_letters' | 'write' | 'commit';

export interface SnapshotSaved {
  path: string;
  bytes: number;
  /** Time from the start of the capture to the encoded bytes (input is paused that long). */
  captureMs: number;
  writeMs: number;
  committed: boolean;
  offsets: PartitionOffset[];
}

export class Snapshotter {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<SnapshotSaved | null> | null = null;
  private readonly now: () => number;
  lastSaved: { at: number; outcome: SnapshotSaved } | null = null;
  failures = 0;

  constructor(private readonly options: SnapshotterOptions) {
    this.now = options.now ?? Date.now;
  }

  start(): void {
    this.stop();
    if (this.options.intervalMs > 0) {
      this.timer = setInterval(() => void this.takeNow(), this.options.intervalMs);
      this.timer.unref();
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One snapshot now, or the one already in progress. Never rejects: failures go to onFailed. */
  takeNow(): Promise<SnapshotSaved | null> {
    this.running ??= this.take().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async take(): Promise<SnapshotSaved | null> {
    const o = this.options;
    let step: SnapshotStep = 'capture';
    try {
      const t0 = performance.now();
      const snapshot = await o.capture();
      const bytes = encodeSnapshot(snapshot);
      const captureMs = performance.now() - t0;
      if (o.commit && o.beforeCommit) {
        step = 'dead_letters';
        await o.beforeCommit();
      }
      step = 'write';
      const t1 = performance.now();
      const path = await o.store.save(bytes);
      const writeMs = performance.now() - t1;
      step = 'commit';
      let committed = false;
      if (o.commit) {
        await o.commit(snapshot.offsets);
        committed = true;
      }
      const outcome: SnapshotSaved = { path, bytes: bytes.length, captureMs, writeMs, committed, offsets: snapshot.offsets };
      this.lastSaved = { at: this.now(), outcome };
      o.onSaved?.(outcome);
      return outcome;
    } catch (err) {
      this.failures++;
      o.onFailed?.(err instanceof Error ? err : new Error(String(err)), step);
      return null;
    }
  }
}
