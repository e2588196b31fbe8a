import { availableParallelism, loadavg } from 'node:os';
import { configDefaults, defineConfig } from 'vitest/config';
import { splitTestFiles } from './test/helpers/isolation.ts';
import { LongFilesFirst } from './test/helpers/sequencer.ts';

const exclude = configDefaults.exclude;
const { isolated, shared } = splitTestFiles(import.meta.dirname);

/**
 * Two workers on two cores (vitest's own default, a core less than the machine has, on larger ones), unless
 * other work already keeps the machine's cores busy twice over (the 1-minute load average): then one. The threshold is high because `npm test` has just type-checked and linted, which alone
 * lifts an idle machine's load average to about 1.
 */
function workerCount(): number {
  const cores = availableParallelism();
  if (loadavg()[0]! >= 2 * cores) return 1;
  return Math.max(Math.min(2, cores), cores - 1);
}

export default defineConfig({
  test: {
    // One Kafka broker for the whole run, started when the first test asks for it (sharedTestKafka()).
    globalSetup: ['test/helpers/kafka.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // Two workers on CI's idle two cores, where most of a run waits on brokers, processes and worker threads.
    // On a machine busy with other work, two made timing-bound end-to-end files miss their deadlines
    // (docs/testing.md), so it falls back to one. `--maxWorkers=N` on the command line overrides this.
    maxWorkers: workerCount(),
    sequence: { sequencer: LongFilesFirst },
    projects: [
      // Pure files share their workers' module cache: no re-import and re-collect per file (test/helpers/isolation.ts).
      { extends: true, test: { name: 'shared', include: shared, exclude, isolate: false } },
      { extends: true, test: { name: 'isolated', include: isolated, exclude } },
    ],
  },
});
