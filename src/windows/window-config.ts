export interface WindowConfig {
  /** Length of the sliding window of event time. */
  windowMs: number;
  /** Granularity of the window: old data leaves it one bucket at a time. */
  bucketMs: number;
  /** How far behind the watermark (the newest event time seen) a record may be and still count. */
  allowedLatenessMs: number;
  /** Distinct peers and ports remembered per VM; beyond it new ones are counted as overflow. */
  maxPeersPerVm: number;
  /** VM pairs whose traffic is remembered (the affinity graph's edges); default DEFAULT_MAX_VM_PAIRS. */
  maxVmPairs?: number;
}

export const defaultWindowConfig: WindowConfig = {
  windowMs: 15 * 60_000,
  bucketMs: 60_000,
  allowedLatenessMs: 5 * 60_000,
  maxPeersPerVm: 50_000,
};

export function validateWindowConfig(c: WindowConfig): WindowConfig {
  if (!(c.bucketMs > 0) || !(c.windowMs >= c.bucketMs)) throw new RangeError('window must be at least one bucket long');
  if (c.windowMs % c.bucketMs !== 0) throw new RangeError('window length must be a whole number of buckets');
  if (!(c.allowedLatenessMs >= 0) || c.allowedLatenessMs > c.windowMs)
    throw new RangeError('allowed lateness must be between 0 and the window length');
  return c;
}

/** Number of whole buckets in the window. */
export function windowBuckets(c: WindowConfig): number {
  return c.windowMs / c.bucketMs;
}
