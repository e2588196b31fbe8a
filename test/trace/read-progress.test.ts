/** The progress hook of readTraceChunks: bytes consumed so far against the file's size. */
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { readTraceChunks } from '../../src/trace/trace-reader.ts';

async function readWithProgress(path: string): Promise<{ reports: Array<[number, number]>; lines: number }> {
  const reports: Array<[number, number]> = [];
  let lines = 0;
  for await (const chunk of readTraceChunks(path, undefined, (read, size) => reports.push([read, size]))) lines += chunk.lines.length;
  return { reports, lines };
}

// 3 MB of lines that do not compress to nothing: the reader takes 1 MB blocks, so several reports.
const text = Array.from({ length: 30_000 }, (_, i) => `{"topic":"t","value":${i * 7919 % 100_003},"pad":"${'x'.repeat(i % 80)}${i.toString(36)}"}`).join('\n');
const dir = mkdtempSync(join(tmpdir(), 'read-progress-'));

describe('readTraceChunks progress', () => {
  it('reports the bytes of a plain file handed to the splitter, rising to the file size', async () => {
    const path = join(dir, 'plain.jsonl');
    writeFileSync(path, text);
    const { reports, lines } = await readWithProgress(path);
    const size = statSync(path).size;
    expect(lines).toBe(30_000);
    expect(reports.length).toBeGreaterThan(1);
    expect(reports.every(([, s]) => s === size)).toBe(true);
    expect(reports.map(([r]) => r)).toEqual([...reports.map(([r]) => r)].sort((a, b) => a - b));
    expect(reports.at(-1)![0]).toBe(size);
    expect(reports[0]![0]).toBe(1 << 20);
  });

  it('reports the compressed bytes a gzip decoder has taken in, not the read-ahead', async () => {
    const path = join(dir, 'trace.jsonl.gz');
    writeFileSync(path, gzipSync(text, { level: 1 }));
    const { reports, lines } = await readWithProgress(path);
    const size = statSync(path).size;
    expect(lines).toBe(30_000);
    const read = reports.map(([r]) => r);
    expect(read).toEqual([...read].sort((a, b) => a - b));
    // The first decompressed block comes from a fraction of the file, the last from (nearly) all of it.
    expect(read[0]!).toBeLessThan(size / 2);
    expect(read.at(-1)!).toBeGreaterThan(size * 0.9);
    expect(read.at(-1)!).toBeLessThanOrEqual(size);
  });
});
