/**
 * A column of strings (or nulls) as two typed arrays, for a message to a worker thread: structured cloning
 * an array of 11.6k ids is a V8 object per element on both sides (and garbage after), where these arrays
 * are transferred, moved without a copy. The text is UTF-16 code units, so that any string comes back as it
 * went (lone surrogates included), with each element's end offset; a null's end is stored as -(end + 1).
 */
export interface StringColumn {
  units: Uint16Array;
  ends: Int32Array;
}

export function packStrings(values: readonly (string | null)[]): StringColumn {
  const ends = new Int32Array(values.length);
  const parts: string[] = [];
  let at = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) ends[i] = -at - 1;
    else {
      at += v.length;
      ends[i] = at;
      parts.push(v);
    }
  }
  const text = parts.join('');
  // Node's own UTF-16 copy where the buffer is the string's alone (not a slice of its small-buffer pool).
  const bytes = Buffer.from(text, 'utf16le');
  if (bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length) return { units: new Uint16Array(bytes.buffer, 0, text.length), ends };
  const units = new Uint16Array(text.length);
  for (let i = 0; i < text.length; i++) units[i] = text.charCodeAt(i);
  return { units, ends };
}

export function unpackStrings(column: StringColumn): (string | null)[] {
  const { units, ends } = column;
  // Decoded in runs of code units: String.fromCharCode takes them as arguments, and arguments are bounded.
  let text = '';
  for (let from = 0; from < units.length; from += DECODE_UNITS) text += String.fromCharCode(...units.subarray(from, Math.min(units.length, from + DECODE_UNITS)));
  const out = new Array<string | null>(ends.length);
  let start = 0;
  for (let i = 0; i < ends.length; i++) {
    const e = ends[i]!;
    if (e < 0) out[i] = null;
    else {
      out[i] = text.slice(start, e);
      start = e;
    }
  }
  return out;
}

/** unpackStrings of a column packed from strings only (ids): a null in it is a caller's error. */
export function unpackIds(column: StringColumn): string[] {
  const out = unpackStrings(column);
  if (out.some((s) => s === null)) throw new TypeError('a column of ids holds a null');
  return out as string[];
}

/** The buffers to list in postMessage's transfer list: the column is unusable on this side afterwards. */
export function columnBuffers(column: StringColumn): ArrayBuffer[] {
  return [column.units.buffer as ArrayBuffer, column.ends.buffer as ArrayBuffer];
}

const DECODE_UNITS = 8192;
