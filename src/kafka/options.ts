/**
 * Kafka settings (read by src/config/kafka-settings.ts) mapped to a kafkajs KafkaConfig, their redacted
 * form for logs, and what an operator should read when the connection fails. The SASL password is kept out
 * of every message and log line: operators paste startup errors into tickets.
 */
import { type KafkaConfig, type LogEntry, logLevel, type RetryOptions, type SASLOptions } from 'kafkajs';
import { KafkaEnvError, type KafkaSettings, parseKafkaEnv } from '../config/kafka-settings.ts';
import { assertKafkajsSkipsAbortedTransactions } from './aborted-transactions.ts';
import { kafkajsLevel } from './log-level.ts';

/** Settings for a plain local broker (tests, dev tools): defaults everywhere, no SASL/TLS. */
export function localKafkaSettings(brokers: string, overrides: Partial<KafkaSettings> = {}): KafkaSettings {
  const parsed = parseKafkaEnv({ KAFKA_BROKERS: brokers });
  if (parsed === null) throw new KafkaEnvError(['KAFKA_BROKERS: empty']);
  return { ...parsed, ...overrides };
}

/** The settings as they may be logged: the password replaced, the CA reduced to whether there is one. */
export function redactKafkaSettings(s: KafkaSettings): Record<string, unknown> {
  return {
    ...s,
    sasl: s.sasl ? { mechanism: s.sasl.mechanism, username: s.sasl.username, password: '***' } : null,
    tls: s.tls ? { ca: s.tls.caPem !== null, rejectUnauthorized: s.tls.rejectUnauthorized } : null,
  };
}

/**
 * Retries for broker unavailability: kafkajs doubles the wait from 300 ms up to 30 s with jitter. The
 * count bounds one operation; the consumer restarts itself after it (restartOnFailure) and the service's
 * supervisor reconnects after a non-retriable crash, so an outage of any length is survived.
 */
export const defaultRetry: RetryOptions = {
  initialRetryTime: 300,
  maxRetryTime: 30_000,
  retries: 10,
  multiplier: 2,
  factor: 0.2,
};

/** A pino-style logger (fastify's logger fits): fields first, then the message. */
export interface KafkaLogger {
  debug(fields: object, msg: string): void;
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
}

export const silentLogger: KafkaLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** Routes kafkajs' own log lines to `logger`, so broker outages show up in the service log, not on stdout. */
function kafkajsLogCreator(logger: KafkaLogger): KafkaConfig['logCreator'] {
  return () =>
    ({ level, log, namespace }: LogEntry) => {
      const { message, timestamp: _timestamp, ...fields } = log;
      const tagged = { ...fields, kafkajs: namespace };
      // Retried protocol errors (a fence's CONCURRENT_TRANSACTIONS, a rebalance) at warn: log-level.ts.
      const at = kafkajsLevel(level, message, fields);
      if (at === logLevel.ERROR) logger.error(tagged, message);
      else if (at === logLevel.WARN) logger.warn(tagged, message);
      else if (at === logLevel.INFO) logger.info(tagged, message);
      else logger.debug(tagged, message);
    };
}

export interface KafkaConfigExtras {
  logger?: KafkaLogger;
  /** kafkajs' own verbosity; WARN by default (INFO logs every group join and fetch session). */
  logLevel?: logLevel;
  retry?: RetryOptions;
  clientIdSuffix?: string;
}

export function toKafkaConfig(s: KafkaSettings, extras: KafkaConfigExtras = {}): KafkaConfig {
  // Every client of the service is configured here: none runs with a kafkajs that reads aborted records.
  assertKafkajsSkipsAbortedTransactions();
  const config: KafkaConfig = {
    clientId: extras.clientIdSuffix ? `${s.clientId}-${extras.clientIdSuffix}` : s.clientId,
    brokers: s.brokers,
    connectionTimeout: 3000,
    requestTimeout: 30_000,
    retry: extras.retry ?? defaultRetry,
    logLevel: extras.logLevel ?? logLevel.WARN,
  };
  if (extras.logger) config.logCreator = kafkajsLogCreator(extras.logger);
  if (s.sasl) {
    const sasl: SASLOptions = { mechanism: s.sasl.mechanism, username: s.sasl.username, password: s.sasl.password };
    config.sasl = sasl;
  }
  if (s.tls) {
    config.ssl = {
      rejectUnauthorized: s.tls.rejectUnauthorized,
      ...(s.tls.caPem !== null ? { ca: [s.tls.caPem] } : {}),
    };
  }
  return config;
}

/** An error chain as kafkajs builds it: its own errors keep the underlying one as `cause` or `originalError`. */
function errorChain(err: unknown): Error[] {
  const chain: Error[] = [];
  for (let e: unknown = err; e instanceof Error && chain.length < 5; ) {
    chain.push(e);
    const next = (e as { cause?: unknown; originalError?: unknown }).cause ?? (e as { originalError?: unknown }).originalError;
    e = next;
  }
  return chain;
}

/** Node's codes for a certificate the client could not verify. */
const TLS_VERIFY_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * What an operator should read when the connection to Kafka fails: kafkajs says "SASL PLAIN authentication
 * failed: ..." or a bare "self-signed certificate"; this names the settings to check. `cause` is the
 * original message (null when it is the message). Never includes the password: kafkajs does not echo it.
 */
export function describeKafkaError(err: unknown, s: KafkaSettings): { message: string; cause: string | null } {
  const chain = errorChain(err);
  const original = chain[0]?.message ?? String(err);
  const auth = chain.find((e) => e.name === 'KafkaJSSASLAuthenticationError' || /SASL .*authentication failed/i.test(e.message));
  if (auth && s.sasl) {
    return {
      message: `Kafka rejected the credentials: SASL ${s.sasl.mechanism.toUpperCase()} authentication of user "${s.sasl.username}" failed (${auth.message}); check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD`,
      cause: auth.message,
    };
  }
  const tls = chain.find((e) => TLS_VERIFY_CODES.has((e as NodeJS.ErrnoException).code ?? '') || /self[- ]signed certificate|unable to verify the first certificate|certificate has expired/i.test(e.message));
  if (tls) {
    return {
      message: `TLS connection to Kafka failed: ${tls.message}; check KAFKA_TLS_CA_FILE (the CA that signed the broker's certificate) or KAFKA_TLS_REJECT_UNAUTHORIZED`,
      cause: tls.message,
    };
  }
  return { message: original, cause: null };
}
