import { configDefaults, defineConfig } from 'vitest/config';
import { LongFilesFirst } from './test/helpers/sequencer.ts';

// The failover process test (members killed with kill -9, the leader too, and one joining) still fails now
// and then on a loaded 2-core machine: served features below the replay's (docs/testing.md). It runs apart,
// through `npm run test:scale-out`, until it holds there; the three-member test is in npm test.
const SCALE_OUT_FAILOVER = 'test/e2e/scale-out-failover.test.ts';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: process.env.ALCOR_SCALE_OUT_TESTS === '1' ? configDefaults.exclude : [...configDefaults.exclude, SCALE_OUT_FAILOVER],
    // One Kafka broker for the whole run, started when the first test asks for it (sharedTestKafka()).
    globalSetup: ['test/helpers/kafka.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // vitest's default workers (cores - 1: one on two cores). Three cut a full run's wall time on two cores,
    // but four timing-bound files failed that way on the loaded machine (docs/testing.md); where the cores
    // are free, `npx vitest run --maxWorkers=3` is the faster run, and the long files start first.
    sequence: { sequencer: LongFilesFirst },
  },
});
