import { defineConfig } from 'vitest/config';
import { LongFilesFirst } from './test/helpers/sequencer.ts';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One Kafka broker for the whole run, started when the first test asks for it (sharedTestKafka()).
    globalSetup: ['test/helpers/kafka.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // Three files at a time, even on two cores: most of a full run is waiting (the broker, session
    // timeouts, service processes starting, child processes), not this process's CPU (docs/testing.md).
    maxWorkers: 3,
    sequence: { sequencer: LongFilesFirst },
  },
});
