import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeSnapshotFile, encodeSnapshotFile, SnapshotFileError } from '../../src/snapshots/snapshot-file.ts';
import { SnapshotStore } from '../../src/snapshots/snapshot-store.ts';

const doc = { kind: 'x', counts: new Map([['a', 1]]), data: new Float64Array([1.5, Number.NaN, -0]), nested: { ids: ['vm-1', 'vm-2'], at: 12 } };

describe('snapshot file format', () => {
  it('round-trips typed arrays, maps and nested objects exactly', () => {
    const back = decodeSnapshotFile(encodeSnapshotFile(doc)) as typeof doc;
    expect(back).toEqual(doc);
    expect(back.data).toBeInstanceOf(Float64Array);
    expect(Object.is(back.data[2], -0)).toBe(true);
  });

  it('names what is wrong with a damaged file instead of decoding it', () => {
    const bytes = encodeSnapshotFile(doc);
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 3] = (flipped[flipped.length - 3] ?? 0) ^ 0xff;
    expect(() => decodeSnapshotFile(flipped)).toThrow(new SnapshotFileError('checksum mismatch (corrupted file)'));
    expect(() => decodeSnapshotFile(bytes.subarray(0, bytes.length - 1))).toThrow(/^truncated or padded: header says \d+ payload bytes, file has \d+$/);
    expect(() => decodeSnapshotFile(Buffer.from('{"json": true}'))).toThrow('not a snapshot file (bad magic)');
    const future = Buffer.from(bytes);
    future.writeUInt32LE(9, 8);
    expect(() => decodeSnapshotFile(future)).toThrow('snapshot format version 9, this build reads versions 1 to 3');
  });
});

describe('SnapshotStore', () => {
  it('writes atomically under increasing names, keeps the latest few, and lists newest first', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'snapshots-'));
    const store = new SnapshotStore(dir, 2);
    for (let i = 1; i <= 4; i++) await store.save(Buffer.from(`snapshot ${i}`));
    expect((await readdir(dir)).sort()).toEqual(['snapshot-00000003.bin', 'snapshot-00000004.bin']);
    const seen: string[] = [];
    for await (const s of store.newestFirst()) seen.push(`${s.sequence}:${s.bytes.toString()}`);
    expect(seen).toEqual(['4:snapshot 4', '3:snapshot 3']);
    // A new store (a restart) continues the sequence instead of overwriting the newest file.
    await new SnapshotStore(dir, 2).save(Buffer.from('after restart'));
    expect(await readFile(join(dir, 'snapshot-00000005.bin'), 'utf8')).toBe('after restart');
  });

  it('ignores temporary files a crash left behind and lists nothing for a missing directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'snapshots-'));
    await writeFile(join(dir, '.snapshot-00000009.bin.123.tmp'), 'half');
    const store = new SnapshotStore(dir);
    const seen: number[] = [];
    for await (const s of store.newestFirst()) seen.push(s.sequence);
    expect(seen).toEqual([]);
    for await (const s of new SnapshotStore(join(dir, 'missing')).newestFirst()) seen.push(s.sequence);
    expect(seen).toEqual([]);
  });
});
