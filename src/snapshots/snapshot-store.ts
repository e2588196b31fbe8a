/**
 * Snapshot files in a directory: `snapshot-<sequence>.bin`, written atomically and durably (temporary
 * file, fsync, rename, fsync of the directory), so that after a crash or power loss the newest name holds
 * either the complete new snapshot or nothing, never half of one. The latest few are kept: when the newest
 * cannot be read, an older one still gives an exact resume point (its Kafka offsets are older too).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { removeLeftoverTempFiles, writeFileAtomically } from '../storage/atomic-file.ts';
import { numberedFiles, numberedName, removeBeyond } from '../storage/numbered-files.ts';

const SNAPSHOT_FILE = /^snapshot-(\d{1,15})\.bin$/;
const DEFAULT_SNAPSHOTS_KEPT = 3;

export interface StoredSnapshot {
  path: string;
  sequence: number;
  bytes: Buffer;
}

export interface SnapshotFileProblem {
  path: string;
  error: string;
}

export class SnapshotStore {
  private sequence: number | null = null;
  private cleaned = false;

  constructor(
    readonly dir: string,
    readonly keep: number = DEFAULT_SNAPSHOTS_KEPT,
  ) {}

  /** Writes the bytes as the newest snapshot, durably, and returns its path; older ones beyond `keep` go. */
  async save(bytes: Uint8Array): Promise<string> {
    // A process killed mid-write left its temporary file (as large as a snapshot): the first save clears them.
    if (!this.cleaned) {
      await removeLeftoverTempFiles(this.dir, 'snapshot-');
      this.cleaned = true;
    }
    const files = await numberedFiles(this.dir, SNAPSHOT_FILE);
    this.sequence = Math.max(this.sequence ?? 0, files[0]?.sequence ?? 0) + 1;
    const name = numberedName('snapshot', this.sequence, '.bin');
    const path = join(this.dir, name);
    await writeFileAtomically(path, bytes, { durable: true });
    await removeBeyond(this.dir, [{ name, sequence: this.sequence }, ...files], this.keep);
    return path;
  }

  /**
   * Snapshots newest first, lazily: the caller decodes each and stops at the first good one. Files that
   * cannot even be read are reported through `problems`.
   */
  async *newestFirst(problems: SnapshotFileProblem[] = []): AsyncGenerator<StoredSnapshot> {
    for (const f of await numberedFiles(this.dir, SNAPSHOT_FILE)) {
      const path = join(this.dir, f.name);
      let bytes: Buffer;
      try {
        bytes = await readFile(path);
      } catch (err) {
        problems.push({ path, error: `cannot read it (${(err as Error).message})` });
        continue;
      }
      yield { path, sequence: f.sequence, bytes };
    }
  }
}
