/**
 * Writes a file so that its name never holds half a document: the data goes to a temporary file in the
 * same folder (same file system, so the rename is atomic) and is renamed over the final name. `durable`
 * also fsyncs the file before the rename and the folder after it, so that the new name survives a power
 * loss too (snapshots, whose Kafka offsets are committed right after; models and the run history, which
 * a restart loads). A write that fails removes its temporary file: a full disk is not made fuller by
 * every retry.
 */
import { mkdir, open, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export async function writeFileAtomically(path: string, data: string | Uint8Array, options: { durable?: boolean } = {}): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const temp = tempNameOf(path, process.pid);
  try {
    if (options.durable) await writeSynced(temp, data);
    else await writeFile(temp, data);
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw err;
  }
  if (options.durable) await syncDir(dir);
}

/** The temporary name writeFileAtomically uses for `path` in process `pid`. */
export function tempNameOf(path: string, pid: number): string {
  return join(dirname(path), `.${basename(path)}.${pid}.tmp`);
}

/**
 * Removes the temporary files an earlier process left in `dir` when it died mid-write (names made by
 * tempNameOf for files whose name starts with `prefix`). Only for a folder this process owns alone (the
 * STATE_DIR lock): another live writer's temporary file would go too. Returns how many were removed.
 */
export async function removeLeftoverTempFiles(dir: string, prefix: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  const leftovers = names.filter((n) => n.startsWith(`.${prefix}`) && /\.\d+\.tmp$/.test(n));
  await Promise.all(leftovers.map((n) => rm(join(dir, n), { force: true }).catch(() => undefined)));
  return leftovers.length;
}

async function writeSynced(temp: string, data: string | Uint8Array): Promise<void> {
  const fh = await open(temp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
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
