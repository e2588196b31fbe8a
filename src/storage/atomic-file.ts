/**
 * Writes a file so that its name never holds half a document: the data goes to a temporary file in the
 * same folder (same file system, so the rename is atomic) and is renamed over the final name. `durable`
 * also fsyncs the file before the rename and the folder after it, so that the new name survives a power
 * loss too (snapshots, whose Kafka offsets are committed right after).
 */
import { mkdir, open, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export async function writeFileAtomically(path: string, data: string | Uint8Array, options: { durable?: boolean } = {}): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const temp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  if (!options.durable) {
    await writeFile(temp, data);
    await rename(temp, path);
    return;
  }
  const fh = await open(temp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(temp, path);
  await syncDir(dir);
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
