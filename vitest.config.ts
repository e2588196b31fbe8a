import { availableParallelism, loadavg } from 'node:os';
import { configDefaults, defineConfig } from 'vitest/config';
import { splitTestFiles } from './test/helpers/isolation.ts';
import { LongFilesFirst } from './test/helpers/sequencer.ts';
import { workerCount } from './test/helpers/workers.ts';

const exclude = configDefaults.exclude;
const { isolated, shared } = splitTestFiles(import.meta.dirname);

export default defineConfig({
  test: {
    // One Kafka broker for the whole run, started when the first test asks for it (sharedTestKafka()).
    globalSetup: ['test/helpers/kafka.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // Two workers on CI's idle two cores, where most of a run waits on brokers, processes and worker threads.
    // On a machine busy with other work, two made timing-bound end-to-end files miss their deadlines
    // (docs/testing.md), so it falls back to one. `--maxWorkers=N` on the command line overrides this
    // (test/helpers/workers.ts: vitest itself would not pass it on to the projects below).
    maxWorkers: workerCount(process.argv, loadavg()[0]!, availableParallelism()),
    sequence: { sequencer: LongFilesFirst },
    projects: [
      // Pure files share their workers' module cache: no re-import and re-collect per file (test/helpers/isolation.ts).
      { extends: true, test: { name: 'shared', include: shared, exclude, isolate: false } },
      { extends: true, test: { name: 'isolated', include: isolated, exclude } },
    ],
  },
});
