/**
 * Whether this kafkajs keeps records of aborted transactions from read_committed consumers. kafkajs 2.2.4
 * (its last release) marks one aborted transaction per record, where Kafka's own client marks every one
 * begun before it: a fetch that starts inside two aborted transactions delivers the first record of the
 * second. The route's by-VM records of transactions a rebalance aborted then reach the windows beside their
 * committed retry, counted twice (docs/scale-out.md, "Rebalance storms"). `npm ci` fixes the file
 * (scripts/patch-kafkajs.mjs, postinstall); an install that skipped scripts must not run with it unfixed.
 */
import { createRequire } from 'node:module';

interface FilterMessage {
  offset: string;
  isControlRecord: boolean;
  batchContext: { producerId: string; inTransaction: boolean };
}
type FilterAbortedMessages = (input: { messages: FilterMessage[]; abortedTransactions: { producerId: string; firstOffset: string }[] }) => FilterMessage[];

/** Runs kafkajs' own filter on two aborted transactions begun before a fetch's first record, and a committed one. */
export function kafkajsSkipsAbortedTransactions(): boolean {
  const filter = createRequire(import.meta.url)('kafkajs/src/consumer/filterAbortedMessages.js') as FilterAbortedMessages;
  const message = (offset: number, producerId: string): FilterMessage => ({ offset: String(offset), isControlRecord: false, batchContext: { producerId, inTransaction: true } });
  const kept = filter({
    messages: [message(20, 'B'), message(21, 'A'), message(22, 'B'), message(23, 'C')],
    abortedTransactions: [
      { producerId: 'A', firstOffset: '10' },
      { producerId: 'B', firstOffset: '15' },
    ],
  });
  return kept.length === 1 && kept[0]!.offset === '23';
}

let checked = false;

/** Throws, with what to do, when the installed kafkajs lets aborted transactions through. */
export function assertKafkajsSkipsAbortedTransactions(): void {
  if (checked) return;
  if (!kafkajsSkipsAbortedTransactions())
    throw new Error('the installed kafkajs delivers records of aborted transactions to read_committed consumers (kafkajs 2.2.4 unfixed): run `npm ci` without --ignore-scripts, or `node scripts/patch-kafkajs.mjs`');
  checked = true;
}
