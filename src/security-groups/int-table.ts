/**
 * Dense ids for tuples of four integers, in the order the tuples were first added: the learner's
 * candidate rules and their ports, hashed without a string key or a Map entry per tuple (at 100k VMs
 * the learner files millions of them in a run).
 */
const FIELDS = 4;

export class IntTupleTable {
  /** Tuples added so far: the ids are 0 to size - 1. */
  size = 0;
  /** The fields of tuple `id` at id * 4 to id * 4 + 3. */
  keys: Int32Array;
  /** Open addressing: id + 1, 0 for empty; at most half full. */
  private table: Int32Array;

  constructor(expected = 1024) {
    let slots = 1024;
    while (slots < 2 * expected) slots *= 2;
    this.table = new Int32Array(slots);
    this.keys = new Int32Array((slots / 2) * FIELDS);
  }

  /** The id of (a, b, c, d), or -1 when it was never added. */
  find(a: number, b: number, c: number, d: number): number {
    const t = this.table;
    const k = this.keys;
    const mask = t.length - 1;
    let i = hashOf(a, b, c, d) & mask;
    for (;;) {
      const id = t[i]! - 1;
      if (id < 0) return -1;
      const at = id * FIELDS;
      if (k[at] === a && k[at + 1] === b && k[at + 2] === c && k[at + 3] === d) return id;
      i = (i + 1) & mask;
    }
  }

  /** The id of (a, b, c, d), added (as the next id) when new. */
  idOf(a: number, b: number, c: number, d: number): number {
    const t = this.table;
    const k = this.keys;
    const mask = t.length - 1;
    let i = hashOf(a, b, c, d) & mask;
    for (;;) {
      const id = t[i]! - 1;
      if (id < 0) break;
      const at = id * FIELDS;
      if (k[at] === a && k[at + 1] === b && k[at + 2] === c && k[at + 3] === d) return id;
      i = (i + 1) & mask;
    }
    const id = this.size++;
    if ((id + 1) * FIELDS > k.length) {
      const grown = new Int32Array(2 * k.length);
      grown.set(k);
      this.keys = grown;
    }
    const at = id * FIELDS;
    this.keys[at] = a;
    this.keys[at + 1] = b;
    this.keys[at + 2] = c;
    this.keys[at + 3] = d;
    if (2 * this.size > t.length) this.rehash(2 * t.length);
    else t[i] = id + 1;
    return id;
  }

  private rehash(slots: number): void {
    const t = new Int32Array(slots);
    const k = this.keys;
    const mask = slots - 1;
    for (let id = 0; id < this.size; id++) {
      const at = id * FIELDS;
      let i = hashOf(k[at]!, k[at + 1]!, k[at + 2]!, k[at + 3]!) & mask;
      while (t[i] !== 0) i = (i + 1) & mask;
      t[i] = id + 1;
    }
    this.table = t;
  }
}

function hashOf(a: number, b: number, c: number, d: number): number {
  let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca6b);
  h ^= Math.imul(c + 1, 0xc2b2ae35) ^ Math.imul(d + 0x165667b1, 0x27d4eb2f);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 13;
  return h >>> 0;
}

/** A growable column of 32-bit integers. */
export class IntColumn {
  length = 0;
  values: Int32Array;

  constructor(capacity = 1024) {
    this.values = new Int32Array(Math.max(16, capacity));
  }

  push(v: number): void {
    if (this.length === this.values.length) {
      const grown = new Int32Array(2 * this.values.length);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = v;
  }
}

/** A growable column of doubles, zero-filled as it grows (sums start at 0). */
export class FloatColumn {
  values: Float64Array;

  constructor(capacity = 1024) {
    this.values = new Float64Array(Math.max(16, capacity));
  }

  /** Makes index `i` valid. */
  reserve(i: number): void {
    if (i < this.values.length) return;
    let n = this.values.length;
    while (n <= i) n *= 2;
    const grown = new Float64Array(n);
    grown.set(this.values);
    this.values = grown;
  }
}
