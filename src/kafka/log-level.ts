/**
 * The level a kafkajs log line is given in the service log. kafkajs logs at error (50) the protocol errors it
 * then handles itself: CONCURRENT_TRANSACTIONS when a new partition owner's InitProducerId fences the former
 * one or an AddPartitionsToTxn meets a fence under way, "The group is rebalancing" on a heartbeat (it rejoins),
 * "The coordinator is loading" (it asks again). Operators page on error lines, and these are retried: they
 * go out at warn, with the same fields. A failure kafkajs gives up on still reaches the caller, which logs
 * it at error; so do kafkajs' own lines that end an attempt (a consumer's "Crash: ...", "Restarting ...").
 */
import { createRequire } from 'node:module';
import { logLevel } from 'kafkajs';

interface ProtocolErrorEntry {
  type: string;
  retriable: boolean;
  message: string;
}

/** Handled by kafkajs although its table marks them not retriable: the consumer rejoins the group. */
const HANDLED_NOT_RETRIABLE = new Set(['REBALANCE_IN_PROGRESS']);

/**
 * kafkajs' own table of protocol errors (its messages are what its log lines carry; the types are not in
 * them). Not among its typed exports: read from the package, which ships its sources.
 */
function protocolErrors(): readonly ProtocolErrorEntry[] {
  let mod: unknown;
  try {
    mod = createRequire(import.meta.url)('kafkajs/src/protocol/error.js');
  } catch {
    // A kafkajs that no longer ships the file: every error line stays at error, as kafkajs gives it.
    return [];
  }
  const codes = (mod as { errorCodes?: unknown }).errorCodes;
  if (!Array.isArray(codes)) return [];
  return codes.filter(
    (e): e is ProtocolErrorEntry =>
      typeof e === 'object' && e !== null && typeof (e as ProtocolErrorEntry).type === 'string' && typeof (e as ProtocolErrorEntry).message === 'string' && typeof (e as ProtocolErrorEntry).retriable === 'boolean',
  );
}

/** The messages of the protocol errors kafkajs retries (or rejoins after), by message: what a log line names. */
export const RETRIED_PROTOCOL_ERRORS: ReadonlyMap<string, string> = new Map(
  protocolErrors()
    .filter((e) => e.retriable || HANDLED_NOT_RETRIABLE.has(e.type))
    .map((e) => [e.message, e.type]),
);

/**
 * The protocol error a kafkajs error line reports as retried, or null: a response's error (`Response
 * <api>` with `error`), a producer's send ("Failed to send messages: <message>", or the message alone), a
 * broker pool's retried request (the message alone).
 */
export function retriedProtocolError(message: string, fields: Readonly<Record<string, unknown>>): string | null {
  if (message.startsWith('Response ') && typeof fields.error === 'string') return RETRIED_PROTOCOL_ERRORS.get(fields.error) ?? null;
  const sent = message.startsWith('Failed to send messages: ') ? message.slice('Failed to send messages: '.length) : message;
  return RETRIED_PROTOCOL_ERRORS.get(sent) ?? null;
}

/** The level to log a kafkajs entry at: its own, but warn for an error line of a protocol error kafkajs retries. */
export function kafkajsLevel(level: logLevel, message: string, fields: Readonly<Record<string, unknown>>): logLevel {
  if (level !== logLevel.ERROR) return level;
  return retriedProtocolError(message, fields) === null ? level : logLevel.WARN;
}
