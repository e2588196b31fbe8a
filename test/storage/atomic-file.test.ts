/** writeFileAtomically leaves no temporary file behind when a write fails, durable or not. */
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { removeLeftoverTempFiles, tempNameOf, writeFileAtomically } from '../../src/storage/atomic-file.ts';
import { SnapshotStore } from '../../src/snapshots/snapshot-store.ts';

describe('writeFileAtomically', () => {
  it.each([false, true])('removes its temporary file when the rename fails (durable: %s)', async (durable) => {
    const dir = await mkdtemp(join(tmpdir(), 'atomic-'));
    // A non-empty folder under the final name: the rename over it fails after the data was written.
    await mkdir(join(dir, 'target.bin', 'inside'), { recursive: true });
    await expect(writeFileAtomically(join(dir, 'target.bin'), Buffer.alloc(4096, 7), { durable })).rejects.toThrow(/EISDIR|ENOTEMPTY|EEXIST/);
    expect((await readdir(dir)).sort()).toEqual(['target.bin']);
  });

  it('removes the temporary files a killed writer left, and only those', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'atomic-'));
    await writeFile(tempNameOf(join(dir, 'snapshot-00000004.bin'), 4242), 'half');
    await writeFile(join(dir, 'snapshot-00000003.bin'), 'whole');
    await writeFile(join(dir, '.other.tmp'), 'not ours');
    expect(await removeLeftoverTempFiles(dir, 'snapshot-')).toBe(1);
    expect((await readdir(dir)).sort()).toEqual(['.other.tmp', 'snapshot-00000003.bin']);
  });

  it('a snapshot store clears leftover temporary files at its first save', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'atomic-'));
    await writeFile(join(dir, '.snapshot-00000009.bin.123.tmp'), 'half of a snapshot');
    await new SnapshotStore(dir).save(Buffer.from('whole'));
    expect(await readdir(dir)).toEqual(['snapshot-00000001.bin']);
  });
});
