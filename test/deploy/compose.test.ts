import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadServiceConfig } from '../../src/config/service-config.ts';
import { parseKafkaEnv } from '../../src/kafka/options.ts';

interface Compose {
  services: Record<string, { image?: string; build?: string; environment?: Record<string, string | number>; command?: string[]; depends_on?: Record<string, { condition: string }>; ports?: string[] }>;
}

/** There is no Docker engine here: the compose file is checked by parsing it and validating what it configures. */
describe('docker-compose.yml', () => {
  const compose = parse(readFileSync('docker-compose.yml', 'utf8')) as Compose;

  it('runs an Apache Kafka KRaft broker, the service built from the Dockerfile, and a one-shot producer', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['kafka', 'producer', 'service']);
    const kafka = compose.services.kafka!;
    expect(kafka.image).toMatch(/^apache\/kafka:\d/);
    expect(kafka.environment?.KAFKA_PROCESS_ROLES).toBe('broker,controller');
    expect(kafka.environment?.KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR).toBe(1);
    expect(compose.services.service!.build).toBe('.');
    expect(compose.services.service!.ports).toEqual(['8080:8080']);
    expect(compose.services.service!.depends_on?.kafka?.condition).toBe('service_healthy');
    expect(compose.services.producer!.command).toEqual(['node', '--import', 'tsx', 'src/cli/produce.ts', 'fixtures/small.jsonl.gz']);
    expect(readFileSync('Dockerfile', 'utf8')).toMatch(/CMD \["node", "--import", "tsx", "src\/main.ts"\]/);
  });

  it('gives the service an environment its own configuration accepts', () => {
    const env = Object.fromEntries(Object.entries(compose.services.service!.environment ?? {}).map(([k, v]) => [k, String(v)]));
    const config = loadServiceConfig(env);
    expect(config.env.HOST).toBe('0.0.0.0');
    expect(parseKafkaEnv(env)?.brokers).toEqual(['kafka:9092']);
  });
});

describe('.env.example', () => {
  it('documents a configuration the service accepts', () => {
    const env: Record<string, string> = {};
    for (const line of readFileSync('.env.example', 'utf8').split('\n')) {
      const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
      if (m) env[m[1]!] = m[2]!;
    }
    expect(Object.keys(env).length).toBeGreaterThan(20);
    expect(() => loadServiceConfig(env)).not.toThrow();
  });

  it('rejects bad values with a message naming each variable', () => {
    let message = '';
    try {
      loadServiceConfig({ PORT: 'eighty', K_MIN: '30', K_MAX: '3', WINDOW_MINUTES: '-1', ALGORITHM: 'hdbscan' });
    } catch (err) {
      message = (err as Error).message;
    }
    for (const name of ['PORT', 'WINDOW_MINUTES', 'ALGORITHM']) expect(message).toMatch(new RegExp(`^  ${name}: `, 'm'));
  });
});
