/**
 * Distinct keys seen in the window: each key remembers the last bucket it was seen in, so the distinct count
 * over any suffix of buckets is exact. Expired keys are purged when counted (once per clustering run), which
 * keeps the per-record cost at one Map write. Past `cap` keys, new keys are counted but not remembered.
 */
export class DistinctRecent<K> {
  private readonly lastSeen = new Map<K, number>();
  /** Touches of new keys turned away because the cap was reached. */
  overflow = 0;

  constructor(private readonly cap: number) {}

  touch(key: K, bucket: number): void {
    const seen = this.lastSeen.get(key);
    if (seen === undefined) {
      if (this.lastSeen.size >= this.cap) {
        this.overflow++;
        return;
      }
      this.lastSeen.set(key, bucket);
    } else if (seen < bucket) {
      this.lastSeen.set(key, bucket);
    }
  }

  /** Distinct keys seen in buckets >= firstBucket; forgets older ones. */
  countSince(firstBucket: number): number {
    for (const [k, b] of this.lastSeen) if (b < firstBucket) this.lastSeen.delete(k);
    return this.lastSeen.size;
  }

  get size(): number {
    return this.lastSeen.size;
  }
}
