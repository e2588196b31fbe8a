/**
 * Files named with a sequence number in one folder (`model-00000012.json`, `snapshot-00000003.bin`):
 * listed newest first, the next number after the highest, the oldest beyond a count removed.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

export interface NumberedFile {
  name: string;
  sequence: number;
}

/** Files in `dir` whose name matches `pattern` (its first group is the sequence), newest first; none when `dir` does not exist. */
export async function numberedFiles(dir: string, pattern: RegExp): Promise<NumberedFile[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names
    .flatMap((name) => {
      const m = pattern.exec(name);
      return m ? [{ name, sequence: Number(m[1]) }] : [];
    })
    .sort((a, b) => b.sequence - a.sequence);
}

/** The file name for `sequence`, zero-padded so that names sort like their numbers. */
export function numberedName(prefix: string, sequence: number, extension: string): string {
  return `${prefix}-${String(sequence).padStart(8, '0')}${extension}`;
}

/** Removes all but the newest `keep` of `files` (newest first, as numberedFiles lists them). */
export async function removeBeyond(dir: string, files: readonly NumberedFile[], keep: number): Promise<void> {
  await Promise.all(files.slice(keep).map((f) => rm(join(dir, f.name), { force: true })));
}
