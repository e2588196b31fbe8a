import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One Kafka broker for the whole run, started when the first test asks for it (sharedTestKafka()).
    globalSetup: ['test/helpers/kafka.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
