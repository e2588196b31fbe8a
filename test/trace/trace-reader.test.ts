import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { readTraceChunks } from '../../src/trace/trace-reader.ts';

async function read(path: string, max?: number) {
  const lines: (string | null)[] = [];
  const oversize: number[] = [];
  for await (const c of readTraceChunks(path, max)) {
    expect(c.firstLine).toBe(lines.length + 1);
    lines.push(...c.lines);
    oversize.push(...c.oversize.map((o) => o.line));
  }
  return { lines, oversize };
}

describe('readTraceChunks', () => {
  const dir = mkdtempSync(join(tmpdir(), 'trace-reader-'));
  const text = 'a\r\n{"é": "ü"}\n\nlast without newline';

  it('reads plain and gzip files alike (by magic bytes, not by name), CRLF and a last line without newline', async () => {
    writeFileSync(join(dir, 'plain.jsonl'), text);
    writeFileSync(join(dir, 'zipped.jsonl'), gzipSync(text));
    const expected = ['a', '{"é": "ü"}', '', 'last without newline'];
    expect((await read(join(dir, 'plain.jsonl'))).lines).toEqual(expected);
    expect((await read(join(dir, 'zipped.jsonl'))).lines).toEqual(expected);
  });

  it('reports a line over the limit in its place without buffering it', async () => {
    writeFileSync(join(dir, 'big.jsonl'), `ok\n${'x'.repeat(5000)}\nafter\n${'y'.repeat(3000)}`);
    const { lines, oversize } = await read(join(dir, 'big.jsonl'), 1000);
    expect(lines).toEqual(['ok', null, 'after', null]);
    expect(oversize).toEqual([2, 4]);
  });

  it('fails with an error, not a crash, on a missing or truncated file', async () => {
    await expect(read(join(dir, 'missing.jsonl'))).rejects.toMatchObject({ code: 'ENOENT' });
    writeFileSync(join(dir, 'truncated.gz'), gzipSync('x'.repeat(10_000)).subarray(0, 20));
    await expect(read(join(dir, 'truncated.gz'))).rejects.toThrow(/unexpected end of file/);
  });
});
