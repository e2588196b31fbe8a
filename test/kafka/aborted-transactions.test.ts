import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { kafkajsSkipsAbortedTransactions } from '../../src/kafka/aborted-transactions.ts';

type Filter = (input: { messages: unknown[]; abortedTransactions: unknown[] }) => { offset: string }[];
const filter = createRequire(import.meta.url)('kafkajs/src/consumer/filterAbortedMessages.js') as Filter;
const record = (offset: number, producerId: string, inTransaction = true) => ({ offset: String(offset), isControlRecord: false, batchContext: { producerId, inTransaction } });
const abortMarker = (offset: number, producerId: string) => ({
  offset: String(offset),
  isControlRecord: true,
  // kafkajs reads a control record's type from its key: version 0, type 0 (abort).
  key: Buffer.from([0, 0, 0, 0]),
  batchContext: { producerId, inTransaction: true, isControlBatch: true },
});

describe('kafkajs read_committed filter, as installed (scripts/patch-kafkajs.mjs)', () => {
  it('skips every aborted transaction begun before a fetch, not only the first', () => {
    const kept = filter({
      messages: [record(20, 'B'), record(21, 'A'), record(22, 'B'), record(23, 'C')],
      abortedTransactions: [
        { producerId: 'A', firstOffset: '10' },
        { producerId: 'B', firstOffset: '15' },
      ],
    });
    expect(kept.map((m) => m.offset)).toEqual(['23']);
    expect(kafkajsSkipsAbortedTransactions()).toBe(true);
  });

  it('delivers a producer again after its abort marker, and records outside transactions always', () => {
    const kept = filter({
      messages: [record(10, 'A'), record(11, 'B', false), abortMarker(12, 'A'), record(13, 'A'), record(14, 'B', false)],
      abortedTransactions: [{ producerId: 'A', firstOffset: '10' }],
    });
    expect(kept.map((m) => m.offset)).toEqual(['11', '12', '13', '14']);
  });
});
