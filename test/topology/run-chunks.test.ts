import { describe, expect, it } from 'vitest';
import { runToEnd } from '../../src/core/slices.ts';
import { RUN_HEADER_KEY, RunAssembler, runChunkKey, type RunRecords, runRecordsSteps, TornRunError } from '../../src/topology/run-chunks.ts';

/** Bytes 0..n-1 mod 251: every chunk differs from its neighbours. */
const bytesOf = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => i % 251));

const recordsOf = (value: Buffer, publication: string, chunkBytes: number, liveChunks = 0): RunRecords =>
  runToEnd(runRecordsSteps(value, { publication, member: 'leader-1', runId: 'run-000003', liveChunks, chunkBytes }));

/** Offers every record in order; returns the assembled bytes of the last header (or its error). */
function assembleAll(assembler: RunAssembler, records: ReadonlyArray<{ key: string; value: Buffer | null }>): Buffer | Error | null {
  let out: Buffer | Error | null = null;
  for (const r of records) {
    const entry = assembler.offer(r.key, r.value);
    if (entry.kind !== 'header') continue;
    try {
      out = runToEnd(entry.assemble());
    } catch (err) {
      out = err as Error;
    }
  }
  return out;
}

describe('the runs topic in chunks', () => {
  it('cuts a run into chunks of at most chunkBytes, the header last, and assembles the same bytes', () => {
    const value = bytesOf(10_000);
    const { header, records } = recordsOf(value, 'pub-a', 4096);
    expect(records.map((r) => r.key)).toEqual([runChunkKey(0), runChunkKey(1), runChunkKey(2), RUN_HEADER_KEY]);
    expect(header).toMatchObject({ format: 2, publication: 'pub-a', member: 'leader-1', runId: 'run-000003', chunks: 3, bytes: 10_000 });
    // Each chunk is its payload and a prefix of 8 + 2 + 5 + 4 bytes.
    expect(records.slice(0, 3).map((r) => r.value!.length)).toEqual([4096 + 19, 4096 + 19, 1808 + 19]);
    const assembled = assembleAll(new RunAssembler(), records);
    expect(Buffer.isBuffer(assembled) && assembled.equals(value)).toBe(true);
  });

  it('writes tombstones for the chunk keys a larger run left, and the assembler forgets them', () => {
    const assembler = new RunAssembler();
    assembleAll(assembler, recordsOf(bytesOf(20_000), 'big', 2000).records);
    expect(assembler.liveChunks()).toBe(10);
    const small = recordsOf(bytesOf(3000), 'small', 2000, assembler.liveChunks()).records;
    expect(small.map((r) => [r.key, r.value === null])).toEqual([
      ['chunk/0', false],
      ['chunk/1', false],
      ...Array.from({ length: 8 }, (_, i) => [`chunk/${i + 2}`, true]),
      ['latest', false],
    ]);
    const assembled = assembleAll(assembler, small);
    expect(Buffer.isBuffer(assembled) && assembled.equals(bytesOf(3000))).toBe(true);
    expect(assembler.liveChunks()).toBe(2);
  });

  it('never assembles a run with a chunk missing, of another publication, or not matching the hash', () => {
    const { records } = recordsOf(bytesOf(9000), 'pub-b', 3000);
    const missing = assembleAll(new RunAssembler(), records.filter((r) => r.key !== runChunkKey(1)));
    expect(missing).toBeInstanceOf(TornRunError);
    expect((missing as Error).message).toBe('run run-000003 (publication pub-b) lacks 1 of its 3 chunks (1)');

    // Chunk 1 of an earlier publication under the key (the new one's chunk lost): not mixed in.
    const older = recordsOf(bytesOf(9000), 'pub-0', 3000).records;
    const mixed = assembleAll(new RunAssembler(), [older[1]!, records[0]!, records[2]!, records[3]!]);
    expect((mixed as Error).message).toBe('run run-000003 (publication pub-b) lacks 1 of its 3 chunks (1)');

    const corrupted = records.map((r) => ({ ...r, value: r.value === null ? null : Buffer.from(r.value) }));
    const torn = corrupted[2]!.value!;
    torn[30] = torn[30]! ^ 1;
    const bad = assembleAll(new RunAssembler(), corrupted);
    expect(bad).toBeInstanceOf(TornRunError);
    expect((bad as Error).message).toBe("run run-000003 (publication pub-b): its chunks do not match the header's SHA-256");

    // A chunk cut short: the lengths disagree before anything is hashed.
    const cut = records.map((r, i) => (i === 0 ? { ...r, value: r.value!.subarray(0, r.value!.length - 1) } : r));
    expect((assembleAll(new RunAssembler(), cut) as Error).message).toBe('run run-000003 (publication pub-b): its chunks hold 8999 bytes, its header 9000');
  });

  it('uses a publication\'s chunks once: a header read again (or another header) does not assemble them twice', () => {
    const assembler = new RunAssembler();
    const { records } = recordsOf(bytesOf(5000), 'pub-c', 2000);
    expect(Buffer.isBuffer(assembleAll(assembler, records))).toBe(true);
    expect(assembleAll(assembler, [records[records.length - 1]!])).toBeInstanceOf(TornRunError);
  });

  it('reads a whole run in one record (format 1) as it is, and names what it cannot read', () => {
    const assembler = new RunAssembler();
    const whole = Buffer.from('ATCPARTS and the rest of a document');
    expect(assembler.offer('latest', whole)).toEqual({ kind: 'whole', value: whole });
    expect(assembler.offer('chunk/x', Buffer.from('x'))).toEqual({ kind: 'unreadable', reason: 'a chunk key that names no index: chunk/x' });
    expect(assembler.offer('chunk/0', Buffer.from('not a chunk'))).toEqual({ kind: 'unreadable', reason: 'a chunk record without the chunk magic' });
    const header = recordsOf(bytesOf(10), 'pub-d', 4).records.at(-1)!;
    const otherFormat = Buffer.from(header.value!.toString('latin1').replace('"format":2', '"format":3'), 'latin1');
    expect(assembler.offer('latest', otherFormat)).toEqual({ kind: 'unreadable', reason: 'a runs header of another format: Invalid input: expected 2' });
    // A chunk under chunk 1's key that says it is chunk 0.
    const chunk0 = recordsOf(bytesOf(10), 'pub-e', 4).records[0]!;
    expect(assembler.offer(runChunkKey(1), chunk0.value)).toEqual({ kind: 'unreadable', reason: 'chunk 0 under the key of chunk 1' });
  });
});
