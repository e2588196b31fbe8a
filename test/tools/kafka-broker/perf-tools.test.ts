import { describe, expect, it } from 'vitest';
import { parseConsumerPerfOutput, parseProducerPerfOutput } from '../../../tools/kafka-broker/perf-tools.ts';

describe('Kafka perf tool output parsing (real 3.9.1 output)', () => {
  it('parses ProducerPerformance summary', () => {
    const out = [
      '150961 records sent, 30186.2 records/sec (5.76 MB/sec), 900.1 ms avg latency, 1200.0 ms max latency.',
      '200000 records sent, 60938.452163 records/sec (11.62 MB/sec), 1053.49 ms avg latency, 1499.00 ms max latency, 1113 ms 50th, 1467 ms 95th, 1490 ms 99th, 1498 ms 99.9th.',
    ].join('\n');
    const r = parseProducerPerfOutput(out);
    expect(r.records).toBe(200000);
    expect(r.recordsPerSec).toBeCloseTo(60938.452163);
    expect(r.mbPerSec).toBe(11.62);
    expect(r.p99Ms).toBe(1490);
    expect(() => parseProducerPerfOutput('nothing')).toThrow(/no ProducerPerformance summary/);
  });

  it('parses ConsumerPerformance CSV', () => {
    const out = [
      'start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec',
      '2026-11-25 11:53:19:834, 2026-11-25 11:53:20:767, 38.1470, 40.8864, 200000, 214362.2722, 442, 491, 77.6924, 407331.9756',
    ].join('\n');
    const r = parseConsumerPerfOutput(out);
    expect(r.records).toBe(200000);
    expect(r.recordsPerSec).toBeCloseTo(214362.2722);
    expect(r.fetchRecordsPerSec).toBeCloseTo(407331.9756);
    expect(r.rebalanceMs).toBe(442);
  });
});
