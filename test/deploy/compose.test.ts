import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadServiceConfig } from '../../src/config/service-config.ts';
import { parseKafkaEnv } from '../../src/config/kafka-settings.ts';
import { parseTopologyEnv } from '../../src/topology/config.ts';
import { interpolate, isRootUser, isUnder, readImage } from '../helpers/dockerfile.ts';

interface Compose {
  services: Record<
    string,
    { image?: string; build?: string; environment?: Record<string, string | number>; command?: string[]; depends_on?: Record<string, { condition: string }>; ports?: string[]; volumes?: string[] }
  >;
  volumes?: Record<string, unknown>;
}

const SHA = 'a'.repeat(64);

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
    expect(compose.services.service!.depends_on?.kafka?.condition).toBe('service_healthy');
    // Both run the image's compiled output (npm run build), not the TypeScript sources.
    expect(compose.services.producer!.command).toEqual(['node', 'dist/cli/produce.js', 'fixtures/small.jsonl.gz']);
    expect(readFileSync('Dockerfile', 'utf8')).toMatch(/CMD \["node", "dist\/main.js"\]/);
  });

  /** The service's environment as the container sees it: the image's, then compose's, interpolated from `shell`. */
  const serviceEnv = (shell: Record<string, string>): Record<string, string> => ({
    ...readImage().env,
    ...Object.fromEntries(Object.entries(compose.services.service!.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), shell)])),
  });

  it('gives the service an environment its own configuration accepts once API_KEYS is passed', () => {
    const config = loadServiceConfig(serviceEnv({ API_KEYS: `${SHA}:admin` }));
    expect(config.env.HOST).toBe('0.0.0.0');
    expect(config.security.keys.map((k) => k.scope)).toEqual([{ kind: 'admin' }]);
    expect(config.security.allowedHosts).toBeNull();
    expect(parseKafkaEnv(serviceEnv({}))?.brokers).toEqual(['kafka:9092']);
  });

  it('does not start an open API on 0.0.0.0 unless ALLOW_OPEN_API=true is passed, and then checks the Host', () => {
    expect(() => loadServiceConfig(serviceEnv({}))).toThrow(/HOST: 0\.0\.0\.0 is not a loopback address and API_KEYS is unset/);
    const open = loadServiceConfig(serviceEnv({ ALLOW_OPEN_API: 'true' }));
    expect(open.security.keys).toEqual([]);
    expect(open.security.allowedHosts).toEqual(['localhost', '127.0.0.1', '::1']);
    expect(loadServiceConfig(serviceEnv({ ALLOW_OPEN_API: 'true', ALLOWED_HOSTS: 'clusters.example' })).security.allowedHosts).toEqual(['clusters.example']);
  });

  /** `docker compose up --scale service=N`: what N replicas of one service definition need to start side by side. */
  describe('--scale service=3', () => {
    const replicas = 3;
    const service = compose.services.service!;

    it('publishes a host port range with room for every replica, not one fixed host port', () => {
      expect(service.ports).toEqual(['8080-8089:8080']);
      const m = /^(\d+)-(\d+):(\d+)$/.exec(service.ports![0]!)!;
      expect(Number(m[2]) - Number(m[1]) + 1).toBeGreaterThanOrEqual(replicas);
      // The container port is the one the service listens on and its healthcheck asks.
      expect(serviceEnv({ API_KEYS: `${SHA}:admin` }).PORT).toBe(m[3]);
    });

    it('shares no named volume between replicas: each gets the image volume as its own, holding STATE_DIR and MODELS_DIR', () => {
      // A shared named volume would put every replica on one STATE_DIR lock: all but one would exit 3.
      expect(service.volumes).toBeUndefined();
      expect(compose.volumes).toBeUndefined();
      const image = readImage();
      const env = serviceEnv({ API_KEYS: `${SHA}:admin` });
      expect(image.volumes).toEqual(['/var/lib/alcor-clusters']);
      for (const name of ['STATE_DIR', 'MODELS_DIR']) expect(isUnder(env[name]!, image.volumes[0]!)).toBe(true);
    });

    it('runs every replica as a member of one scale-out application against the one broker', () => {
      const env = serviceEnv({ API_KEYS: `${SHA}:admin` });
      expect(parseTopologyEnv(env)).toEqual({ appId: 'alcor-traffic-clusters', partitions: 12, replicationFactor: 1, sessionTimeoutMs: 30_000, routeWorker: true });
      // The by-VM partitions are the ceiling of window owners: three replicas get four each.
      expect(parseTopologyEnv(env)!.partitions % replicas).toBe(0);
      // Replication factor above the broker count would fail topic creation on the single-node broker.
      expect(parseTopologyEnv(env)!.replicationFactor).toBeLessThanOrEqual(Number(compose.services.kafka!.environment?.KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR));
      // Transactions (route and window) need the broker's transaction log to be writable on one node.
      expect(compose.services.kafka!.environment?.KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR).toBe(1);
      expect(compose.services.kafka!.environment?.KAFKA_TRANSACTION_STATE_LOG_MIN_ISR).toBe(1);
      // No fixed container name: compose names replicas service-1..N only when none is given.
      expect(Object.keys(service)).not.toContain('container_name');
    });
  });
});

describe('Dockerfile', () => {
  const image = readImage();
  const volume = image.volumes[0]!;

  it('runs as a non-root user given by number, and keeps the code out of its reach', () => {
    expect(isRootUser(image.user)).toBe(false);
    expect(image.user).toMatch(/^[1-9]\d*:[1-9]\d*$/);
    expect(image.workdir).toBe('/app');
    // The code is copied by root (no --chown): the service cannot rewrite what it runs.
    for (const i of image.instructions.filter((i) => i.keyword === 'COPY' && !isUnder(i.args.split(/\s+/).at(-1)!, volume))) expect(i.args).not.toMatch(/--chown/);
  });

  it('declares one volume, created and owned by that user before VOLUME, that holds STATE_DIR and MODELS_DIR', () => {
    expect(image.volumes).toEqual(['/var/lib/alcor-clusters']);
    for (const name of ['STATE_DIR', 'MODELS_DIR']) expect(isUnder(image.env[name]!, volume)).toBe(true);
    const at = (pred: (i: { keyword: string; args: string }) => boolean) => image.instructions.findIndex(pred);
    const chown = at((i) => i.keyword === 'RUN' && i.args.includes(`chown -R ${image.user} ${volume}`));
    expect(chown).toBeGreaterThanOrEqual(0);
    expect(image.instructions[chown]!.args).toContain(`mkdir -p ${image.env.STATE_DIR} ${image.env.MODELS_DIR}`);
    // Changes to a volume's path after VOLUME are discarded by the build.
    expect(chown).toBeLessThan(at((i) => i.keyword === 'VOLUME'));
  });

  it('runs the compiled output with production dependencies only, built in a separate stage', () => {
    const stages = image.instructions.map((i, at) => (i.keyword === 'FROM' ? at : -1)).filter((at) => at >= 0);
    expect(stages.length).toBe(2);
    expect(image.instructions[stages[0]!]!.args).toMatch(/ AS build$/);
    const build = image.instructions.slice(stages[0], stages[1]);
    const runtime = image.instructions.slice(stages[1]);
    expect(build.filter((i) => i.keyword === 'RUN').map((i) => i.args)).toEqual(['npm ci --no-audit --no-fund', 'npm run build']);
    expect(runtime.filter((i) => i.keyword === 'RUN' && i.args.startsWith('npm')).map((i) => i.args)).toEqual(['npm ci --omit=dev --no-audit --no-fund']);
    // Only the service's folders: no sources, tests, bench or local models in the image that runs.
    // The kafkajs fix npm ci's postinstall applies (scripts/patch-kafkajs.mjs) is the one script it needs.
    expect(runtime.filter((i) => i.keyword === 'COPY').map((i) => i.args)).toEqual(['package.json package-lock.json ./', 'scripts/patch-kafkajs.mjs ./scripts/', '--from=build /app/dist ./dist', 'fixtures ./fixtures']);
    expect(runtime.at(-1)).toEqual({ keyword: 'CMD', args: '["node", "dist/main.js"]' });
  });

  it('keeps local state, models, dependencies, caches and test output out of the build context', () => {
    const ignored = readFileSync('.dockerignore', 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    for (const path of ['models', 'state', 'node_modules', '.cache', 'test-output', 'dist', '.env', '.git']) expect(ignored, path).toContain(path);
    // Nothing the Dockerfile copies from the context is ignored.
    const copied = image.instructions.filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from')).flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    expect(copied.filter((path) => ignored.some((pattern) => isUnder(path, pattern)))).toEqual([]);
  });

  it('sets HOST=0.0.0.0 with neither keys nor the opt-in, so the service refuses to start open', () => {
    expect(image.env.HOST).toBe('0.0.0.0');
    expect(image.env.API_KEYS).toBeUndefined();
    expect(image.env.ALLOW_OPEN_API).toBeUndefined();
    expect(() => loadServiceConfig(image.env)).toThrow(/is not a loopback address and API_KEYS is unset/);
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
