/** Models and the run history are written like snapshots: temporary file, fsync, rename, fsync of the folder. */
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { FileHistoryStore } from '../../src/model-store/history-store.ts';
import { FileModelStore } from '../../src/model-store/model-store.ts';
import { historyDocument } from '../../src/runs/history.ts';
import type { ModelDocument } from '../../src/runs/model-document.ts';
import { writeFileAtomically } from '../../src/storage/atomic-file.ts';

vi.mock(import('../../src/storage/atomic-file.ts'), async (importOriginal) => {
  const original = await importOriginal();
  return { ...original, writeFileAtomically: vi.fn(original.writeFileAtomically) };
});

describe('model and run-history writes', () => {
  it('are durable (fsynced) atomic writes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'durable-'));
    const write = vi.mocked(writeFileAtomically);
    write.mockClear();
    // The store writes whatever document it is given: the model's shape is tested elsewhere.
    const modelPath = await new FileModelStore(dir).save({ schema: 'test' } as unknown as ModelDocument);
    const historyPath = await new FileHistoryStore(dir).save(historyDocument([], 0));
    expect(write.mock.calls.map(([path, , options]) => [path, options])).toEqual([
      [modelPath, { durable: true }],
      [historyPath, { durable: true }],
    ]);
  });

  it('the model store clears the temporary files of a writer killed mid-write', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'durable-'));
    await writeFile(join(dir, '.model-00000002.json.77.tmp'), '{"half');
    await new FileModelStore(dir).save({ schema: 'test' } as unknown as ModelDocument);
    expect(await readdir(dir)).toEqual(['model-00000001.json']);
  });
});
