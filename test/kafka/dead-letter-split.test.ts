/**
 * The pure parts of the dead-letter producer: how a flush is cut under a topic's size limit, how a reject
 * too big alone keeps an excerpt, and which kafkajs errors are final. The broker's side of it is in
 * dead-letter.test.ts.
 */
import { KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { type DeadLetterValue, EXCERPT_MAX_CHARS, excerpt, recordBytes, splitUnder, toDeadLetterError } from '../../src/kafka/dead-letter.ts';

function value(raw: string, index: number | null = null): DeadLetterValue {
  return { reason: 'invalid_json', field: null, message: 'the message is not valid JSON', topic: 'flows', source: 'flows/0@7', index, raw };
}

function entry(v: DeadLetterValue) {
  return { topic: 'flows.rejected', value: v, message: { key: v.source, value: JSON.stringify(v), headers: { reason: v.reason, 'source-topic': v.topic, source: v.source } } };
}

describe('splitUnder', () => {
  it('cuts a flush into runs whose record batch stays within the limit, in order, losing none', () => {
    const entries = Array.from({ length: 500 }, (_, i) => entry(value('x'.repeat(i % 97), i)));
    const limit = 4096;
    const chunks = splitUnder(entries, limit);
    expect(chunks.flat()).toEqual(entries);
    for (const c of chunks) expect(61 + c.reduce((n, e) => n + recordBytes(e.message), 0)).toBeLessThanOrEqual(limit);
    // Full runs: no two neighbours would have fitted together.
    for (let i = 1; i < chunks.length; i++) {
      const prev = chunks[i - 1]!.reduce((n, e) => n + recordBytes(e.message), 0);
      expect(61 + prev + recordBytes(chunks[i]![0]!.message)).toBeGreaterThan(limit);
    }
  });

  it('sends a reject too big alone as an excerpt of its text with its reason, source and original length', () => {
    const big = entry(value('"'.repeat(20_000)));
    const [only, ...rest] = splitUnder([big], 16 * 1024);
    expect(rest).toEqual([]);
    expect(only).toHaveLength(1);
    const sent = JSON.parse(String(only![0]!.message.value)) as DeadLetterValue;
    expect(sent).toEqual({ ...value('"'.repeat(EXCERPT_MAX_CHARS)), raw_chars: 20_000 });
    expect(only![0]!.message.headers).toEqual({ reason: 'invalid_json', 'source-topic': 'flows', source: 'flows/0@7' });
  });
});

describe('excerpt', () => {
  it('keeps the longest prefix that fits, never half a surrogate pair', () => {
    const v = value('😀'.repeat(3000));
    const cut = excerpt(v, 1000);
    expect(recordBytes(entry(cut).message)).toBeLessThanOrEqual(1000);
    expect(recordBytes(entry({ ...cut, raw: v.raw.slice(0, cut.raw.length + 2) }).message)).toBeGreaterThan(1000);
    expect(cut.raw.length % 2).toBe(0);
    expect(cut.raw_chars).toBe(6000);
  });
});

describe('toDeadLetterError', () => {
  const protocol = (type: string, retriable: boolean) => new KafkaJSProtocolError({ type, retriable, message: `${type} from the broker`, code: 1 } as unknown as Error);

  it('is final for a broker verdict that kafkajs gave up on at once', () => {
    const cause = protocol('TOPIC_AUTHORIZATION_FAILED', false);
    // As kafkajs' retrier makes it (its typings omit the second argument).
    const Wrapper = KafkaJSNonRetriableError as unknown as new (e: Error, m: { cause: Error }) => Error;
    const err = toDeadLetterError(new Wrapper(cause, { cause }), 'flows.rejected');
    expect({ code: err.code, retriable: err.retriable, topic: err.topic, message: err.message }).toEqual({
      code: 'TOPIC_AUTHORIZATION_FAILED',
      retriable: false,
      topic: 'flows.rejected',
      message: 'TOPIC_AUTHORIZATION_FAILED from the broker',
    });
    expect(toDeadLetterError(protocol('MESSAGE_TOO_LARGE', false), null)).toMatchObject({ code: 'MESSAGE_TOO_LARGE', retriable: false });
  });

  it('is retriable when retries ran out on a passing failure (a broker down, a leader moving)', () => {
    const down = new KafkaJSConnectionError('Connection error: ECONNREFUSED');
    expect(toDeadLetterError(new KafkaJSNumberOfRetriesExceeded(down, { retryCount: 5, retryTime: 100 }), null).retriable).toBe(true);
    const leader = protocol('NOT_LEADER_FOR_PARTITION', true);
    expect(toDeadLetterError(new KafkaJSNumberOfRetriesExceeded(leader, { retryCount: 5, retryTime: 100 }), null)).toMatchObject({ code: 'NOT_LEADER_FOR_PARTITION', retriable: true });
    expect(toDeadLetterError(new Error('socket hang up'), null).retriable).toBe(true);
  });
});
