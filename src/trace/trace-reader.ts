/**
 * Reads a JSON Lines trace, plain or gzip-compressed (detected by its magic bytes, not its name), and
 * yields its lines in chunks: one await per chunk rather than per line keeps the replay loop tight.
 * A line longer than `maxLineBytes` is not buffered whole: its head is kept and it is reported as oversize,
 * so a hostile file cannot exhaust memory.
 */
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';

export interface OversizeLine {
  line: number;
  bytes: number;
  head: string;
}

export interface TraceChunk {
  /** Line number (1-based) of lines[0]; lines[i] is line firstLine + i. */
  firstLine: number;
  /** null in place of a line too long to keep; its description is in `oversize`. */
  lines: (string | null)[];
  oversize: OversizeLine[];
}

async function isGzip(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(2);
    const { bytesRead } = await fh.read(buf, 0, 2, 0);
    return bytesRead === 2 && buf[0] === 0x1f && buf[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

const NEWLINE = 0x0a;
const HEAD_KEPT = 1024;

function text(buf: Buffer, start: number, end: number): string {
  return buf.toString('utf8', start, end > start && buf[end - 1] === 0x0d ? end - 1 : end);
}

/**
 * Called before each block is split into lines, with the bytes of the file consumed so far and its size:
 * for a plain file the bytes handed to the splitter, for a gzip file the compressed bytes the decoder has
 * taken in (not the read-ahead of the file stream, which runs megabytes ahead on a small file).
 */
export type ReadProgress = (bytesRead: number, fileBytes: number) => void;

export async function* readTraceChunks(path: string, maxLineBytes = 64 * 1024 * 1024, onRead?: ReadProgress): AsyncGenerator<TraceChunk> {
  // Sniff first: a missing file is then one rejected promise, not an unhandled stream error.
  const gzip = await isGzip(path);
  const fileBytes = onRead ? (await stat(path)).size : 0;
  const file = createReadStream(path, { highWaterMark: 1 << 20 });
  let stream: AsyncIterable<Buffer> = file;
  let consumed = 0;
  let bytesConsumed = (chunk: Buffer): number => {
    consumed += chunk.length;
    return consumed;
  };
  if (gzip) {
    const gunzip = createGunzip({ chunkSize: 1 << 20 });
    // pipe() does not forward errors: a read error must end the iteration, not the process.
    file.on('error', (err) => gunzip.destroy(err));
    stream = file.pipe(gunzip);
    bytesConsumed = () => gunzip.bytesWritten;
  }
  let carry: Buffer | null = null;
  /** Set while skipping the rest of an oversize line. */
  let skipping: OversizeLine | null = null;
  let lineNo = 1;
  for await (const chunk of stream) {
    onRead?.(bytesConsumed(chunk), fileBytes);
    const lines: (string | null)[] = [];
    const oversize: OversizeLine[] = [];
    const firstLine = lineNo;
    let buf: Buffer = chunk;
    let start = 0;
    if (skipping) {
      const nl = buf.indexOf(NEWLINE);
      if (nl === -1) {
        skipping.bytes += buf.length;
        continue;
      }
      skipping.bytes += nl;
      oversize.push(skipping);
      lines.push(null);
      skipping = null;
      lineNo++;
      start = nl + 1;
    } else if (carry) {
      buf = Buffer.concat([carry, chunk]);
      carry = null;
    }
    let nl = buf.indexOf(NEWLINE, start);
    while (nl !== -1) {
      if (nl - start > maxLineBytes) {
        oversize.push({ line: lineNo, bytes: nl - start, head: text(buf, start, start + HEAD_KEPT) });
        lines.push(null);
      } else lines.push(text(buf, start, nl));
      lineNo++;
      start = nl + 1;
      nl = buf.indexOf(NEWLINE, start);
    }
    if (start < buf.length) {
      if (buf.length - start > maxLineBytes) {
        skipping = { line: lineNo, bytes: buf.length - start, head: text(buf, start, start + HEAD_KEPT) };
      } else carry = buf.subarray(start);
    }
    if (lines.length > 0 || oversize.length > 0) yield { firstLine, lines, oversize };
  }
  if (skipping) yield { firstLine: lineNo, lines: [null], oversize: [skipping] };
  else if (carry && carry.length > 0) yield { firstLine: lineNo, lines: [text(carry, 0, carry.length)], oversize: [] };
}
