/**
 * Snapshot files in a directory: `snapshot-<sequence>.bin`, written atomically (temporary file, fsync,
 * rename, fsync of the directory), so that after a crash or power loss the newest name holds either the
 * complete new snapshot or nothing, never half of one. The latest few are kept: when the newest cannot be
 * read, an older one still gives an exact resume point (its Kafka offsets are older too).
 */
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

const SNAPSHOT_FILE = /^snapshot-(\d{1,15})\.bin$/;
export const DEFAULT_SNAPSHOTS_KEPT = 3;

export interface StoredSnapshot {
  path: string;
  sequence: number;
  bytes: Buffer;
}

export interface SnapshotFileProblem {
  path: string;
  error: string;
}

async function snapshotFiles(dir: string): Promise<Array<{ name: string; sequence: number }>> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names
    .flatMap((name) => {
      const m = SNAPSHOT_FILE.exec(name);
      return m ? [{ name, sequence: Number(m[1]) }] : [];
    })
    .sort((a, b) => b.sequence - a.sequence);
}

export class SnapshotStore {
  private sequence: number | null = null;

  constructor(
    readonly dir: string,
    readonly keep: number = DEFAULT_SNAPSHOTS_KEPT,
  ) {}

  /** Writes the bytes as the newest snapshot, durably, and returns its path; older ones beyond `keep` go. */
  async save(bytes: Uint8Array): Promise<string> {
    await mkdir(this.dir, { recursive: true });
    const files = await snapshotFiles(this.dir);
    this.sequence = Math.max(this.sequence ?? 0, files[0]?.sequence ?? 0) + 1;
    const name = `snapshot-${String(this.sequence).padStart(8, '0')}.bin`;
    const path = join(this.dir, name);
    const temp = join(this.dir, `.${name}.${process.pid}.tmp`);
    const fh = await open(temp, 'w');
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(temp, path);
    await syncDir(this.dir);
    const stale = [{ name, sequence: this.sequence }, ...files].slice(this.keep);
    await Promise.all(stale.map((f) => rm(join(this.dir, f.name), { force: true })));
    return path;
  }

  /**
   * Snapshots newest first, lazily: the caller decodes each and stops at the first good one. Files that
   * cannot even be read are reported through `problems`.
   */
  async *newestFirst(problems: SnapshotFileProblem[] = []): AsyncGenerator<StoredSnapshot> {
    for (const f of await snapshotFiles(this.dir)) {
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

/** The rename is durable only once the directory entry is; some file systems refuse a directory fsync. */
async function syncDir(dir: string): Promise<void> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // best effort: not supported here
  } finally {
    await fh?.close();
  }
}
