/**
 * The production build (`npm run build` → dist/) for the tests that run the compiled service. Built once and
 * reused while it is newer than every source it comes from; test files running in parallel wait for one
 * another's build instead of deleting dist/ under each other.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withFileLock } from './lock.ts';

export const DIST_ENTRY = 'dist/main.js';
const STAMP = 'dist/.built';
const INPUTS = ['src', 'scripts/build.ts', 'tsconfig.json', 'tsconfig.build.json', 'package.json'];

function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

const upToDate = (): boolean => existsSync(STAMP) && statSync(STAMP).mtimeMs >= Math.max(...INPUTS.map(newestMtime));

/** Runs `npm run build` unless dist/ is already built from the current sources. */
export async function ensureBuilt(): Promise<void> {
  await withFileLock('.cache/build.lock', () => {
    if (upToDate()) return;
    execFileSync('npm', ['run', '--silent', 'build'], { stdio: ['ignore', 'pipe', 'pipe'] });
    writeFileSync(STAMP, `${new Date().toISOString()}\n`);
  });
}
