/**
 * A ring of time buckets, each a row of `width` counters in one flat Float64Array. Writing into a bucket
 * that reuses a slot clears the slot first: old data leaves the window in O(1) per bucket, with no timers.
 * Counters are integer-valued sums (bytes, packets), exact in a double up to 2^53.
 */
export class BucketRing {
  readonly data: Float64Array;
  /** Bucket number held by each slot; -1 when empty. */
  readonly slotBucket: Float64Array;

  constructor(
    readonly slots: number,
    readonly width: number,
  ) {
    this.data = new Float64Array(slots * width);
    this.slotBucket = new Float64Array(slots).fill(-1);
  }

  /**
   * Offset of the row for `bucket` in `data`, claiming (and clearing) its slot when the slot holds an older
   * bucket; -1 when the slot already holds a newer bucket (the record is older than the ring covers).
   */
  row(bucket: number): number {
    const slot = bucket % this.slots;
    const held = this.slotBucket[slot]!;
    if (held !== bucket) {
      if (held > bucket) return -1;
      this.data.fill(0, slot * this.width, (slot + 1) * this.width);
      this.slotBucket[slot] = bucket;
    }
    return slot * this.width;
  }

  /** Sums the rows of the buckets in [first, last] into `out` (length `width`); returns how many buckets held data. */
  sum(first: number, last: number, out: Float64Array): number {
    out.fill(0);
    let used = 0;
    for (let s = 0; s < this.slots; s++) {
      const b = this.slotBucket[s]!;
      if (b < first || b > last) continue;
      used++;
      const base = s * this.width;
      for (let j = 0; j < this.width; j++) out[j]! += this.data[base + j]!;
    }
    return used;
  }

  /** The value of one counter in the bucket `bucket`, or 0 when the ring does not hold that bucket. */
  valueAt(bucket: number, column: number): number {
    const slot = bucket % this.slots;
    return this.slotBucket[slot] === bucket ? this.data[slot * this.width + column]! : 0;
  }
}
