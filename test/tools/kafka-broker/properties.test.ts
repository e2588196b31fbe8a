/**
 * The dev broker's server.properties, its secured listeners included: exact lines, since a typo in a listener or
 * JAAS property only shows up as a broker that will not start or a client that cannot log in.
 */
import { describe, expect, it } from 'vitest';
import { scramFormatArgs } from '../../../tools/kafka-broker/listeners.ts';
import { buildServerProperties } from '../../../tools/kafka-broker/properties.ts';

const lines = (text: string, pattern: RegExp): string[] => text.split('\n').filter((l) => pattern.test(l));
const base = { host: '127.0.0.1', port: 9092, controllerPort: 9093, logDirs: '/tmp/k' };
const users = [
  { username: 'svc', password: 'pw1' },
  { username: 'ops', password: 'pw2' },
];

describe('dev broker server.properties', () => {
  it('generates a single-node KRaft config', () => {
    const p = buildServerProperties({ port: 19092, controllerPort: 19093, logDirs: '/tmp/x' });
    expect(p).toContain('listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093\n');
    expect(p).toContain('controller.quorum.voters=1@127.0.0.1:19093\n');
    expect(p).toContain('offsets.topic.replication.factor=1\n');
  });
});

describe('dev broker listeners', () => {
  it('keeps the plain broker as it was', () => {
    expect(lines(buildServerProperties(base), /listener|sasl|ssl/)).toEqual([
      'listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093',
      'advertised.listeners=PLAINTEXT://127.0.0.1:9092',
      'inter.broker.listener.name=PLAINTEXT',
      'controller.listener.names=CONTROLLER',
      'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    ]);
  });

  it('adds SASL_PLAINTEXT and SASL_SSL listeners with PLAIN users in JAAS and SCRAM login modules', () => {
    const text = buildServerProperties({
      ...base,
      sasl: { port: 9094, users },
      ssl: { port: 9095, keystorePath: '/tmp/k.p12', keystorePassword: 'ks', sasl: true },
    });
    expect(lines(text, /listener|sasl|ssl/)).toEqual([
      'listeners=PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://127.0.0.1:9094,SASL_SSL://127.0.0.1:9095,CONTROLLER://127.0.0.1:9093',
      'advertised.listeners=PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://127.0.0.1:9094,SASL_SSL://127.0.0.1:9095',
      'inter.broker.listener.name=PLAINTEXT',
      'controller.listener.names=CONTROLLER',
      'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL',
      'listener.name.sasl_ssl.ssl.keystore.type=PKCS12',
      'listener.name.sasl_ssl.ssl.keystore.location=/tmp/k.p12',
      'listener.name.sasl_ssl.ssl.keystore.password=ks',
      'listener.name.sasl_ssl.ssl.key.password=ks',
      'listener.name.sasl_ssl.ssl.client.auth=none',
      'sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512',
      'listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_svc="pw1" user_ops="pw2";',
      'listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
      'listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
      'listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_svc="pw1" user_ops="pw2";',
      'listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
      'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
    ]);
  });

  it('adds a TLS-only listener without SASL', () => {
    const text = buildServerProperties({ ...base, ssl: { port: 9095, keystorePath: '/tmp/k.p12', keystorePassword: 'ks' } });
    expect(lines(text, /^(listeners|listener.security.protocol.map|sasl)/)).toEqual([
      'listeners=PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9095,CONTROLLER://127.0.0.1:9093',
      'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL',
    ]);
    expect(text).toContain('listener.name.ssl.ssl.keystore.location=/tmp/k.p12\n');
  });

  it('creates SCRAM credentials per user and mechanism at format time, none for PLAIN', () => {
    expect(scramFormatArgs({ port: 1, users, mechanisms: ['PLAIN', 'SCRAM-SHA-512'] })).toEqual([
      '--add-scram',
      'SCRAM-SHA-512=[name=svc,password=pw1]',
      '--add-scram',
      'SCRAM-SHA-512=[name=ops,password=pw2]',
    ]);
    expect(scramFormatArgs(undefined)).toEqual([]);
  });

  it('refuses credentials that would break the JAAS or --add-scram syntax, and SASL_SSL without users', () => {
    expect(() => buildServerProperties({ ...base, sasl: { port: 1, users: [{ username: 'a', password: 'x"; evil' }] } })).toThrow(
      'SASL user "a": names and passwords must be 1..128 of [A-Za-z0-9._@%+-]',
    );
    expect(() => scramFormatArgs({ port: 1, users: [{ username: 'a,b', password: 'p' }] })).toThrow(/names and passwords/);
    expect(() => buildServerProperties({ ...base, ssl: { port: 2, keystorePath: 'k', keystorePassword: 'p', sasl: true } })).toThrow(
      'ssl.sasl needs the sasl options (users and mechanisms)',
    );
  });
});
