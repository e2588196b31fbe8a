/**
 * Run by `npm install` / `npm ci` (postinstall): fixes kafkajs 2.2.4's filter of aborted transactions, which
 * lets records of an aborted transaction through to a read_committed consumer when more than one aborted
 * transaction began before the record (a fetch that starts inside several aborted transactions: after a
 * seek, a rejoin, or at a fetch boundary). It marks one aborted transaction per record where Kafka's own
 * client marks every one begun before it; the route's by-VM records of transactions a rebalance aborted were
 * applied to the windows as well as their committed retry (docs/scale-out.md, "Rebalance storms").
 * kafkajs is no longer released: the one-word fix is applied here, and the service checks it at start
 * (src/kafka/aborted-transactions.ts).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let file;
try {
  file = require.resolve('kafkajs/src/consumer/filterAbortedMessages.js');
} catch {
  // kafkajs not installed (a partial install): nothing to fix.
  process.exit(0);
}
const ORIGINAL = `    if (
      remainingAbortedTransactions.length &&
      Long.fromValue(message.offset).gte(remainingAbortedTransactions[0].firstOffset)
    ) {`;
const FIXED = `    while (
      remainingAbortedTransactions.length &&
      Long.fromValue(message.offset).gte(remainingAbortedTransactions[0].firstOffset)
    ) {`;
const text = readFileSync(file, 'utf8');
if (text.includes(FIXED)) process.exit(0);
if (!text.includes(ORIGINAL)) {
  console.error(`${file}: not the kafkajs 2.2.4 filter this script fixes; check whether it still lets aborted transactions through (src/kafka/aborted-transactions.ts)`);
  process.exit(1);
}
writeFileSync(file, text.replace(ORIGINAL, FIXED));
console.log(`patched ${file}: every aborted transaction begun before a record is skipped (kafkajs 2.2.4 skipped one)`);
