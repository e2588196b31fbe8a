/**
 * The byte writer and reader of the repository's binary formats: the fleet codec (snapshots, checkpoints)
 * and the by-VM messages of the scale-out hop. Little-endian fixed widths, varints (7 bits a byte, low
 * first, up to 2^53) and UTF-8 text behind a length, u32 or varint.
 *
 * The reader trusts nothing: every read is bounds-checked, and a read past the end throws the error its
 * format asked for (the fleet codec's FleetCodecError, a RangeError for the by-VM decoder that turns it into
 * "not ours"), never a read of garbage.
 */
import { TextEncoder } from 'node:util';

const encoder = new TextEncoder();

export class ByteWriter {
  private buf: Buffer;
  private view: DataView;
  /** Bytes written so far. */
  length = 0;

  /** Sized close to the result up front: each doubling copies everything written so far. */
  constructor(capacity = 1 << 16) {
    this.buf = Buffer.allocUnsafe(Math.max(16, capacity));
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.length++] = v;
  }

  u16(v: number): void {
    this.room(2);
    this.view.setUint16(this.length, v, true);
    this.length += 2;
  }

  u32(v: number): void {
    this.room(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
  }

  f64(v: number): void {
    this.room(8);
    this.view.setFloat64(this.length, v, true);
    this.length += 8;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  /** A non-negative integer up to 2^53, 7 bits a byte, low first. */
  varint(v: number): void {
    this.room(8);
    this.length = putVarint(this.buf, this.length, v);
  }

  /** A varint byte length, then the UTF-8 bytes. */
  text(s: string): void {
    const len = s.length;
    if (len < 0x80) {
      // Short ASCII (ids, addresses, hosts) copied by hand: its length is its byte length, one length byte.
      this.room(1 + len);
      const end = putShortAscii(this.buf, this.length, s);
      if (end >= 0) {
        this.length = end;
        return;
      }
    }
    const n = Buffer.byteLength(s, 'utf8');
    this.varint(n);
    this.room(n);
    this.length += this.buf.write(s, this.length, n, 'utf8');
  }

  /** A u32 byte length, then the UTF-8 bytes, encoded in place (no intermediate buffer per string). */
  utf8(s: string): void {
    this.room(4 + s.length * 3);
    const { written } = encoder.encodeInto(s, this.buf.subarray(this.length + 4));
    this.view.setUint32(this.length, written, true);
    this.length += 4 + written;
  }

  /** The bytes written so far, as a view (no copy). */
  written(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

export class ByteReader {
  private readonly view: DataView;
  private readonly bytesView: Buffer;
  /** The next byte to read. */
  offset = 0;

  constructor(
    private readonly buf: Uint8Array,
    /** The error a read past the end throws. */
    private readonly truncated: (message: string) => Error = (message) => new RangeError(message),
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.bytesView = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get left(): number {
    return this.buf.length - this.offset;
  }

  get end(): boolean {
    return this.offset === this.buf.length;
  }

  private need(n: number, what: string): void {
    if (n > this.left) throw this.truncated(`${what} needs ${n} bytes at offset ${this.offset}, ${this.left} left`);
  }

  u8(what = 'a byte'): number {
    this.need(1, what);
    return this.buf[this.offset++]!;
  }

  u16(what = 'a u16'): number {
    this.need(2, what);
    const v = this.view.getUint16(this.offset, true);
    this.offset += 2;
    return v;
  }

  u32(what = 'a u32'): number {
    this.need(4, what);
    const v = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return v;
  }

  f64(what = 'a float64'): number {
    this.need(8, what);
    const v = this.view.getFloat64(this.offset, true);
    this.offset += 8;
    return v;
  }

  /** A copy of the next `n` bytes. */
  bytes(n: number, what = 'bytes'): Uint8Array {
    this.need(n, what);
    const b = this.buf.slice(this.offset, this.offset + n);
    this.offset += n;
    return b;
  }

  /** A count of items of at least `minBytes` each (u32): checked against the bytes left before anything is allocated. */
  count(minBytes: number, what: string): number {
    const n = this.u32(what);
    if (n * minBytes > this.left) throw this.truncated(`${n} ${what} cannot fit in the ${this.left} bytes left`);
    return n;
  }

  varint(what = 'a varint'): number {
    const buf = this.buf;
    const end = buf.length;
    let at = this.offset;
    // One byte: most counts, tags, ports and string references.
    if (at < end && buf[at]! < 0x80) {
      this.offset = at + 1;
      return buf[at]!;
    }
    // Up to four bytes (28 bits) with bit operators; beyond, by multiplication (bit operators stop at 2^32).
    // Epoch milliseconds take six bytes, four of every by-VM flow half's numbers (w, sa, ts, startTs).
    let v = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (at >= end) throw this.truncated(`${what} runs past the end`);
      const b = buf[at++]!;
      v |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.offset = at;
        return v;
      }
    }
    this.offset = at;
    let scale = 0x10000000;
    for (;;) {
      if (this.offset >= buf.length) throw this.truncated(`${what} runs past the end`);
      const b = buf[this.offset++]!;
      v += (b & 0x7f) * scale;
      if (b < 0x80) return v;
      scale *= 0x80;
      if (scale > 2 ** 56) throw new RangeError(`${what} is too long`);
    }
  }

  /** A varint byte length, then UTF-8 text (malformed bytes read as U+FFFD, as Buffer#toString reads them). */
  text(what = 'a text'): string {
    const n = this.varint(what);
    this.need(n, what);
    const start = this.offset;
    this.offset += n;
    // Buffer's own slice decoder: several times faster than TextDecoder or char codes for short ids.
    return this.bytesView.toString('utf8', start, start + n);
  }
}

/**
 * Writes a non-negative integer up to 2^53 at `at`, 7 bits a byte, low first, into a buffer with room for
 * 8 more bytes; returns the index after it.
 */
export function putVarint(buf: Uint8Array, at: number, v: number): number {
  // Bit operators stop at 2^32: above 2^28 the low four bytes are cut off by one division first, so that
  // epoch milliseconds (41 bits) take one float division instead of six.
  if (v >= 0x10000000) {
    const high = Math.floor(v / 0x10000000);
    let low = v - high * 0x10000000;
    for (let i = 0; i < 4; i++) {
      buf[at++] = (low & 0x7f) | 0x80;
      low >>>= 7;
    }
    v = high;
  }
  while (v >= 0x80) {
    buf[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[at++] = v;
  return at;
}

/**
 * Writes a string of under 128 characters at `at` as ByteWriter.text does (its length in one byte, then its
 * characters) when every character is ASCII, into a buffer with room for it; returns the index after it, or
 * -1 (nothing meaningful written) when a character is not ASCII.
 */
export function putShortAscii(buf: Uint8Array, at: number, s: string): number {
  const len = s.length;
  let to = at + 1;
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return -1;
    buf[to++] = c;
  }
  buf[at] = len;
  return to;
}
