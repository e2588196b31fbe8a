/**
 * Dense ids for tuples of four integers, in the order the tuples were first added: the learner's
 * candidate rules and their ports, hashed without a string key or a Map entry per tuple (at 100k VMs
 * the learner files millions of them in a run).
 */
const FIELDS = 4;
/** A slot of the table: id + 1 (0 for empty), the four fields, and two numbers the caller keeps there. */
const SLOT = 8;
const ID = 0;
/** Where in a slot the caller's number is (see `slot`). */
export const SLOT_VALUE = 5;
/** Where in a slot the caller's second number is. */
export const SLOT_EXTRA = 6;

export class IntTupleTable {
  /** Tuples added so far: the ids are 0 to size - 1. */
  size = 0;
  /** The fields of tuple `id` at id * 4 to id * 4 + 3. */
  keys: Int32Array;
  /**
   * Open addressing, at most half full. Each slot holds the tuple itself beside its id, so that a look-up
   * reads one cache line: at 100k VMs the table is far larger than the caches, and a run looks up
   * millions of tuples.
   */
  slots: Int32Array;
  /** The slot (offset into `slots`) of the tuple last found or added: slots[slot + SLOT_VALUE] is the caller's. */
  slot = 0;
  private mask: number;

  constructor(expected = 1024) {
    let count = 1024;
    while (count < 2 * expected) count *= 2;
    this.slots = new Int32Array(count * SLOT);
    this.mask = count - 1;
    this.keys = new Int32Array((count / 2) * FIELDS);
  }

  /**
   * Empties the table to take about `expected` tuples again, keeping its memory; false (and left as it was)
   * when it is too small for them (growing it step by step costs more than a new one) or more than eight
   * times larger than they need, to be dropped rather than kept.
   */
  clear(expected: number): boolean {
    const steps = this.clearInSlices(expected, this.slots.length);
    let step = steps.next();
    while (step.done !== true) step = steps.next();
    return step.value;
  }

  /**
   * clear, its slots zeroed `perStep` numbers at a time with a step between: at 100k VMs a learner's table
   * is a hundred megabytes or more, and zeroing it at once held the event loop. Not to be used before done.
   */
  *clearInSlices(expected: number, perStep: number): Generator<void, boolean, void> {
    const count = this.mask + 1;
    if (count < 2 * expected || count > 16 * Math.max(1024, expected)) return false;
    this.size = 0;
    this.slot = 0;
    for (let from = 0; from < this.slots.length; from += perStep) {
      if (from > 0) yield;
      this.slots.fill(0, from, Math.min(this.slots.length, from + perStep));
    }
    return true;
  }

  /** Whether `added` more tuples fit without idOf growing the table (a rehash of the whole in one go). */
  hasRoomFor(added: number): boolean {
    return 2 * (this.size + added) <= this.mask + 1;
  }

  /**
   * Grows the table, when needed, to take `expected` tuples without a rehash, the tuples moved `perStep`
   * slots at a time with a step between: at 100k VMs a table of a million tuples rehashed inside idOf held
   * the event loop for tens of milliseconds. Nothing else may use the table until done (a computation's
   * own tables: no one looks them up between its steps).
   */
  *reserveInSlices(expected: number, perStep: number): Generator<void, void, void> {
    if (2 * expected <= this.mask + 1) return;
    let count = this.mask + 1;
    while (count < 2 * expected) count *= 2;
    const keys = new Int32Array((count / 2) * FIELDS);
    for (let at = 0; at < this.size * FIELDS; at += perStep * FIELDS) {
      yield;
      keys.set(this.keys.subarray(at, Math.min(this.size * FIELDS, at + perStep * FIELDS)), at);
    }
    this.keys = keys;
    const old = this.slots;
    const t = new Int32Array(count * SLOT);
    const mask = count - 1;
    for (let from = 0; from < old.length; from += SLOT) {
      if ((from / SLOT) % perStep === perStep - 1) yield;
      if (old[from + ID] !== 0) placeSlot(old, from, t, mask);
    }
    this.slots = t;
    this.mask = mask;
    this.slot = 0;
  }

  /** The id of (a, b, c, d), or -1 when it was never added. */
  find(a: number, b: number, c: number, d: number): number {
    const t = this.slots;
    let i = hashOf(a, b, c, d) & this.mask;
    for (;;) {
      const s = i * SLOT;
      const id = t[s + ID]! - 1;
      if (id < 0) return -1;
      if (t[s + 1] === a && t[s + 2] === b && t[s + 3] === c && t[s + 4] === d) {
        this.slot = s;
        return id;
      }
      i = (i + 1) & this.mask;
    }
  }

  /** The id of (a, b, c, d), added (as the next id, its slot value 0) when new. */
  idOf(a: number, b: number, c: number, d: number): number {
    let t = this.slots;
    let i = hashOf(a, b, c, d) & this.mask;
    for (;;) {
      const s = i * SLOT;
      const id = t[s + ID]! - 1;
      if (id < 0) break;
      if (t[s + 1] === a && t[s + 2] === b && t[s + 3] === c && t[s + 4] === d) {
        this.slot = s;
        return id;
      }
      i = (i + 1) & this.mask;
    }
    const id = this.size++;
    if ((id + 1) * FIELDS > this.keys.length) {
      const grown = new Int32Array(2 * this.keys.length);
      grown.set(this.keys);
      this.keys = grown;
    }
    const k = id * FIELDS;
    this.keys[k] = a;
    this.keys[k + 1] = b;
    this.keys[k + 2] = c;
    this.keys[k + 3] = d;
    if (2 * this.size > this.mask + 1) {
      this.rehash(2 * (this.mask + 1));
      t = this.slots;
      i = hashOf(a, b, c, d) & this.mask;
      while (t[i * SLOT + ID] !== 0) i = (i + 1) & this.mask;
    }
    const s = i * SLOT;
    t[s + ID] = id + 1;
    t[s + 1] = a;
    t[s + 2] = b;
    t[s + 3] = c;
    t[s + 4] = d;
    this.slot = s;
    return id;
  }

  /**
   * Rewrites every tuple's fields in place (`rekey` writes tuple `id`'s four fields at keys[4 * id] on) and
   * files them again, each keeping its id and the caller's numbers: the new tuples must be distinct. In
   * steps of `perStep` tuples.
   */
  *rekeyInSlices(rekey: (keys: Int32Array, id: number) => void, perStep: number): Generator<void, void, void> {
    for (let id = 0; id < this.size; id++) {
      if (id % perStep === perStep - 1) yield;
      rekey(this.keys, id);
    }
    const old = this.slots;
    const t = new Int32Array(old.length);
    const mask = this.mask;
    for (let from = 0; from < old.length; from += SLOT) {
      if ((from / SLOT) % perStep === perStep - 1) yield;
      const id = old[from + ID]! - 1;
      if (id < 0) continue;
      const k = id * FIELDS;
      const a = this.keys[k]!;
      const b = this.keys[k + 1]!;
      const c = this.keys[k + 2]!;
      const d = this.keys[k + 3]!;
      let i = hashOf(a, b, c, d) & mask;
      while (t[i * SLOT + ID] !== 0) i = (i + 1) & mask;
      const to = i * SLOT;
      t[to + ID] = id + 1;
      t[to + 1] = a;
      t[to + 2] = b;
      t[to + 3] = c;
      t[to + 4] = d;
      t[to + SLOT_VALUE] = old[from + SLOT_VALUE]!;
      t[to + SLOT_EXTRA] = old[from + SLOT_EXTRA]!;
    }
    this.slots = t;
    this.slot = 0;
  }

  private rehash(count: number): void {
    const old = this.slots;
    const t = new Int32Array(count * SLOT);
    const mask = count - 1;
    for (let from = 0; from < old.length; from += SLOT) {
      if (old[from + ID] !== 0) placeSlot(old, from, t, mask);
    }
    this.slots = t;
    this.mask = mask;
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

/** The used slot of `old` at `from` placed in the table `t` of `mask + 1` slots (a rehash, whole or in steps). */
function placeSlot(old: Int32Array, from: number, t: Int32Array, mask: number): void {
  let i = hashOf(old[from + 1]!, old[from + 2]!, old[from + 3]!, old[from + 4]!) & mask;
  while (t[i * SLOT + ID] !== 0) i = (i + 1) & mask;
  const to = i * SLOT;
  for (let k = 0; k < SLOT; k++) t[to + k] = old[from + k]!;
}
