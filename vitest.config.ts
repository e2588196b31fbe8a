import { configDefaults, defineConfig } from 'vitest/config';
import { splitTestFiles } from './test/helpers/isolation.ts';
import { LongFilesFirst } from './test/helpers/sequencer.ts';

// The failover process test (members killed with kill -9, the leader too, and one joining) still fails now
// and then on a loaded 2-core machine: served features below the replay's (docs/testing.md). It runs apart,
// through `npm run test:scale-out`, until it holds there; the three-member test is in npm test.
const SCALE_OUT_FAILOVER = 'test/e2e/scale-out-failover.test.ts';
const exclude = process.env.ALCOR_SCALE_OUT_TESTS === '1' ? configDefaults.exclude : [...configDefaults.exclude, SCALE_OUT_FAILOVER];
const { isolated, shared } = splitTestFiles(import.meta.dirname);

export default defineConfig({
  test: {
    // One Kafka broker for the whole run, started when the first test asks for it (sharedTestKafka()).
    globalSetup: ['test/helpers/kafka.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // Two workers on the two cores CI has: most of a run waits on brokers, processes and worker threads, so
    // the second worker nearly halves the wall time on an idle machine (docs/testing.md). Three failed
    // timing-bound files at a load of 25 from other work; on such a machine `--maxWorkers=1` is the safe run.
    maxWorkers: 2,
    sequence: { sequencer: LongFilesFirst },
    projects: [
      // Pure files share their workers' module cache: no re-import and re-collect per file (test/helpers/isolation.ts).
      { extends: true, test: { name: 'shared', include: shared, exclude, isolate: false } },
      { extends: true, test: { name: 'isolated', include: isolated, exclude } },
    ],
  },
});
