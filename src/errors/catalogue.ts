/**
 * The catalogue of the service's own errors (start-up, state files, Kafka), beside the two catalogues that
 * already face the outside: the HTTP API's error codes (src/http/errors.ts) and the rejection reasons of
 * input records (src/contract/rejections.ts). A code is stable: operators grep logs and alert on it, so
 * one is added, never renamed. docs/errors.md lists all three catalogues.
 */

export const SERVICE_ERROR_CODES = {
  config_invalid: 'a setting of the environment (or .env) is missing, malformed or out of range',
  env_file_invalid: 'the .env file cannot be read or holds a line that is not NAME=value',
  state_dir_locked: 'another process holds STATE_DIR',
  snapshot_file_invalid: 'a snapshot file is damaged, cut short, of an unknown format or of unexpected content',
  snapshot_incompatible: 'a snapshot was taken with other window settings or topics, or lies in the future',
  fleet_codec_invalid: 'the encoded fleet state inside a snapshot cannot be decoded',
  kafka_connect_failed: 'the service cannot connect to Kafka at start-up (brokers, credentials, TLS)',
  dead_letter_failed: 'rejected records cannot be written to their dead-letter topic',
} as const;
export type ServiceErrorCode = keyof typeof SERVICE_ERROR_CODES;

/**
 * An error of the catalogue. `errorCode` is the catalogue's code; an error that already carried a finer
 * `code` of its own (Kafka's error name, a codec fault) keeps it, which is why the two are apart.
 * A wrapping error passes the error it wraps as `cause`, so that the log shows the whole chain.
 */
export class ServiceError extends Error {
  constructor(
    readonly errorCode: ServiceErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ServiceError';
  }
}
