/**
 * Distinct keys seen in the window: each key remembers the last bucket it was seen in, so the distinct count
 * over any suffix of buckets is exact. Expired keys are purged when counted (once per clustering run), which
 * keeps the per-record cost to one probe. Past `cap` keys, new keys are counted as overflow but not
 * remembered.
 *
 * Number keys (VM serials, ports: most keys) live in an open-addressing table over typed arrays, several
 * times faster than a Map on this hot path; string keys (addresses outside the overlay) in a Map.
 */
const EMPTY = -1;
const INITIAL_CAPACITY = 8;

export class DistinctRecent {
  private keys = new Int32Array(INITIAL_CAPACITY).fill(EMPTY);
  private buckets = new Float64Array(INITIAL_CAPACITY);
  private numbers = 0;
  private strings: Map<string, number> | null = null;
  /** Touches of new keys turned away because the cap was reached. */
  overflow = 0;

  constructor(private readonly cap: number) {}

  /** Number keys must be non-negative 31-bit integers. */
  touch(key: number | string, bucket: number): void {
    if (typeof key === 'number') this.touchNumber(key, bucket);
    else this.touchString(key, bucket);
  }

  private touchNumber(key: number, bucket: number): void {
    const mask = this.keys.length - 1;
    let i = Math.imul(key, 0x9e3779b1) >>> 0 & mask;
    for (;;) {
      const k = this.keys[i]!;
      if (k === key) {
        if (this.buckets[i]! < bucket) this.buckets[i] = bucket;
        return;
      }
      if (k === EMPTY) break;
      i = (i + 1) & mask;
    }
    if (this.size >= this.cap) {
      this.overflow++;
      return;
    }
    this.keys[i] = key;
    this.buckets[i] = bucket;
    this.numbers++;
    if (this.numbers * 2 > this.keys.length) this.rehash(this.keys.length * 2, Number.NEGATIVE_INFINITY);
  }

  private touchString(key: string, bucket: number): void {
    this.strings ??= new Map();
    const seen = this.strings.get(key);
    if (seen === undefined) {
      if (this.size >= this.cap) {
        this.overflow++;
        return;
      }
      this.strings.set(key, bucket);
    } else if (seen < bucket) {
      this.strings.set(key, bucket);
    }
  }

  /** Rebuilds the number table at `capacity`, keeping keys seen in buckets >= firstBucket. */
  private rehash(capacity: number, firstBucket: number): void {
    const oldKeys = this.keys;
    const oldBuckets = this.buckets;
    this.keys = new Int32Array(capacity).fill(EMPTY);
    this.buckets = new Float64Array(capacity);
    this.numbers = 0;
    const mask = capacity - 1;
    for (let j = 0; j < oldKeys.length; j++) {
      const key = oldKeys[j]!;
      if (key === EMPTY || oldBuckets[j]! < firstBucket) continue;
      let i = Math.imul(key, 0x9e3779b1) >>> 0 & mask;
      while (this.keys[i] !== EMPTY) i = (i + 1) & mask;
      this.keys[i] = key;
      this.buckets[i] = oldBuckets[j]!;
      this.numbers++;
    }
  }

  /** Distinct keys seen in buckets >= firstBucket; forgets older ones. */
  countSince(firstBucket: number): number {
    let stale = false;
    for (let j = 0; j < this.keys.length; j++) {
      if (this.keys[j] !== EMPTY && this.buckets[j]! < firstBucket) {
        stale = true;
        break;
      }
    }
    if (stale) {
      let capacity = INITIAL_CAPACITY;
      while (capacity < this.numbers * 2) capacity *= 2;
      this.rehash(capacity, firstBucket);
    }
    if (this.strings) for (const [k, b] of this.strings) if (b < firstBucket) this.strings.delete(k);
    return this.size;
  }

  get size(): number {
    return this.numbers + (this.strings?.size ?? 0);
  }
}
