/**
 * A lock between test files running in parallel processes (vitest's forks): a folder created atomically,
 * removed when done; one left by a killed run is taken over once it is older than `staleMs`.
 */
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

export async function withFileLock<T>(lock: string, task: () => Promise<T> | T, staleMs = 10 * 60_000): Promise<T> {
  mkdirSync(dirname(lock), { recursive: true });
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      const held = statSync(lock, { throwIfNoEntry: false });
      if (held && Date.now() - held.mtimeMs > staleMs) rmSync(lock, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return await task();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
