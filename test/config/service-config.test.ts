/** One loader for the whole configuration: every part checked at once, one meaning of yes and no. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadServiceConfig } from '../../src/config/service-config.ts';

const problemsOf = (env: Record<string, string>): string[] => {
  try {
    loadServiceConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
};

describe('loadServiceConfig', () => {
  it('lists the problems of the service, the pipeline, security and Kafka in one error', () => {
    expect(problemsOf({ PORT: 'eighty', K: '1', RATE_LIMIT_MAX: '-1', KAFKA_BROKERS: 'nohostport', KAFKA_TOPIC_FLOWS: 'bad topic', KAFKA_FROM_BEGINNING: 'maybe' })).toEqual([
      'PORT: Invalid input: expected number, received NaN',
      'K: at least 2: one cluster would say nothing',
      'RATE_LIMIT_MAX: Too small: expected number to be >=0',
      'KAFKA_TOPIC_FLOWS: a Kafka topic name: 1..249 of [a-zA-Z0-9._-]',
      'KAFKA_BROKERS: "nohostport" is not host:port',
      'KAFKA_FROM_BEGINNING: Invalid option: expected one of "true"|"1"|"yes"|"on"|"y"|"enabled"|"false"|"0"|"no"|"off"|"n"|"disabled"',
    ]);
  });

  it('reads the Kafka settings with the topic names of the pipeline, and none without KAFKA_BROKERS', () => {
    const config = loadServiceConfig({ KAFKA_BROKERS: 'a:9092', KAFKA_TOPIC_FLOWS: 'flows-2' });
    expect(config.kafka?.topics).toEqual({ flows: 'flows-2', vmAttributes: 'vm-attributes', tenantAttributes: 'tenant-attributes' });
    expect(config.pipeline.flowsTopic).toBe('flows-2');
    expect(config.kafka).not.toHaveProperty('hostAttributesTopic');
    expect(loadServiceConfig({ KAFKA_BROKERS: 'a:9092', KAFKA_TOPIC_HOST_ATTRIBUTES: 'hosts' }).kafka?.hostAttributesTopic).toBe('hosts');
    // A trace may name its topics as it likes: only Kafka needs Kafka names.
    expect(loadServiceConfig({ KAFKA_TOPIC_FLOWS: 'bad topic' }).kafka).toBeNull();
  });

  it('takes the same spellings of yes and no for every yes/no setting', () => {
    for (const [text, value] of [
      ['true', true],
      [' Yes ', true],
      ['on', true],
      ['1', true],
      ['enabled', true],
      ['FALSE', false],
      ['no', false],
      ['off', false],
      ['0', false],
      ['n', false],
    ] as const) {
      const c = loadServiceConfig({ METRICS_PUBLIC: text, PCA: text, KAFKA_BROKERS: 'a:9092', KAFKA_FROM_BEGINNING: text, KAFKA_TLS_REJECT_UNAUTHORIZED: text });
      expect([c.security.metricsPublic, c.pipeline.pca, c.kafka?.fromBeginning, c.kafka?.tls]).toEqual([value, value, value, null]);
    }
    expect(problemsOf({ ALLOW_OPEN_API: 'sure', PCA: 'maybe' }).map((p) => p.split(':')[0])).toEqual(['PCA', 'ALLOW_OPEN_API']);
  });
});
