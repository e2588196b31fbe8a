/**
 * The production build (`npm run build` → dist/), which the tests that spawn the service or the CLI run: the
 * TypeScript transform of tsx cost 2.1 to 2.4 s of CPU at every start, and a full run starts dozens
 * (docs/testing.md). Built once per run and reused while it is newer than every source it comes from; test
 * files running in parallel wait for one another's build instead of deleting dist/ under each other.
 * test/e2e/dev-sources.test.ts keeps the development path (tsx over src/) started and answering.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withFileLock } from './lock.ts';

/** The repository's root, so that a test whose working directory is elsewhere still finds the build. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DIST_ENTRY = 'dist/main.js';
const STAMP = join(ROOT, 'dist/.built');
const INPUTS = ['src', 'scripts/build.ts', 'tsconfig.json', 'tsconfig.build.json', 'package.json'].map((p) => join(ROOT, p));

function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  // A folder's own time covers a source deleted or renamed in it.
  let newest = st.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/** Whether the build stamped `stamp` is at least as new as every file and folder under `inputs`. */
export const builtFrom = (stamp: string, inputs: readonly string[]): boolean => existsSync(stamp) && statSync(stamp).mtimeMs >= Math.max(...inputs.map(newestMtime));

const upToDate = (): boolean => builtFrom(STAMP, INPUTS);

/** Runs `npm run build` unless dist/ is already built from the current sources. */
export async function ensureBuilt(): Promise<void> {
  // Most calls find it built: no lock to wait for then.
  if (upToDate()) return;
  await withFileLock(join(ROOT, '.cache/build.lock'), () => {
    if (upToDate()) return;
    process.stderr.write('building dist/ (npm run build) for the tests that run the compiled service\n');
    const started = new Date();
    try {
      execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      // tsc reports its errors on stdout, which execFileSync's own message leaves out.
      const { stdout, stderr } = err as { stdout?: Buffer; stderr?: Buffer };
      throw new Error(`npm run build failed, so the tests that run dist/ cannot:\n${stdout?.toString() ?? ''}${stderr?.toString() ?? ''}`);
    }
    writeFileSync(STAMP, `${started.toISOString()}\n`);
    // Stamped with the build's start: a source saved while tsc ran is newer, so the next call builds again.
    utimesSync(STAMP, started, started);
  });
}

/**
 * The compiled module of a source entry point (`src/cli/replay.ts` → absolute `dist/cli/replay.js`), built
 * first when dist/ is missing or older than the sources.
 */
export async function compiled(source: `src/${string}.ts`): Promise<string> {
  await ensureBuilt();
  return join(ROOT, 'dist', `${source.slice('src/'.length, -'.ts'.length)}.js`);
}

/** A test file whose source says it runs the build: through these helpers, or a scale-out application's members. */
export const NEEDS_BUILD: RegExp = /\bcompiled\(|\bensureBuilt\(|\bserviceArgs\(|\bstartServiceProcess\(|helpers\/scale-out\.ts/;

/**
 * Builds before the run when one of its files needs the build (the sequencer calls this before any file
 * starts): the build takes 10 s on an idle machine and over a minute under load, which inside a test would
 * count against that test's timeout and its timing bounds. A run of pure files builds nothing.
 */
export async function buildFor(files: readonly string[]): Promise<void> {
  if (files.some((file) => NEEDS_BUILD.test(readFileSync(file, 'utf8')))) await ensureBuilt();
}
