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
 */
export const PEERS_OUT = 0;
export const PEERS_IN = 1;
export const REMOTE_PORTS = 2;
export const LOCAL_PORTS = 3;
const SETS = 4;
const EMPTY = -1;
const INITIAL_SLOTS = 16;

function slotOf(key: number, mask: number): number {
  let h = Math.imul(key, 0x9e3779b1);
  h ^= h >>> 15;
  return h & mask;
}

export class DistinctSets {
  /** Pairs (key, last bucket); key = value * 4 + set, EMPTY when free. */
  private table = new Float64Array(2 * INITIAL_SLOTS).fill(EMPTY);
  private used = 0;
  private readonly sizes = new Int32Array(SETS);
  private strings: (Map<string, number> | undefined)[] = [];
  /** Touches of new keys turned away because their set was at the cap. */
  overflow = 0;

  constructor(private readonly cap: number) {}

  /** `value` must be a non-negative integer below 2^50 (VM serials, ports, IPv4 addresses offset by 2^32). */
  touch(set: number, value: number, bucket: number): void {
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
    if (this.sizes[set]! >= this.cap) {
      this.overflow++;
      return;
    }
    t[2 * i] = key;
    t[2 * i + 1] = bucket;
    this.sizes[set]!++;
    if (++this.used * 2 > mask + 1) this.rebuild(2 * (mask + 1), Number.NEGATIVE_INFINITY);
  }

  touchString(set: number, value: string, bucket: number): void {
    let m = this.strings[set];
    if (m === undefined) {
      m = new Map();
      this.strings[set] = m;
    }
    const seen = m.get(value);
    if (seen === undefined) {
      if (this.sizes[set]! >= this.cap) {
        this.overflow++;
        return;
      }
      m.set(value, bucket);
      this.sizes[set]!++;
    } else if (seen < bucket) {
      m.set(value, bucket);
    }
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

  /** Forgets keys last seen before `firstBucket`. */
  purge(firstBucket: number): void {
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
}
