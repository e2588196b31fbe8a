/** Output paths checked before the work that ends in writing them: a long run must not fail on its last step. */
import { accessSync, constants, type Stats, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** Why `path` cannot be written as a file, or null when it can (created or replaced). */
export function unwritable(path: string): string | null {
  const absolute = resolve(path);
  const existing = statOf(absolute);
  if (existing?.isDirectory()) return `${path} is a folder`;
  const folder = dirname(absolute);
  const parent = statOf(folder);
  if (parent === null) return `no folder ${folder}`;
  if (!parent.isDirectory()) return `${folder} is not a folder`;
  try {
    accessSync(existing ? absolute : folder, constants.W_OK);
  } catch {
    return existing ? `cannot write ${path}` : `cannot write in ${folder}`;
  }
  return null;
}

function statOf(path: string): Stats | null {
  try {
    return statSync(path, { throwIfNoEntry: false }) ?? null;
  } catch {
    // A path through a file ("x.json/y"): nothing there either.
    return null;
  }
}
