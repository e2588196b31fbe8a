/** Every error of the catalogue carries its stable code and keeps the error it wraps. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EnvFileError, loadEnvFile } from '../../src/config/env-file.ts';
import { KafkaEnvError, parseKafkaEnv } from '../../src/config/kafka-settings.ts';
import { ConfigError, loadServiceConfig } from '../../src/config/service-config.ts';
import { SERVICE_ERROR_CODES, ServiceError } from '../../src/errors/catalogue.ts';
import { decodeFleetState, FleetCodecError } from '../../src/fleet/fleet-codec.ts';
import { toDeadLetterError } from '../../src/kafka/dead-letter.ts';
import { decodeSnapshotFile, encodeSnapshotFile, SnapshotFileError } from '../../src/snapshots/snapshot-file.ts';
import { acquireStateLock, StateDirLockedError } from '../../src/storage/state-lock.ts';
import { defaultWindowConfig } from '../../src/windows/window-config.ts';

/** The error `fn` throws. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('nothing thrown');
}

describe('the service error catalogue', () => {
  it('gives each kind of error its code, and a finer code where it had one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'catalogue-'));
    writeFileSync(join(dir, '.env'), 'PORT=1\nAPI KEYS\nHOST=0.0.0.0\n');
    const lock = acquireStateLock(join(dir, 'state'));
    const damaged = encodeSnapshotFile({ a: 1 });
    damaged[damaged.length - 1]! ^= 0xff;
    const errors = [
      thrown(() => loadServiceConfig({ PORT: 'x' })),
      thrown(() => parseKafkaEnv({ KAFKA_BROKERS: 'x' })),
      thrown(() => loadEnvFile(join(dir, '.env'), {})),
      thrown(() => acquireStateLock(join(dir, 'state'))),
      thrown(() => decodeSnapshotFile(damaged)),
      thrown(() => decodeFleetState(new Uint8Array(4), defaultWindowConfig)),
      toDeadLetterError(Object.assign(new Error('denied'), { type: 'TOPIC_AUTHORIZATION_FAILED', retriable: false }), 'flows.rejected'),
    ];
    lock.release();
    expect(errors.map((e) => e instanceof ServiceError && e.errorCode)).toEqual([
      'config_invalid',
      'config_invalid',
      'env_file_invalid',
      'state_dir_locked',
      'snapshot_file_invalid',
      'fleet_codec_invalid',
      'dead_letter_failed',
    ]);
    expect(errors.map((e) => (e as Error).constructor)).toEqual([ConfigError, KafkaEnvError, EnvFileError, StateDirLockedError, SnapshotFileError, FleetCodecError, errors[6]!.constructor]);
    expect([(errors[5] as FleetCodecError).code, (errors[6] as { code: string }).code]).toEqual(['truncated', 'TOPIC_AUTHORIZATION_FAILED']);
    for (const e of errors) expect(SERVICE_ERROR_CODES).toHaveProperty((e as ServiceError).errorCode);
  });

  it('keeps the wrapped error as cause', () => {
    const root = Object.assign(new Error('denied'), { type: 'TOPIC_AUTHORIZATION_FAILED', retriable: false });
    const wrapper = new Error('wrapped', { cause: root });
    expect(toDeadLetterError(wrapper, null).cause).toBe(wrapper);
    const wrapped = new ServiceError('kafka_connect_failed', 'cannot connect', { cause: root });
    expect([wrapped.cause, wrapped.message, wrapped.errorCode]).toEqual([root, 'cannot connect', 'kafka_connect_failed']);
  });
});
