export interface WindowConfig {
  /** Length of the sliding window of event time. */
  windowMs: number;
  /** Granularity of the window: old data leaves it one bucket at a time. */
  bucketMs: number;
  /** How far behind the watermark (the newest event time seen) a record may be and still count. */
  allowedLatenessMs: number;
  /**
   * Exact distinct peers (and service ports) kept per VM and set; beyond it the set is counted by a
   * HyperLogLog sketch (src/windows/windowed-hll.ts).
   */
  maxPeersPerVm: number;
  /** VM pairs whose traffic is remembered (the affinity graph's edges); default DEFAULT_MAX_VM_PAIRS. */
  maxVmPairs?: number;
  /** VMs tracked at once; a new VM beyond it is refused (counted), existing ones keep working. Default DEFAULT_MAX_VMS. */
  maxVms?: number;
  /**
   * A VM with no flow and no attributes message for this long (event time, behind the watermark) is
   * forgotten. At least the window; default twice the window.
   */
  idleMs?: number;
  /** How long (event time) a deleted VM's tombstone is kept against older messages; default DEFAULT_DELETED_RETENTION_MS. */
  deletedRetentionMs?: number;
  /**
   * Tenants held at once (their attributes); a new tenant beyond it is refused (counted), held ones keep
   * updating. Default DEFAULT_MAX_TENANTS. Optional like the two below, and left out unless set, so that
   * snapshots of builds without it stay compatible.
   */
  maxTenants?: number;
  /** Labels held over all tenants; a tenant message that would pass it is applied without its labels (counted). Default DEFAULT_MAX_TENANT_LABELS. */
  maxTenantLabels?: number;
  /** Tombstones of deleted VMs held at once; beyond it the oldest is forgotten early (counted). Default DEFAULT_MAX_DELETED_VMS. */
  maxDeletedVms?: number;
}

export const DEFAULT_MAX_VMS = 250_000;
export const DEFAULT_DELETED_RETENTION_MS = 24 * 3_600_000;
export const DEFAULT_MAX_TENANTS = 100_000;
export const DEFAULT_MAX_TENANT_LABELS = 200_000;
export const DEFAULT_MAX_DELETED_VMS = 250_000;

export const defaultWindowConfig: WindowConfig = {
  windowMs: 15 * 60_000,
  bucketMs: 60_000,
  allowedLatenessMs: 5 * 60_000,
  // Far above any role of the fixtures (365 peers at most): only scanners and large hubs reach it.
  maxPeersPerVm: 4096,
};

export function validateWindowConfig(c: WindowConfig): WindowConfig {
  if (!(c.bucketMs > 0) || !(c.windowMs >= c.bucketMs)) throw new RangeError('window must be at least one bucket long');
  if (c.windowMs % c.bucketMs !== 0) throw new RangeError('window length must be a whole number of buckets');
  if (!(c.allowedLatenessMs >= 0) || c.allowedLatenessMs > c.windowMs)
    throw new RangeError('allowed lateness must be between 0 and the window length');
  if (!(c.maxPeersPerVm >= 1)) throw new RangeError('maxPeersPerVm must be at least 1');
  if (c.maxVms !== undefined && !(c.maxVms >= 1)) throw new RangeError('maxVms must be at least 1');
  if (c.maxVmPairs !== undefined && !(c.maxVmPairs >= 0)) throw new RangeError('maxVmPairs must not be negative');
  if (c.idleMs !== undefined && !(c.idleMs >= c.windowMs)) throw new RangeError('the idle time must be at least the window');
  if (c.deletedRetentionMs !== undefined && !(c.deletedRetentionMs >= 0)) throw new RangeError('deleted retention must not be negative');
  if (c.maxTenants !== undefined && !(c.maxTenants >= 1)) throw new RangeError('maxTenants must be at least 1');
  if (c.maxTenantLabels !== undefined && !(c.maxTenantLabels >= 0)) throw new RangeError('maxTenantLabels must not be negative');
  if (c.maxDeletedVms !== undefined && !(c.maxDeletedVms >= 1)) throw new RangeError('maxDeletedVms must be at least 1');
  return c;
}

/** Number of whole buckets in the window. */
export function windowBuckets(c: WindowConfig): number {
  return c.windowMs / c.bucketMs;
}

/** Event time after which a silent VM is forgotten. */
export function idleMsOf(c: WindowConfig): number {
  return c.idleMs ?? 2 * c.windowMs;
}
