/**
 * The service's pino logger as the Kafka modules' KafkaLogger, so that broker outages and dead-letter
 * trouble are lines of the service log. pino's methods need their logger as `this`: they are called
 * through it, not passed around bare.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { KafkaLogger } from '../kafka/options.ts';

export function kafkaLoggerOf(log: FastifyBaseLogger): KafkaLogger {
  return {
    debug: (fields, msg) => log.debug(fields, msg),
    info: (fields, msg) => log.info(fields, msg),
    warn: (fields, msg) => log.warn(fields, msg),
    error: (fields, msg) => log.error(fields, msg),
  };
}
