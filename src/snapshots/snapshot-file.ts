/**
 * The bytes of one service snapshot: a fixed header (magic, format version, SHA-256 and length of the
 * payload) and a payload in V8's structured-serialisation format, which keeps typed arrays, Maps and
 * nested objects exact and which Node documents as safe to store (newer versions read older data).
 * The checksum is verified before anything is deserialised, so a torn or corrupted file is reported as
 * such instead of decoding into something half-right.
 */
import { createHash } from 'node:crypto';
import { deserialize, serialize } from 'node:v8';
import { inSlices, runToEnd } from '../core/slices.ts';
import { ServiceError } from '../errors/catalogue.ts';

const MAGIC = Buffer.from('ATCSNAP\0', 'latin1');
/**
 * 2 added the Kafka log identity (cluster id, partition extents), 3 the security groups' connection log;
 * files of versions 1 and 2 still load, without them.
 */
const SNAPSHOT_FORMAT_VERSION = 3;
const OLDEST_READABLE_VERSION = 1;
/** magic(8) + version(4) + reserved(4) + sha256(32) + payload length(8). */
const HEADER_BYTES = 56;

export class SnapshotFileError extends ServiceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('snapshot_file_invalid', message, options);
    this.name = 'SnapshotFileError';
  }
}

/** `version`: only for tests that write an older format. */
export function encodeSnapshotFile(document: unknown, version: number = SNAPSHOT_FORMAT_VERSION): Buffer {
  return runToEnd(encodeSnapshotFileSteps(document, version));
}

/**
 * The same bytes, the checksum taken HASH_BYTES_PER_STEP bytes at a time between yields: a scale-out member
 * encodes a partition's checkpoint (5 MB at 2k VMs) while it serves reads, and its SHA-256 at once held the
 * loop for 15-40 ms. The serialisation is one step: the checkpoint's windows are bytes already (a copy).
 */
export function encodeSnapshotFileInSlices(document: unknown): Promise<Buffer> {
  return inSlices(encodeSnapshotFileSteps(document, SNAPSHOT_FORMAT_VERSION), SNAPSHOT_SLICE_MS);
}

/** Bytes of the checksum per step: about a millisecond on this machine, idle. */
export const HASH_BYTES_PER_STEP = 512 * 1024;
const SNAPSHOT_SLICE_MS = 4;

/** The encoding as steps: the serialisation, the checksum in parts of HASH_BYTES_PER_STEP, the header and the copy. */
export function* encodeSnapshotFileSteps(document: unknown, version: number): Generator<void, Buffer, void> {
  const payload = serialize(document);
  yield;
  const hash = createHash('sha256');
  for (let at = 0; at < payload.length; at += HASH_BYTES_PER_STEP) {
    hash.update(payload.subarray(at, at + HASH_BYTES_PER_STEP));
    yield;
  }
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(version, 8);
  hash.digest().copy(header, 16);
  header.writeBigUInt64LE(BigInt(payload.length), 48);
  return Buffer.concat([header, payload]);
}

/** The document inside; throws SnapshotFileError naming what is wrong. The caller checks its shape. */
export function decodeSnapshotFile(bytes: Uint8Array): unknown {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < HEADER_BYTES || !buf.subarray(0, 8).equals(MAGIC)) throw new SnapshotFileError('not a snapshot file (bad magic)');
  const version = buf.readUInt32LE(8);
  if (version < OLDEST_READABLE_VERSION || version > SNAPSHOT_FORMAT_VERSION) {
    throw new SnapshotFileError(`snapshot format version ${version}, this build reads versions ${OLDEST_READABLE_VERSION} to ${SNAPSHOT_FORMAT_VERSION}`);
  }
  const length = buf.readBigUInt64LE(48);
  if (length !== BigInt(buf.length - HEADER_BYTES)) {
    throw new SnapshotFileError(`truncated or padded: header says ${length} payload bytes, file has ${buf.length - HEADER_BYTES}`);
  }
  const payload = buf.subarray(HEADER_BYTES);
  const digest = createHash('sha256').update(payload).digest();
  if (!digest.equals(buf.subarray(16, 48))) throw new SnapshotFileError('checksum mismatch (corrupted file)');
  try {
    return deserialize(payload);
  } catch (err) {
    throw new SnapshotFileError(`payload cannot be deserialised: ${(err as Error).message}`, { cause: err });
  }
}
