/**
 * A real single-node KRaft Kafka broker for development, tests, CI and benchmarks, run straight from the
 * Maven Central jars (no Docker, no Kafka download): see scripts/kafka/pom.xml and shared/KAFKA-LOCAL.md.
 * Development tooling, outside src/: the service never imports it and `npm run build` does not ship it.
 *
 * - jars.ts: ensureKafkaJars() fetches the broker + tools jars once into `<cacheDir>/lib` (safe for
 *   concurrent callers).
 * - properties.ts, listeners.ts: server.properties, with SASL and TLS listeners.
 * - keystore.ts: a self-signed keystore for a TLS listener.
 * - broker.ts: startKafkaBroker() formats storage, spawns `kafka.Kafka`, waits until ready.
 * - processes.ts: free ports, stopProcess() (SIGTERM, wait, SIGKILL after a timeout).
 * - perf-tools.ts: runProducerPerformance() / runConsumerPerformance(), Kafka's own perf tools parsed into
 *   records/s.
 *
 * Relative paths (cacheDir, dataDir, logDir) are resolved against the package root, not process.cwd().
 */
export { type KafkaBroker, type StartKafkaBrokerOptions, startKafkaBroker } from './broker.ts';
export { ensureKafkaJars, KAFKA_VERSION } from './jars.ts';
export { makeSelfSignedKeystore, type SelfSignedKeystore } from './keystore.ts';
export { type ListenerOptions, SASL_MECHANISMS, type SaslMechanismName, type SaslOptions, type SaslUser, type SslOptions, scramFormatArgs } from './listeners.ts';
export {
  type ConsumerPerfOptions,
  type ConsumerPerfResult,
  type ProducerPerfOptions,
  type ProducerPerfResult,
  parseConsumerPerfOutput,
  parseProducerPerfOutput,
  runConsumerPerformance,
  runProducerPerformance,
} from './perf-tools.ts';
export { getFreePort, getFreePorts, isKafkaBrokerPid, portAccepts, stopProcess } from './processes.ts';
export { buildServerProperties, randomClusterId, type ServerPropertiesOptions } from './properties.ts';
