/**
 * The bucket rings of every VM in one flat Float64Array. A ring is `slots` rows of `width` counters plus
 * the bucket number each slot holds. Writing into a bucket whose slot holds an older bucket clears the
 * slot first: old data leaves the window in O(1) per bucket, with no timers. Counters are integer-valued
 * sums (bytes, packets), exact in a double up to 2^53.
 *
 * One slab rather than an array object per VM: the hot path reaches a VM's counters with one dependent
 * memory load fewer per record end, which measurably matters when the fleet's counters exceed the caches.
 */
export class RingSlab {
  data: Float64Array;
  /** Doubles per ring: slot bucket numbers first, then slots * width counters. */
  readonly stride: number;
  private capacity: number;
  private next = 0;
  private readonly free: number[] = [];

  constructor(
    readonly slots: number,
    readonly width: number,
    initialRings = 1024,
  ) {
    this.stride = slots + slots * width;
    this.capacity = initialRings;
    this.data = new Float64Array(initialRings * this.stride);
  }

  /** A cleared ring; returns its index. */
  alloc(): number {
    let ring = this.free.pop();
    if (ring === undefined) {
      if (this.next === this.capacity) this.grow();
      ring = this.next++;
    }
    const base = ring * this.stride;
    this.data.fill(-1, base, base + this.slots);
    this.data.fill(0, base + this.slots, base + this.stride);
    return ring;
  }

  release(ring: number): void {
    this.free.push(ring);
  }

  /** Rings in use. */
  get size(): number {
    return this.next - this.free.length;
  }

  get bytes(): number {
    return this.data.byteLength;
  }

  private grow(): void {
    this.capacity *= 2;
    const data = new Float64Array(this.capacity * this.stride);
    data.set(this.data);
    this.data = data;
  }

  /**
   * Offset in `data` of the row for `bucket` in `ring`, claiming (and clearing) its slot when the slot
   * holds an older bucket; -1 when the slot already holds a newer bucket (older than the ring covers).
   */
  row(ring: number, bucket: number): number {
    const d = this.data;
    const base = ring * this.stride;
    const slot = bucket % this.slots;
    const held = d[base + slot]!;
    const offset = base + this.slots + slot * this.width;
    if (held !== bucket) {
      if (held > bucket) return -1;
      d.fill(0, offset, offset + this.width);
      d[base + slot] = bucket;
    }
    return offset;
  }

  /** Sums the rows of the buckets in [first, last] into `out` (length `width`); returns how many buckets held data. */
  sum(ring: number, first: number, last: number, out: Float64Array): number {
    const d = this.data;
    const base = ring * this.stride;
    out.fill(0);
    let used = 0;
    for (let s = 0; s < this.slots; s++) {
      const b = d[base + s]!;
      if (b < first || b > last) continue;
      used++;
      const row = base + this.slots + s * this.width;
      for (let j = 0; j < this.width; j++) out[j]! += d[row + j]!;
    }
    return used;
  }

  /** One counter in bucket `bucket`, or 0 when the ring does not hold that bucket. */
  valueAt(ring: number, bucket: number, column: number): number {
    const base = ring * this.stride;
    const slot = bucket % this.slots;
    return this.data[base + slot] === bucket ? this.data[base + this.slots + slot * this.width + column]! : 0;
  }

  /** The ring's doubles (slot bucket numbers, then counters), as a view: for the fleet codec. */
  ringView(ring: number): Float64Array {
    return this.data.subarray(ring * this.stride, (ring + 1) * this.stride);
  }

  /** Overwrites a ring with `values` (length `stride`), as exported by ringView. */
  writeRing(ring: number, values: Float64Array): void {
    if (values.length !== this.stride) throw new RangeError(`a ring holds ${this.stride} values, not ${values.length}`);
    this.data.set(values, ring * this.stride);
  }
}
