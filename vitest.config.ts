import { configDefaults, defineConfig } from 'vitest/config';
import { LongFilesFirst } from './test/helpers/sequencer.ts';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: configDefaults.exclude,
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
