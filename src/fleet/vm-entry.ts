import type { VmAttributes } from '../contract/records.ts';
import type { RingSlab } from '../windows/ring-slab.ts';
import type { DistinctSets } from '../windows/distinct-sets.ts';

/** What the service knows of one VM: its latest attributes and its traffic in the window. */
export class VmEntry {
  attributes: VmAttributes | null = null;
  /** Newest event time at which a flow or attributes message mentioned this VM. */
  lastSeen = -1;
  /**
   * Watermark of the fleet's last sweep of silent VMs when this entry was made: attributes older than it
   * by the idle time would have expired before this entry existed, whatever the order they arrive in.
   */
  bornAfterSweep = Number.NEGATIVE_INFINITY;
  /** This VM's ring in the fleet's slab of bucket rings. */
  readonly ring: number;
  /**
   * Distinct peers out and in (VM serials, or addresses outside the overlay) and service ports used and
   * served, in the window.
   */
  readonly distinct: DistinctSets;

  constructor(
    readonly vmId: string,
    /** Unique per entry in its fleet: a number key for peer sets, faster to hash than the id string. */
    readonly serial: number,
    /** The fleet's rings, shared: one object the hot path keeps in cache. */
    readonly slab: RingSlab,
    distinct: DistinctSets,
  ) {
    this.ring = slab.alloc();
    this.distinct = distinct;
  }

  get tenantId(): string | null {
    return this.attributes?.tenantId ?? null;
  }

  get hostId(): string | null {
    return this.attributes?.hostId ?? null;
  }
}
