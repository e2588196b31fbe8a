import type { VmAttributes } from '../contract/records.ts';
import { STAT_COUNT } from '../features/vm-stats.ts';
import { BucketRing } from '../windows/bucket-ring.ts';
import { DistinctRecent } from '../windows/distinct-recent.ts';

/** What the service knows of one VM: its latest attributes and its traffic in the window. */
export class VmEntry {
  attributes: VmAttributes | null = null;
  /** Newest event time at which a flow or attributes message mentioned this VM. */
  lastSeen = -1;
  readonly ring: BucketRing;
  /** Peers are VM serials (cheap number keys) or, outside the overlay, IP addresses. */
  readonly peersOut: DistinctRecent;
  readonly peersIn: DistinctRecent;
  /** Service ports this VM contacted as a client, and served as a server. */
  readonly remotePorts: DistinctRecent;
  readonly localPorts: DistinctRecent;

  constructor(
    readonly vmId: string,
    /** Unique per entry in its fleet: a number key for peer sets, faster to hash than the id string. */
    readonly serial: number,
    slots: number,
    maxPeers: number,
  ) {
    this.ring = new BucketRing(slots, STAT_COUNT);
    this.peersOut = new DistinctRecent(maxPeers);
    this.peersIn = new DistinctRecent(maxPeers);
    this.remotePorts = new DistinctRecent(maxPeers);
    this.localPorts = new DistinctRecent(maxPeers);
  }

  get tenantId(): string | null {
    return this.attributes?.tenantId ?? null;
  }

  get hostId(): string | null {
    return this.attributes?.hostId ?? null;
  }
}
