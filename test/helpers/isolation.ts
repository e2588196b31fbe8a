/**
 * Which test files run isolated (a fresh worker process each, vitest's default) and which share workers
 * without re-importing their modules (`isolate: false`, vitest.config.ts). On a fresh clone with one worker,
 * importing and collecting each file in a worker of its own was about 30% of a full run's wall time
 * (docs/testing.md); a pure file's modules (clustering, windows, zod schemas) are the same in every file, so
 * sharing them is safe. A file stays isolated when it could leak into the next one in the same process: it
 * changes process-wide state (environment, mocks, clocks, the working directory), or it starts brokers,
 * child processes or a browser whose handles and timing-bound waits must not outlive it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** What makes a file isolated, matched on its source (and every end-to-end file). */
export const ISOLATING_MARKERS: RegExp =
  /sharedTestKafka|startTestKafka|startKafkaBroker|node:child_process|\bspawn\(|\bexecFile\b|\bfork\(|chromium|service-process|helpers\/(build|schemathesis|exporters|members|scale-out|apt)\.ts|vi\.(mock|stubEnv|stubGlobal|useFakeTimers)|process\.env\.\w+\s*=[^=]|delete process\.env|process\.chdir/i;

/** The test files under `root/test` (paths relative to root, `/`-separated), split by ISOLATING_MARKERS. */
export function splitTestFiles(root: string): { isolated: string[]; shared: string[] } {
  const files = readdirSync(join(root, 'test'), { recursive: true, encoding: 'utf8' })
    .filter((path) => path.endsWith('.test.ts'))
    .map((path) => `test/${path.split('\\').join('/')}`)
    .sort();
  const isolated = files.filter((path) => path.startsWith('test/e2e/') || ISOLATING_MARKERS.test(readFileSync(join(root, path), 'utf8')));
  const shared = files.filter((path) => !isolated.includes(path));
  return { isolated, shared };
}
