/**
 * A VM's distinct peers and ports seen in the window, four sets in one table. Each key remembers the last
 * bucket it was seen in, so the distinct count over any suffix of buckets is exact; expired keys are
 * purged when counted (once per clustering run), which keeps the per-record cost to one probe.
 *
 * Why one open-addressing table over a Float64Array of (key, bucket) pairs rather than a Map or one
 * structure per set: touching these sets is the costliest step of applying a flow, and it is bound by
 * memory latency. One array per VM and the key next to its bucket leave one dependent load and one cache
 * line per touch. Number keys are VM serials, ports and IPv4 addresses; other keys (IPv6 addresses
 * outside the overlay) go to a Map per set.
 *
 * Each set keeps at most `cap` exact keys. A new key that finds its set full switches that set to a
 * windowed HyperLogLog (seeded with the exact keys, then fed every touch): its count becomes an estimate
 * (3.25% standard error) while the exact keys stay as a sample (same-tenant shares are judged on them).
 * Once no key was turned away in the window's buckets the exact keys are complete again, the count is
 * exact and the sketch is freed.
 */
import { hashNumber, hashString, WindowedHll } from './windowed-hll.ts';

export const PEERS_OUT = 0;
export const PEERS_IN = 1;
export const REMOTE_PORTS = 2;
export const LOCAL_PORTS = 3;
const SETS = 4;
const EMPTY = -1;
const INITIAL_SLOTS = 16;

export interface DistinctShape {
  /** Exact keys kept per set before it switches to a sketch. */
  cap: number;
  /** Buckets a sketch's ring holds: the window plus the bucket being filled. */
  sketchSlots: number;
  /** Called each time a set switches from exact keys to a sketch. */
  onSketched: () => void;
}

/** The whole state as plain data, for the fleet codec. */
export interface DistinctSetsState {
  table: Float64Array;
  used: number;
  sizes: Int32Array;
  strings: (Array<[string, number]> | null)[];
  overflow: number;
  overflowBuckets: Float64Array;
  sketches: ({ slotBuckets: Float64Array; registers: Uint8Array } | null)[];
}

function slotOf(key: number, mask: number): number {
  let h = Math.imul(key, 0x9e3779b1);
  h ^= h >>> 15;
  return h & mask;
}

export class DistinctSets {
  /** Pairs (key, last bucket); key = value * 4 + set, EMPTY when free. */
  private table: Float64Array = new Float64Array(2 * INITIAL_SLOTS).fill(EMPTY);
  private used = 0;
  private readonly sizes = new Int32Array(SETS);
  private strings: (Map<string, number> | undefined)[] = [];
  /** Touches of new keys turned away from a full set's exact keys (counted by its sketch instead). */
  overflow = 0;
  /** Per set, the newest bucket in which a key was turned away; -Infinity if none. */
  private readonly overflowBuckets = new Float64Array(SETS).fill(Number.NEGATIVE_INFINITY);
  private readonly sketches: (WindowedHll | undefined)[] = [undefined, undefined, undefined, undefined];
  /** Bit per set with a sketch: the hot path tests one number. */
  private sketched = 0;

  constructor(private readonly shape: DistinctShape) {}

  /** `value` must be a non-negative integer below 2^50 (VM serials, ports, IPv4 addresses offset by 2^32). */
  touch(set: number, value: number, bucket: number): void {
    if (this.sketched !== 0 && (this.sketched & (1 << set)) !== 0) this.sketches[set]!.add(hashNumber(value), bucket);
    const key = value * 4 + set;
    const t = this.table;
    const mask = (t.length >> 1) - 1;
    let i = slotOf(key, mask);
    for (;;) {
      const k = t[2 * i]!;
      if (k === key) {
        if (t[2 * i + 1]! < bucket) t[2 * i + 1] = bucket;
        return;
      }
      if (k === EMPTY) break;
      i = (i + 1) & mask;
    }
    if (this.sizes[set]! >= this.shape.cap) {
      this.turnAway(set, hashNumber(value), bucket);
      return;
    }
    t[2 * i] = key;
    t[2 * i + 1] = bucket;
    this.sizes[set]!++;
    if (++this.used * 2 > mask + 1) this.rebuild(2 * (mask + 1), Number.NEGATIVE_INFINITY);
  }

  touchString(set: number, value: string, bucket: number): void {
    if ((this.sketched & (1 << set)) !== 0) this.sketches[set]!.add(hashString(value), bucket);
    let m = this.strings[set];
    if (m === undefined) {
      m = new Map();
      this.strings[set] = m;
    }
    const seen = m.get(value);
    if (seen === undefined) {
      if (this.sizes[set]! >= this.shape.cap) {
        this.turnAway(set, hashString(value), bucket);
        return;
      }
      m.set(value, bucket);
      this.sizes[set]!++;
    } else if (seen < bucket) {
      m.set(value, bucket);
    }
  }

  /** A new key for a full set: the set is counted by its sketch from now on (the key already went in if it existed). */
  private turnAway(set: number, hash: number, bucket: number): void {
    this.overflow++;
    if (bucket > this.overflowBuckets[set]!) this.overflowBuckets[set] = bucket;
    if ((this.sketched & (1 << set)) !== 0) return;
    const sketch = new WindowedHll(this.shape.sketchSlots);
    const t = this.table;
    for (let j = 0; j < t.length; j += 2) {
      const key = t[j]!;
      if (key !== EMPTY && key % 4 === set) sketch.add(hashNumber((key - set) / 4), t[j + 1]!);
    }
    const m = this.strings[set];
    if (m) for (const [k, b] of m) sketch.add(hashString(k), b);
    sketch.add(hash, bucket);
    this.sketches[set] = sketch;
    this.sketched |= 1 << set;
    this.shape.onSketched();
  }

  private rebuild(slots: number, firstBucket: number): void {
    const old = this.table;
    const t = new Float64Array(2 * slots).fill(EMPTY);
    const mask = slots - 1;
    this.used = 0;
    for (let j = 0; j < old.length; j += 2) {
      const key = old[j]!;
      if (key === EMPTY) continue;
      if (old[j + 1]! < firstBucket) {
        this.sizes[key % 4]!--;
        continue;
      }
      let i = slotOf(key, mask);
      while (t[2 * i] !== EMPTY) i = (i + 1) & mask;
      t[2 * i] = key;
      t[2 * i + 1] = old[j + 1]!;
      this.used++;
    }
    this.table = t;
  }

  /** Forgets keys last seen before `firstBucket`, and the sketches of sets whose exact keys are complete again. */
  purge(firstBucket: number): void {
    for (let set = 0; set < SETS; set++) {
      if ((this.sketched & (1 << set)) !== 0 && this.overflowBuckets[set]! < firstBucket) {
        this.sketches[set] = undefined;
        this.sketched &= ~(1 << set);
      }
    }
    let stale = 0;
    for (let j = 0; j < this.table.length; j += 2) if (this.table[j] !== EMPTY && this.table[j + 1]! < firstBucket) stale++;
    if (stale > 0) {
      let slots = INITIAL_SLOTS;
      while (slots < (this.used - stale) * 2) slots *= 2;
      this.rebuild(slots, firstBucket);
    }
    this.strings.forEach((m, set) => {
      if (!m) return;
      for (const [k, b] of m) {
        if (b < firstBucket) {
          m.delete(k);
          this.sizes[set]!--;
        }
      }
    });
  }

  /** Distinct keys of `set` seen in buckets >= firstBucket (purges older keys of every set). */
  countSince(set: number, firstBucket: number): number {
    this.purge(firstBucket);
    return this.sizes[set]!;
  }

  /**
   * Distinct keys of `set` seen in buckets [firstBucket, lastBucket], after a purge at firstBucket: exact
   * unless a key was turned away in the window, else the sketch's estimate (never below the exact keys held).
   */
  count(set: number, firstBucket: number, lastBucket: number): number {
    const exact = this.sizes[set]!;
    if ((this.sketched & (1 << set)) === 0 || this.overflowBuckets[set]! < firstBucket) return exact;
    return Math.max(exact, Math.round(this.sketches[set]!.estimate(firstBucket, lastBucket)));
  }

  /** True when `set` is counted by a sketch. */
  isSketched(set: number): boolean {
    return (this.sketched & (1 << set)) !== 0;
  }

  /** Calls `fn` with each number value of `set` (after a purge, the values seen in the window). */
  forEachNumber(set: number, fn: (value: number) => void): void {
    const t = this.table;
    for (let j = 0; j < t.length; j += 2) {
      const key = t[j]!;
      if (key !== EMPTY && key % 4 === set) fn((key - set) / 4);
    }
  }

  size(set: number): number {
    return this.sizes[set]!;
  }

  exportState(): DistinctSetsState {
    return {
      table: this.table,
      used: this.used,
      sizes: this.sizes,
      strings: Array.from({ length: SETS }, (_, set) => {
        const m = this.strings[set];
        return m ? [...m] : null;
      }),
      overflow: this.overflow,
      overflowBuckets: this.overflowBuckets,
      sketches: this.sketches.map((k) => (k ? { slotBuckets: k.slotBuckets, registers: k.registers } : null)),
    };
  }

  /** Sets from exported state (the arrays are taken over, not copied); throws RangeError on inconsistent state. */
  static fromState(shape: DistinctShape, s: DistinctSetsState): DistinctSets {
    const d = new DistinctSets(shape);
    const slots = s.table.length >> 1;
    if (slots < INITIAL_SLOTS || (slots & (slots - 1)) !== 0 || s.table.length !== 2 * slots)
      throw new RangeError('distinct-set table size is not a power of two');
    if (!(s.used >= 0 && s.used * 2 <= slots)) throw new RangeError('distinct-set table over its load');
    if (s.sizes.length !== SETS || s.strings.length !== SETS || s.sketches.length !== SETS || s.overflowBuckets.length !== SETS)
      throw new RangeError('distinct sets are not four');
    d.table = s.table;
    d.used = s.used;
    d.sizes.set(s.sizes);
    d.overflow = s.overflow;
    d.overflowBuckets.set(s.overflowBuckets);
    s.strings.forEach((entries, set) => {
      if (entries) d.strings[set] = new Map(entries);
    });
    s.sketches.forEach((k, set) => {
      if (!k) return;
      d.sketches[set] = new WindowedHll(shape.sketchSlots, k);
      d.sketched |= 1 << set;
    });
    return d;
  }
}
