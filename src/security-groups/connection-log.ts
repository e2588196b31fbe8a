/**
 * The per-port detail security groups are learned from, which the fleet's windows do not keep: the VM
 * windows hold counters and distinct port sets per VM, and the pair table bytes per VM pair, but neither
 * says which port one VM served another. This log keeps one entry per connection (client end, server end,
 * protocol, service port), with flows and bytes in the latest window and in the windows before it.
 *
 * A connection, not a record: both directions of a conversation add to one entry (security groups are
 * stateful; a reply rides on its request), and the client's ephemeral port is dropped, so a client that
 * opens a new connection every minute is still one entry. A record whose ports cannot tell the service end
 * (two ports above the well-known range on the same side of the ephemeral boundary, as in cluster
 * interconnects) is kept with both ports and its ends in a fixed order; the learner decides which end
 * serves (resolveConnections in recommend.ts).
 *
 * Time is kept in epochs of a quarter window, like the pair table: a ring of EPOCHS_PER_WINDOW + 1 epoch
 * slots holds the latest window, and an epoch that leaves the ring is added to `earlier`. The check window
 * of a run is the EPOCHS_PER_WINDOW epochs ending with the watermark's; everything older is what rules are
 * learned from. Bounded: at most `maxConnections` entries (new ones beyond it refused and counted); an
 * entry silent for `retainWindows` windows is forgotten.
 */
import { ICMP, ICMPV6 } from '../contract/protocols.ts';
import type { FlowRecord } from '../contract/records.ts';
import { LOCAL_SERVICE, NO_SERVICE, REMOTE_SERVICE, serviceEnd } from '../traffic/ports.ts';

export const EPOCHS_PER_WINDOW = 4;
const RING = EPOCHS_PER_WINDOW + 1;
export const DEFAULT_MAX_CONNECTIONS = 1_000_000;
export const DEFAULT_RETAIN_WINDOWS = 4;

/** One end of a connection: a VM (by id) or an address outside the VMs of the fleet. */
export interface ConnectionEnd {
  vmId: string | null;
  ip: string;
}

export interface Connection {
  client: ConnectionEnd;
  server: ConnectionEnd;
  protocol: number;
  /** The server end's port; -1 for protocols without ports. */
  port: number;
  /**
   * The client end's port when the records could not tell which end serves (then `client` and `server`
   * are only the ends in a fixed order); -1 otherwise.
   */
  otherPort: number;
  /** Epoch of the newest record. */
  newestEpoch: number;
  /** Flows then bytes per epoch slot (epoch % RING). */
  ring: Float64Array;
  earlierFlows: number;
  earlierBytes: number;
}

/** Flows and bytes of a connection split at the start of the check window. */
export interface ConnectionTraffic {
  earlierFlows: number;
  earlierBytes: number;
  latestFlows: number;
  latestBytes: number;
}

export interface ConnectionLogCounters {
  /** Records added to an entry. */
  recorded: number;
  /** Records of a new connection turned away at `maxConnections`. */
  refused: number;
  /** Records with a port outside 0..65535 (the decoder rejects them; a guard, never a rule). */
  badPort: number;
  /** Records with no VM end: nothing to learn a group's rule from. */
  noVm: number;
  /** Entries forgotten after `retainWindows` silent windows. */
  forgotten: number;
}

export class ConnectionLog {
  private readonly entries = new Map<string, Connection>();
  readonly epochMs: number;
  private newestEpoch = Number.NEGATIVE_INFINITY;
  private purgedEpoch = Number.NEGATIVE_INFINITY;
  readonly counters: ConnectionLogCounters = { recorded: 0, refused: 0, badPort: 0, noVm: 0, forgotten: 0 };

  constructor(
    readonly windowMs: number,
    readonly maxConnections: number = DEFAULT_MAX_CONNECTIONS,
    readonly retainWindows: number = DEFAULT_RETAIN_WINDOWS,
  ) {
    if (!(windowMs > 0)) throw new RangeError('windowMs must be positive');
    if (!(maxConnections >= 0)) throw new RangeError('maxConnections must not be negative');
    if (!(retainWindows >= 1)) throw new RangeError('retainWindows must be at least 1');
    this.epochMs = windowMs / EPOCHS_PER_WINDOW;
  }

  get size(): number {
    return this.entries.size;
  }

  epochOf(ts: number): number {
    return Math.floor(ts / this.epochMs);
  }

  /** Adds one accepted flow record; false when it was not kept (counted by reason). */
  add(f: FlowRecord): boolean {
    if (f.srcVm === null && f.dstVm === null) {
      this.counters.noVm++;
      return false;
    }
    const icmp = f.protocol === ICMP || f.protocol === ICMPV6;
    let sp = icmp ? -1 : f.srcPort;
    let dp = icmp ? -1 : f.dstPort;
    if (sp > 65_535 || dp > 65_535 || sp < -1 || dp < -1 || !Number.isInteger(sp) || !Number.isInteger(dp)) {
      this.counters.badPort++;
      return false;
    }
    if (sp < 0 || dp < 0) sp = dp = -1;
    const src: ConnectionEnd = { vmId: f.srcVm, ip: f.srcIp };
    const dst: ConnectionEnd = { vmId: f.dstVm, ip: f.dstIp };
    let client: ConnectionEnd;
    let server: ConnectionEnd;
    let port: number;
    let otherPort = -1;
    const end = sp < 0 ? NO_SERVICE : serviceEnd(sp, dp);
    if (end === LOCAL_SERVICE) {
      // The source serves: a reply.
      client = dst;
      server = src;
      port = sp;
    } else if (end === REMOTE_SERVICE) {
      client = src;
      server = dst;
      port = dp;
    } else if (sp < 0) {
      // No ports (ICMP): the ends in a fixed order, so that an echo and its reply are one entry.
      [client, server] = endKey(src) <= endKey(dst) ? [src, dst] : [dst, src];
      port = -1;
    } else {
      // Undecided: both ports kept, ends in a fixed order.
      if (endKey(src) <= endKey(dst)) {
        client = src;
        server = dst;
        port = dp;
        otherPort = sp;
      } else {
        client = dst;
        server = src;
        port = sp;
        otherPort = dp;
      }
    }
    const key = `${f.protocol}|${port}|${otherPort}|${endKey(client)}|${endKey(server)}`;
    const epoch = this.epochOf(f.ts);
    if (epoch > this.newestEpoch) this.newestEpoch = epoch;
    // Before the cap is checked: room made by forgotten entries is room for this one.
    if (epoch > this.purgedEpoch) this.purge(epoch);
    let c = this.entries.get(key);
    if (c === undefined) {
      if (this.entries.size >= this.maxConnections) {
        this.counters.refused++;
        return false;
      }
      c = { client, server, protocol: f.protocol, port, otherPort, newestEpoch: epoch, ring: new Float64Array(2 * RING), earlierFlows: 0, earlierBytes: 0 };
      this.entries.set(key, c);
    }
    this.roll(c, epoch);
    if (epoch <= c.newestEpoch - RING) {
      // Older than the ring (a late record): it belongs to the earlier windows.
      c.earlierFlows++;
      c.earlierBytes += f.bytes;
    } else {
      const slot = 2 * slotOf(epoch);
      c.ring[slot]!++;
      c.ring[slot + 1]! += f.bytes;
    }
    this.counters.recorded++;
    return true;
  }

  /** Moves the epochs that leave the ring when `epoch` becomes the entry's newest into `earlier`. */
  private roll(c: Connection, epoch: number): void {
    if (epoch <= c.newestEpoch) return;
    const clear = Math.min(RING, epoch - c.newestEpoch);
    for (let e = epoch - clear + 1; e <= epoch; e++) {
      const slot = 2 * slotOf(e);
      c.earlierFlows += c.ring[slot]!;
      c.earlierBytes += c.ring[slot + 1]!;
      c.ring[slot] = 0;
      c.ring[slot + 1] = 0;
    }
    c.newestEpoch = epoch;
  }

  /** Forgets entries silent for `retainWindows` windows; at most once per epoch. */
  private purge(epoch: number): void {
    this.purgedEpoch = epoch;
    const before = epoch - this.retainWindows * EPOCHS_PER_WINDOW;
    for (const [key, c] of this.entries) {
      if (c.newestEpoch < before) {
        this.entries.delete(key);
        this.counters.forgotten++;
      }
    }
  }

  /**
   * Every connection with its traffic split at the check window: the EPOCHS_PER_WINDOW epochs that end with
   * the epoch of `watermark`. Entries are not changed; `visit` gets one reused traffic object.
   */
  forEachTraffic(watermark: number, visit: (c: Connection, t: ConnectionTraffic) => void): void {
    const last = this.epochOf(watermark);
    const first = last - EPOCHS_PER_WINDOW + 1;
    const t: ConnectionTraffic = { earlierFlows: 0, earlierBytes: 0, latestFlows: 0, latestBytes: 0 };
    for (const c of this.entries.values()) {
      t.earlierFlows = c.earlierFlows;
      t.earlierBytes = c.earlierBytes;
      t.latestFlows = 0;
      t.latestBytes = 0;
      for (let e = c.newestEpoch - RING + 1; e <= c.newestEpoch; e++) {
        const slot = 2 * slotOf(e);
        const flows = c.ring[slot]!;
        const bytes = c.ring[slot + 1]!;
        if (e >= first && e <= last) {
          t.latestFlows += flows;
          t.latestBytes += bytes;
        } else if (e < first) {
          t.earlierFlows += flows;
          t.earlierBytes += bytes;
        }
      }
      visit(c, t);
    }
  }

  /** forEachTraffic as a list of copies (tests, small logs). */
  traffic(watermark: number): Array<[Connection, ConnectionTraffic]> {
    const out: Array<[Connection, ConnectionTraffic]> = [];
    this.forEachTraffic(watermark, (c, t) => out.push([c, { ...t }]));
    return out;
  }
}

function slotOf(epoch: number): number {
  return ((epoch % RING) + RING) % RING;
}

export function endKey(e: ConnectionEnd): string {
  return e.vmId === null ? `a${e.ip}` : `v${e.vmId}`;
}
