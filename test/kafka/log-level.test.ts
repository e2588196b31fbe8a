/** kafkajs' error lines of protocol errors it retries go out at warn, with their fields; real errors stay at error. */
import { logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { kafkajsLevel, RETRIED_PROTOCOL_ERRORS } from '../../src/kafka/log-level.ts';
import { type KafkaLogger, localKafkaSettings, toKafkaConfig } from '../../src/kafka/options.ts';

const CONCURRENT = 'The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing';
const REBALANCING = 'The group is rebalancing, so a rejoin is needed';
const LOADING = "The coordinator is loading and hence can't process requests for this group";
const TOO_LARGE = 'The request included a message larger than the max message size the server will accept';
const NO_ACL = 'Not authorized to access topics: [Topic authorization failed]';

/** What the service logger receives from kafkajs' log creator for one entry: level, fields, message. */
function logged(level: logLevel, namespace: string, log: Record<string, unknown> & { message: string }): Array<[string, object, string]> {
  const lines: Array<[string, object, string]> = [];
  const logger: KafkaLogger = {
    debug: (f, m) => void lines.push(['debug', f, m]),
    info: (f, m) => void lines.push(['info', f, m]),
    warn: (f, m) => void lines.push(['warn', f, m]),
    error: (f, m) => void lines.push(['error', f, m]),
  };
  const create = toKafkaConfig(localKafkaSettings('127.0.0.1:9092'), { logger }).logCreator!;
  create(logLevel.DEBUG)({ namespace, level, label: 'ERROR', log: { timestamp: '2026-12-06T06:00:00.000Z', ...log } });
  return lines;
}

describe("kafkajs' log lines in the service log", () => {
  it("reads kafkajs' table of protocol errors: the three seen in the member logs are retried", () => {
    expect(RETRIED_PROTOCOL_ERRORS.get(CONCURRENT)).toBe('CONCURRENT_TRANSACTIONS');
    expect(RETRIED_PROTOCOL_ERRORS.get(REBALANCING)).toBe('REBALANCE_IN_PROGRESS');
    expect(RETRIED_PROTOCOL_ERRORS.get(LOADING)).toBe('GROUP_LOAD_IN_PROGRESS');
    expect(RETRIED_PROTOCOL_ERRORS.has(TOO_LARGE)).toBe(false);
    expect(RETRIED_PROTOCOL_ERRORS.has(NO_ACL)).toBe(false);
  });

  it('logs a fence\'s CONCURRENT_TRANSACTIONS, a rebalance and a loading coordinator at warn, with the same fields', () => {
    const response = { broker: '127.0.0.1:9092', clientId: 'member-route', error: CONCURRENT, correlationId: 7, size: 42 };
    expect(logged(logLevel.ERROR, 'Connection', { message: 'Response InitProducerId(key: 22, version: 1)', ...response })).toEqual([
      ['warn', { ...response, kafkajs: 'Connection' }, 'Response InitProducerId(key: 22, version: 1)'],
    ]);
    expect(logged(logLevel.ERROR, 'Producer', { message: `Failed to send messages: ${CONCURRENT}`, retryCount: 0, retryTime: 310 })).toEqual([
      ['warn', { retryCount: 0, retryTime: 310, kafkajs: 'Producer' }, `Failed to send messages: ${CONCURRENT}`],
    ]);
    expect(logged(logLevel.ERROR, 'Producer', { message: CONCURRENT, retryCount: 1, retryTime: 622 })).toEqual([['warn', { retryCount: 1, retryTime: 622, kafkajs: 'Producer' }, CONCURRENT]]);
    expect(logged(logLevel.ERROR, 'Connection', { message: 'Response Heartbeat(key: 12, version: 3)', error: REBALANCING, correlationId: 9 })).toEqual([
      ['warn', { error: REBALANCING, correlationId: 9, kafkajs: 'Connection' }, 'Response Heartbeat(key: 12, version: 3)'],
    ]);
    expect(logged(logLevel.ERROR, 'Connection', { message: 'Response JoinGroup(key: 11, version: 5)', error: LOADING, correlationId: 3 })).toEqual([
      ['warn', { error: LOADING, correlationId: 3, kafkajs: 'Connection' }, 'Response JoinGroup(key: 11, version: 5)'],
    ]);
  });

  it('keeps real errors at error: a size or an ACL the broker refuses, a consumer giving up, a lost broker', () => {
    expect(logged(logLevel.ERROR, 'Connection', { message: 'Response Produce(key: 0, version: 7)', error: TOO_LARGE })[0]![0]).toBe('error');
    expect(logged(logLevel.ERROR, 'Producer', { message: `Failed to send messages: ${NO_ACL}` })[0]![0]).toBe('error');
    // Retries ran out: the crash names the retried error, and is one all the same.
    expect(logged(logLevel.ERROR, 'Consumer', { message: `Crash: KafkaJSNumberOfRetriesExceededError: ${CONCURRENT}`, retryCount: 10 })[0]![0]).toBe('error');
    expect(logged(logLevel.ERROR, 'BrokerPool', { message: 'Connection error: connect ECONNREFUSED 127.0.0.1:9092', retryCount: 2 })[0]![0]).toBe('error');
    // An error field on a line that is not a response's: not taken for one.
    expect(logged(logLevel.ERROR, 'Runner', { message: 'Error when calling eachBatch', error: CONCURRENT })[0]![0]).toBe('error');
  });

  it('leaves every other level as kafkajs gave it', () => {
    for (const [level, name] of [
      [logLevel.WARN, 'warn'],
      [logLevel.INFO, 'info'],
      [logLevel.DEBUG, 'debug'],
    ] as const) {
      expect(kafkajsLevel(level, 'Response InitProducerId(key: 22, version: 1)', { error: CONCURRENT })).toBe(level);
      expect(logged(level, 'Connection', { message: 'x', error: TOO_LARGE })[0]![0]).toBe(name);
    }
  });
});
