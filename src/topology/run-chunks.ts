/**
 * The runs topic's records in chunks (format 2, docs/CONTRACT.md "Internal topics"): a published run of
 * 11.6k VMs is 13.7 MB, and kafkajs encodes, checksums and compresses a record batch in one block on the
 * event loop (0.2 to 0.3 s on the leader, which serves reads meanwhile). So the leader writes the run's bytes
 * as chunks of at most RUN_CHUNK_BYTES, each in a batch of its own, then a small header with their count,
 * length and SHA-256, all in one transaction. Readers keep the chunks and assemble the run when its header
 * arrives: a run with a chunk missing, of another publication or not matching the hash is never served.
 *
 * Keys: the header takes `latest`, the key of the single record of format 1, so that compaction drops that
 * record once a header is written; chunk i takes `chunk/<i>`, overwritten by the next run, and the chunks a
 * smaller run leaves beyond its count get tombstones in its transaction. A record of format 1 (a whole
 * document under `latest`) is still read as it was: a member of this version reads an older leader's runs.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

/** Largest chunk of a run's bytes (its record is a few dozen bytes more). */
export const RUN_CHUNK_BYTES = 512 * 1024;

/** The header's key: the single record's key of format 1, which it replaces under compaction. */
export const RUN_HEADER_KEY = 'latest';

const CHUNK_KEY_PREFIX = 'chunk/';
export const runChunkKey = (index: number): string => `${CHUNK_KEY_PREFIX}${index}`;

/** The format a header names: 2 (format 1 was the whole run in one record, with no header). */
export const RUNS_RECORD_FORMAT = 2;

const HEADER_MAGIC = Buffer.from('ATCRUNHD', 'latin1');
const CHUNK_MAGIC = Buffer.from('ATCRUNCK', 'latin1');
/** A publication's id in a chunk: ASCII, at most this long (a UUID is 36). */
const MAX_PUBLICATION_BYTES = 64;
/** Bytes hashed between two yields of the assembly or the encoding: about a millisecond, idle. */
const HASH_BYTES_PER_STEP = RUN_CHUNK_BYTES;

export const RunHeaderShape = z.object({
  format: z.literal(RUNS_RECORD_FORMAT),
  /** This publication's id: every chunk of it names it. */
  publication: z.string().min(1).max(MAX_PUBLICATION_BYTES),
  /** The member that published it (it does not read its own runs back). */
  member: z.string().min(1).max(200),
  runId: z.string().max(200).nullable(),
  chunks: z.number().int().min(1).max(1_000_000),
  bytes: z.number().int().min(0),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type RunHeader = z.infer<typeof RunHeaderShape>;

/** A record to write to the runs topic (value null: a tombstone). */
export interface RunsTopicRecord {
  key: string;
  value: Buffer | null;
}

export interface RunRecords {
  header: RunHeader;
  /** The chunks in order, then the tombstones of keys left by a larger run, then the header: one send each. */
  records: RunsTopicRecord[];
}

/**
 * `value` (an encoded PublishedRun) as the records of one publication, hashed in steps of HASH_BYTES_PER_STEP.
 * `liveChunks`: how many chunk keys may hold a value on the topic now (the largest run's count): those past
 * this run's count get tombstones.
 */
export function* runRecordsSteps(
  value: Buffer,
  o: { publication: string; member: string; runId: string | null; liveChunks: number; chunkBytes?: number },
): Generator<void, RunRecords, void> {
  const chunkBytes = o.chunkBytes ?? RUN_CHUNK_BYTES;
  if (!(Number.isInteger(chunkBytes) && chunkBytes >= 1)) throw new RangeError(`chunkBytes must be a positive integer, got ${chunkBytes}`);
  const id = Buffer.from(o.publication, 'latin1');
  if (id.length > MAX_PUBLICATION_BYTES || o.publication.length === 0) throw new RangeError(`a publication id has 1 to ${MAX_PUBLICATION_BYTES} characters`);
  const count = Math.max(1, Math.ceil(value.length / chunkBytes));
  const hash = createHash('sha256');
  const records: RunsTopicRecord[] = [];
  for (let i = 0; i < count; i++) {
    const payload = value.subarray(i * chunkBytes, Math.min(value.length, (i + 1) * chunkBytes));
    hash.update(payload);
    const prefix = Buffer.alloc(CHUNK_MAGIC.length + 2 + id.length + 4);
    CHUNK_MAGIC.copy(prefix, 0);
    prefix.writeUInt16LE(id.length, CHUNK_MAGIC.length);
    id.copy(prefix, CHUNK_MAGIC.length + 2);
    prefix.writeUInt32LE(i, CHUNK_MAGIC.length + 2 + id.length);
    records.push({ key: runChunkKey(i), value: Buffer.concat([prefix, payload]) });
    yield;
  }
  for (let i = count; i < o.liveChunks; i++) records.push({ key: runChunkKey(i), value: null });
  const header: RunHeader = { format: RUNS_RECORD_FORMAT, publication: o.publication, member: o.member, runId: o.runId, chunks: count, bytes: value.length, sha256: hash.digest('hex') };
  records.push({ key: RUN_HEADER_KEY, value: Buffer.concat([HEADER_MAGIC, Buffer.from(JSON.stringify(header))]) });
  return { header, records };
}

const startsWith = (value: Buffer, magic: Buffer): boolean => value.length >= magic.length && value.subarray(0, magic.length).equals(magic);

/** What a record of the runs topic is to a reader. */
export type RunsTopicEntry =
  /** A chunk kept (or a tombstone taken): nothing to serve yet. */
  | { kind: 'chunk' }
  /** A publication's header, with the assembly of its chunks (steps: hashing as it goes; it throws TornRunError). */
  | { kind: 'header'; header: RunHeader; assemble: () => Generator<void, Buffer, void> }
  /** A whole run in one record (format 1, an earlier version's leader). */
  | { kind: 'whole'; value: Buffer }
  /** Not a record of any format this version reads. */
  | { kind: 'unreadable'; reason: string };

/** A publication that cannot be assembled whole: never served. */
export class TornRunError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TornRunError';
  }
}

/**
 * A reader's side: the chunks read so far, by index, until the header of their publication arrives. Chunks
 * of other publications are kept only until overwritten (their key's next value) or tombstoned.
 */
export class RunAssembler {
  private readonly chunks = new Map<number, { publication: string; payload: Buffer }>();
  /** Chunk keys with a value on the topic as read so far (not tombstoned). */
  private readonly live = new Set<number>();

  /** How many chunk keys may hold a value on the topic: a smaller run tombstones those past its count. */
  liveChunks(): number {
    let n = 0;
    for (const i of this.live) n = Math.max(n, i + 1);
    return n;
  }

  /** Takes the next record of the runs topic (in offset order). */
  offer(key: string | null, value: Buffer | null): RunsTopicEntry {
    if (key?.startsWith(CHUNK_KEY_PREFIX)) {
      const index = Number(key.slice(CHUNK_KEY_PREFIX.length));
      if (!Number.isInteger(index) || index < 0) return { kind: 'unreadable', reason: `a chunk key that names no index: ${key}` };
      if (value === null) {
        this.live.delete(index);
        this.chunks.delete(index);
        return { kind: 'chunk' };
      }
      this.live.add(index);
      this.chunks.delete(index);
      const chunk = parseChunk(value);
      if (typeof chunk === 'string') return { kind: 'unreadable', reason: chunk };
      if (chunk.index !== index) return { kind: 'unreadable', reason: `chunk ${chunk.index} under the key of chunk ${index}` };
      this.chunks.set(index, { publication: chunk.publication, payload: chunk.payload });
      return { kind: 'chunk' };
    }
    if (value === null) return { kind: 'chunk' };
    if (!startsWith(value, HEADER_MAGIC)) return startsWith(value, CHUNK_MAGIC) ? { kind: 'unreadable', reason: `a chunk under the key ${key}` } : { kind: 'whole', value };
    let header: RunHeader;
    try {
      const parsed = RunHeaderShape.safeParse(JSON.parse(value.subarray(HEADER_MAGIC.length).toString('utf8')));
      if (!parsed.success) return { kind: 'unreadable', reason: `a runs header of another format: ${parsed.error.issues[0]?.message ?? 'invalid'}` };
      header = parsed.data;
    } catch {
      return { kind: 'unreadable', reason: 'a runs header that is not JSON' };
    }
    // Taken now: chunks read after the header belong to a later publication.
    const taken: Buffer[] = [];
    const missing: number[] = [];
    for (let i = 0; i < header.chunks; i++) {
      const c = this.chunks.get(i);
      if (c === undefined || c.publication !== header.publication) missing.push(i);
      else taken.push(c.payload);
    }
    for (let i = 0; i < header.chunks; i++) if (this.chunks.get(i)?.publication === header.publication) this.chunks.delete(i);
    return { kind: 'header', header, assemble: () => assembleSteps(header, taken, missing) };
  }
}

function* assembleSteps(header: RunHeader, taken: Buffer[], missing: number[]): Generator<void, Buffer, void> {
  if (missing.length > 0) {
    const listed = missing.slice(0, 5).join(', ');
    throw new TornRunError(`run ${header.runId ?? '?'} (publication ${header.publication}) lacks ${missing.length} of its ${header.chunks} chunks (${listed}${missing.length > 5 ? ', ...' : ''})`);
  }
  const bytes = taken.reduce((n, c) => n + c.length, 0);
  if (bytes !== header.bytes) throw new TornRunError(`run ${header.runId ?? '?'} (publication ${header.publication}): its chunks hold ${bytes} bytes, its header ${header.bytes}`);
  const hash = createHash('sha256');
  // The document decoder reads one buffer: the chunks are copied into it a step at a time (Buffer.concat
  // of 13.7 MB at once held a reader's loop up to 16 ms at load 37). Not zero-filled: every byte is copied.
  const out = taken.length === 1 ? taken[0]! : Buffer.allocUnsafe(bytes);
  let written = 0;
  for (const chunk of taken) {
    for (let at = 0; at < chunk.length; at += HASH_BYTES_PER_STEP) {
      const piece = chunk.subarray(at, Math.min(chunk.length, at + HASH_BYTES_PER_STEP));
      hash.update(piece);
      if (out !== chunk) written += piece.copy(out, written);
      yield;
    }
  }
  if (hash.digest('hex') !== header.sha256) throw new TornRunError(`run ${header.runId ?? '?'} (publication ${header.publication}): its chunks do not match the header's SHA-256`);
  return out;
}

function parseChunk(value: Buffer): { publication: string; index: number; payload: Buffer } | string {
  if (!startsWith(value, CHUNK_MAGIC)) return 'a chunk record without the chunk magic';
  const at = CHUNK_MAGIC.length;
  if (value.length < at + 2) return 'a chunk record cut short';
  const idLength = value.readUInt16LE(at);
  if (idLength < 1 || idLength > MAX_PUBLICATION_BYTES || value.length < at + 2 + idLength + 4) return 'a chunk record cut short';
  const publication = value.subarray(at + 2, at + 2 + idLength).toString('latin1');
  const index = value.readUInt32LE(at + 2 + idLength);
  return { publication, index, payload: value.subarray(at + 2 + idLength + 4) };
}
