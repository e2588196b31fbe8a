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
 * interconnects) is kept with both ports and its ends in a fixed order; which end serves is decided per
 * run by how many distinct peers each end's port meets (ListeningDegrees, kept up to date as rows arrive),
 * and a run's split says which rows turn round (ConnectionSplit.turned).
 *
 * Time is kept in epochs of a quarter window, like the pair table: a ring of EPOCHS_PER_WINDOW + 1 epoch
 * slots holds the latest window, and an epoch that leaves the ring is added to `earlier`. The check window
 * of a run is the EPOCHS_PER_WINDOW epochs ending with the watermark's; everything older is what rules are
 * learned from. Bounded: at most `maxConnections` entries (new ones beyond it refused and counted); an
 * entry silent for `retainWindows` windows is forgotten.
 *
 * Columns of integers rather than an object and a string key per connection: at 100k VMs the log holds
 * about 3 million connections, and the learner walks all of them at every run. Ends (a VM, or an address
 * outside the fleet's VMs) and addresses are interned to small integers; connections sit in insertion
 * order (the order the learner and its output depend on) behind an open-addressing hash of their key.
 */
import { ICMP, ICMPV6 } from '../contract/protocols.ts';
import type { FlowRecord } from '../contract/records.ts';
import { LOCAL_SERVICE, NO_SERVICE, REMOTE_SERVICE, serviceEnd } from '../traffic/ports.ts';
import { IntColumn, IntTupleTable } from './int-table.ts';

export const EPOCHS_PER_WINDOW = 4;
const RING = EPOCHS_PER_WINDOW + 1;
export const DEFAULT_MAX_CONNECTIONS = 1_000_000;
export const DEFAULT_RETAIN_WINDOWS = 4;
const INITIAL_ROWS = 1024;

/** One end of a connection: a VM (by id) or an address outside the VMs of the fleet. */
export interface ConnectionEnd {
  vmId: string | null;
  ip: string;
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

/**
 * The log's connections at one watermark, as columns (ConnectionLog.split). The ends, addresses, protocol
 * and ports are the log's own columns, not copies: they never change for a row once added, and a purge
 * writes new ones. Readers must not write them. The traffic columns are the split's own. Ends and
 * addresses are the log's interned tables; they only grow between compactions, and a compaction replaces
 * them, so these references stay valid.
 */
export interface ConnectionColumns {
  count: number;
  /** Ends and addresses interned when the copy was taken (ids below these). */
  ends: number;
  ipCount: number;
  client: Int32Array;
  server: Int32Array;
  /** Address ids of the ends as the connection's first record gave them. */
  clientIp: Int32Array;
  serverIp: Int32Array;
  protocol: Int32Array;
  /** The server end's port; -1 for protocols without ports. */
  port: Int32Array;
  /** The client end's port when the records could not tell which end serves; -1 otherwise. */
  otherPort: Int32Array;
  earlierFlows: Float64Array;
  earlierBytes: Float64Array;
  latestFlows: Float64Array;
  latestBytes: Float64Array;
  /** Per end id: the VM id, or null for an address. */
  endVm: readonly (string | null)[];
  /** Per address id: the address, and 1 for IPv6. */
  ips: readonly string[];
  ipV6: Uint8Array;
  /** End ids of VMs by VM id. */
  vmEnds: ReadonlyMap<string, number>;
  /**
   * How the log's compactions since the columns whose `endVm` is `since` renumbered rows, ends and
   * addresses into these columns' numbering; null when not known (too many compactions ago, or never).
   */
  renumberedSince(since: object): Renumbering | null;
}

/**
 * Old number to new of a compaction's survivors (-1: forgotten): rows keep their order, so a row's new
 * number is never above its old one, and rows added after a given one stay after it.
 */
export interface Renumbering {
  rows: Int32Array;
  ends: Int32Array;
  ips: Int32Array;
}

/**
 * One compaction: the end table before and after it, and its renumbering. The tables held, not weakly: the
 * kept structures know the table they filed against by a weak reference, which must not die before they
 * look it up here (a run's columns, which hold it, may be released long before the next run).
 */
interface Compaction extends Renumbering {
  from: object;
  to: object;
}

/**
 * Compactions remembered for the kept structures (learned-entries.ts, kept-verdicts.ts) to follow: with the
 * defaults (3.75-minute epochs, a run every 5 minutes) at most two between two runs; one more covers a run
 * that took long. 4 bytes a row each (48 MB at 4 million connections for three).
 */
const KEPT_COMPACTIONS = 3;

/** The log as plain data, for snapshots (src/fleet/fleet-codec.ts). Rows in insertion order. */
export interface ConnectionLogState {
  windowMs: number;
  newestEpoch: number;
  purgedEpoch: number;
  counters: ConnectionLogCounters;
  endVm: (string | null)[];
  endIp: number[];
  ips: string[];
  /** Per row: client, server, client ip, server ip, protocol, port, other port. */
  ints: Int32Array;
  /** Per row: newest epoch, earlier flows, earlier bytes, then the ring's flows and bytes per slot. */
  doubles: Float64Array;
}

const INTS = 7;
const DOUBLES = 3 + 2 * RING;

export class ConnectionLog {
  readonly epochMs: number;
  private newestEpoch = Number.NEGATIVE_INFINITY;
  private purgedEpoch = Number.NEGATIVE_INFINITY;
  readonly counters: ConnectionLogCounters = { recorded: 0, refused: 0, badPort: 0, noVm: 0, forgotten: 0 };
  /** Connections in insertion order. */
  private rows = 0;
  private cClient = new Int32Array(INITIAL_ROWS);
  private cServer = new Int32Array(INITIAL_ROWS);
  private cClientIp = new Int32Array(INITIAL_ROWS);
  private cServerIp = new Int32Array(INITIAL_ROWS);
  private cProtocol = new Int32Array(INITIAL_ROWS);
  private cPort = new Int32Array(INITIAL_ROWS);
  private cOther = new Int32Array(INITIAL_ROWS);
  /** Per undecided row: the ListeningDegrees ids of its server's and client's (end, port); -1 for a decided row. */
  private cServerPort = new Int32Array(INITIAL_ROWS);
  private cClientPort = new Int32Array(INITIAL_ROWS);
  private cNewest = new Float64Array(INITIAL_ROWS);
  private cEarlierFlows = new Float64Array(INITIAL_ROWS);
  private cEarlierBytes = new Float64Array(INITIAL_ROWS);
  /** Flows then bytes per epoch slot (epoch % RING), 2 * RING per row. */
  private ring = new Float64Array(INITIAL_ROWS * 2 * RING);
  /** Open addressing: row + 1, 0 for empty; at most half full. */
  private table = new Int32Array(2 * INITIAL_ROWS);
  // Interned ends and addresses. Replaced (never shrunk in place) at compaction: see ConnectionColumns.
  private vmEnds = new Map<string, number>();
  private addressEnds = new Map<string, number>();
  private endVm: (string | null)[] = [];
  private endIp: number[] = [];
  private ipIds = new Map<string, number>();
  private ips: string[] = [];
  private ipV6 = new Uint8Array(1024);
  /**
   * Splits being taken (usually none or one): see ConnectionSplit. Held weakly: a computation dropped
   * before its end (an error in a step) must not leave the log filling in a split no one reads.
   */
  private pins: WeakRef<ConnectionSplit>[] = [];
  private degrees = new ListeningDegrees();
  /**
   * Undecided rows added while a split is being taken, linked once no split is: a run's degrees are those
   * of the rows it sees, as resolving them all at its start gave.
   */
  private deferredLinks = new IntColumn(16);
  /** Each row's traffic as the last split computed it: see SplitTraffic. */
  private readonly splitTraffic = new SplitTraffic(INITIAL_ROWS);
  /** The latest compactions, oldest first: see Renumbering. */
  private compactions: Compaction[] = [];

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
    return this.rows;
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
    // Whether the source is the client end, and the ports of server and client.
    let srcIsClient: boolean;
    let port: number;
    let otherPort = -1;
    const end = sp < 0 ? NO_SERVICE : serviceEnd(sp, dp);
    if (end === LOCAL_SERVICE) {
      // The source serves: a reply.
      srcIsClient = false;
      port = sp;
    } else if (end === REMOTE_SERVICE) {
      srcIsClient = true;
      port = dp;
    } else if (sp < 0) {
      // No ports (ICMP): the ends in a fixed order, so that an echo and its reply are one entry.
      srcIsClient = endOrdered(f.srcVm, f.srcIp, f.dstVm, f.dstIp);
      port = -1;
    } else {
      // Undecided: both ports kept, ends in a fixed order.
      srcIsClient = endOrdered(f.srcVm, f.srcIp, f.dstVm, f.dstIp);
      port = srcIsClient ? dp : sp;
      otherPort = srcIsClient ? sp : dp;
    }
    const clientVm = srcIsClient ? f.srcVm : f.dstVm;
    const clientIp = srcIsClient ? f.srcIp : f.dstIp;
    const serverVm = srcIsClient ? f.dstVm : f.srcVm;
    const serverIp = srcIsClient ? f.dstIp : f.srcIp;
    const epoch = this.epochOf(f.ts);
    if (epoch > this.newestEpoch) this.newestEpoch = epoch;
    // Before the cap is checked: room made by forgotten entries is room for this one.
    if (epoch > this.purgedEpoch) this.purge(epoch);
    // Looked up without interning first: a refused connection must not grow the end tables.
    let client = clientVm === null ? this.addressEnds.get(clientIp) : this.vmEnds.get(clientVm);
    let server = serverVm === null ? this.addressEnds.get(serverIp) : this.vmEnds.get(serverVm);
    const protocol = f.protocol;
    let row = client === undefined || server === undefined ? -1 : this.find(client, server, protocol, port, otherPort);
    if (row < 0) {
      if (this.rows >= this.maxConnections) {
        this.counters.refused++;
        return false;
      }
      client ??= this.internEnd(clientVm, clientIp);
      server ??= this.internEnd(serverVm, serverIp);
      row = this.insert(client, server, this.internIp(clientIp), this.internIp(serverIp), protocol, port, otherPort, epoch);
    }
    // A run's split still being taken must see the row as it was when the run began.
    if (this.pins.length !== 0) this.beforeChange(row);
    this.splitTraffic.forget(row);
    this.roll(row, epoch);
    if (epoch <= this.cNewest[row]! - RING) {
      // Older than the ring (a late record): it belongs to the earlier windows.
      this.cEarlierFlows[row]!++;
      this.cEarlierBytes[row]! += f.bytes;
    } else {
      const slot = row * 2 * RING + 2 * slotOf(epoch);
      this.ring[slot]!++;
      this.ring[slot + 1]! += f.bytes;
    }
    this.counters.recorded++;
    return true;
  }

  private internEnd(vmId: string | null, ip: string): number {
    // Both ends of a connection may be one VM (or address): the second finds the first's id.
    const known = vmId === null ? this.addressEnds.get(ip) : this.vmEnds.get(vmId);
    if (known !== undefined) return known;
    const id = this.endVm.length;
    this.endVm.push(vmId);
    this.endIp.push(this.internIp(ip));
    if (vmId === null) this.addressEnds.set(ip, id);
    else this.vmEnds.set(vmId, id);
    return id;
  }

  private internIp(ip: string): number {
    let id = this.ipIds.get(ip);
    if (id === undefined) {
      id = this.ips.length;
      this.ips.push(ip);
      this.ipIds.set(ip, id);
      if (id >= this.ipV6.length) {
        const grown = new Uint8Array(2 * this.ipV6.length);
        grown.set(this.ipV6);
        this.ipV6 = grown;
      }
      this.ipV6[id] = ip.includes(':') ? 1 : 0;
    }
    return id;
  }

  private find(client: number, server: number, protocol: number, port: number, otherPort: number): number {
    const t = this.table;
    const mask = t.length - 1;
    let i = hashOf(client, server, protocol, port, otherPort) & mask;
    for (;;) {
      const r = t[i]! - 1;
      if (r < 0) return -1;
      if (this.cClient[r] === client && this.cServer[r] === server && this.cPort[r] === port && this.cProtocol[r] === protocol && this.cOther[r] === otherPort) return r;
      i = (i + 1) & mask;
    }
  }

  private insert(client: number, server: number, clientIp: number, serverIp: number, protocol: number, port: number, otherPort: number, epoch: number): number {
    if (this.rows === this.cClient.length) this.growRows(2 * this.rows);
    const r = this.rows++;
    this.cClient[r] = client;
    this.cServer[r] = server;
    this.cClientIp[r] = clientIp;
    this.cServerIp[r] = serverIp;
    this.cProtocol[r] = protocol;
    this.cPort[r] = port;
    this.cOther[r] = otherPort;
    this.cNewest[r] = epoch;
    this.cEarlierFlows[r] = 0;
    this.cEarlierBytes[r] = 0;
    this.ring.fill(0, r * 2 * RING, (r + 1) * 2 * RING);
    this.cServerPort[r] = -1;
    this.cClientPort[r] = -1;
    this.splitTraffic.forget(r);
    if (otherPort >= 0) {
      if (this.pins.length !== 0 && this.splitsTaken()) this.deferredLinks.push(r);
      else this.link(r);
    }
    if (2 * this.rows > this.table.length) this.rehash(2 * this.table.length);
    else this.place(r);
    return r;
  }

  /** Files undecided row `r`'s two (end, port) pairs and their link in the degrees. */
  private link(r: number): void {
    const d = this.degrees;
    d.link(this.cServer[r]!, this.cPort[r]!, this.cClient[r]!, this.cOther[r]!);
    this.cServerPort[r] = d.serverId;
    this.cClientPort[r] = d.clientId;
  }

  /** Whether a split is still being taken; when none is, the rows deferred meanwhile are linked. */
  private splitsTaken(): boolean {
    if (this.pins.length !== 0) this.pins = this.pins.filter((p) => p.deref() !== undefined);
    if (this.pins.length !== 0) return true;
    for (let k = 0; k < this.deferredLinks.length; k++) this.link(this.deferredLinks.values[k]!);
    this.deferredLinks.length = 0;
    return false;
  }

  private place(r: number): void {
    const t = this.table;
    const mask = t.length - 1;
    let i = hashOf(this.cClient[r]!, this.cServer[r]!, this.cProtocol[r]!, this.cPort[r]!, this.cOther[r]!) & mask;
    while (t[i] !== 0) i = (i + 1) & mask;
    t[i] = r + 1;
  }

  private rehash(slots: number): void {
    this.table = new Int32Array(slots);
    for (let r = 0; r < this.rows; r++) this.place(r);
  }

  private growRows(rows: number): void {
    const grow = <T extends Int32Array | Float64Array>(a: T, n: number): T => {
      const b = new (a.constructor as new (n: number) => T)(n);
      b.set(a.subarray(0, Math.min(a.length, n)));
      return b;
    };
    this.cClient = grow(this.cClient, rows);
    this.cServer = grow(this.cServer, rows);
    this.cClientIp = grow(this.cClientIp, rows);
    this.cServerIp = grow(this.cServerIp, rows);
    this.cProtocol = grow(this.cProtocol, rows);
    this.cPort = grow(this.cPort, rows);
    this.cOther = grow(this.cOther, rows);
    this.cServerPort = grow(this.cServerPort, rows);
    this.cClientPort = grow(this.cClientPort, rows);
    this.cNewest = grow(this.cNewest, rows);
    this.cEarlierFlows = grow(this.cEarlierFlows, rows);
    this.cEarlierBytes = grow(this.cEarlierBytes, rows);
    this.ring = grow(this.ring, rows * 2 * RING);
    this.splitTraffic.grow(rows);
  }

  /** Moves the epochs that leave the ring when `epoch` becomes the row's newest into `earlier`. */
  private roll(r: number, epoch: number): void {
    const newest = this.cNewest[r]!;
    if (epoch <= newest) return;
    const clear = Math.min(RING, epoch - newest);
    const base = r * 2 * RING;
    for (let e = epoch - clear + 1; e <= epoch; e++) {
      const slot = base + 2 * slotOf(e);
      this.cEarlierFlows[r]! += this.ring[slot]!;
      this.cEarlierBytes[r]! += this.ring[slot + 1]!;
      this.ring[slot] = 0;
      this.ring[slot + 1] = 0;
    }
    this.cNewest[r] = epoch;
  }

  /**
   * Forgets entries silent for `retainWindows` windows; at most once per epoch. The survivors keep their
   * order, and ends and addresses no survivor uses are forgotten with them (outside addresses are
   * unbounded: a scan from many sources must not grow the tables for good).
   */
  private purge(epoch: number): void {
    this.purgedEpoch = epoch;
    const before = epoch - this.retainWindows * EPOCHS_PER_WINDOW;
    let kept = 0;
    for (let r = 0; r < this.rows; r++) if (this.cNewest[r]! >= before) kept++;
    if (kept === this.rows) return;
    // Splits being taken are finished first: the rows they read move now.
    for (const pin of this.pins) pin.deref()?.fillAll();
    this.pins = [];
    // Into new columns, never in place: a run's snapshot (ConnectionColumns) reads the old ones.
    const from = this.columnsRef();
    this.allocateRows(this.cClient.length);
    const rowMap = new Int32Array(this.rows).fill(-1);
    let to = 0;
    for (let r = 0; r < this.rows; r++) if (from.newest[r]! >= before) {
      this.copyRow(from, r, to);
      rowMap[r] = to;
      this.splitTraffic.move(r, to++);
    }
    this.counters.forgotten += this.rows - kept;
    this.rows = kept;
    const oldEnds = this.endVm;
    const { ends, ips } = this.compactEnds();
    this.compactions.push({ from: oldEnds, to: this.endVm, rows: rowMap, ends, ips });
    if (this.compactions.length > KEPT_COMPACTIONS) this.compactions.shift();
    let slots = 2 * INITIAL_ROWS;
    while (slots < 2 * kept) slots *= 2;
    this.rehash(slots);
    // The ends were renumbered and links forgotten: the degrees are counted again over the survivors.
    this.degrees = new ListeningDegrees();
    this.deferredLinks.length = 0;
    for (let r = 0; r < this.rows; r++) if (this.cOther[r]! >= 0) this.link(r);
  }

  private columnsRef(): RowColumns {
    return {
      client: this.cClient,
      server: this.cServer,
      clientIp: this.cClientIp,
      serverIp: this.cServerIp,
      protocol: this.cProtocol,
      port: this.cPort,
      other: this.cOther,
      serverPort: this.cServerPort,
      clientPort: this.cClientPort,
      newest: this.cNewest,
      earlierFlows: this.cEarlierFlows,
      earlierBytes: this.cEarlierBytes,
      ring: this.ring,
    };
  }

  private allocateRows(rows: number): void {
    this.cClient = new Int32Array(rows);
    this.cServer = new Int32Array(rows);
    this.cClientIp = new Int32Array(rows);
    this.cServerIp = new Int32Array(rows);
    this.cProtocol = new Int32Array(rows);
    this.cPort = new Int32Array(rows);
    this.cOther = new Int32Array(rows);
    this.cServerPort = new Int32Array(rows);
    this.cClientPort = new Int32Array(rows);
    this.cNewest = new Float64Array(rows);
    this.cEarlierFlows = new Float64Array(rows);
    this.cEarlierBytes = new Float64Array(rows);
    this.ring = new Float64Array(rows * 2 * RING);
  }

  private copyRow(c: RowColumns, from: number, to: number): void {
    this.cClient[to] = c.client[from]!;
    this.cServer[to] = c.server[from]!;
    this.cClientIp[to] = c.clientIp[from]!;
    this.cServerIp[to] = c.serverIp[from]!;
    this.cProtocol[to] = c.protocol[from]!;
    this.cPort[to] = c.port[from]!;
    this.cOther[to] = c.other[from]!;
    this.cNewest[to] = c.newest[from]!;
    this.cEarlierFlows[to] = c.earlierFlows[from]!;
    this.cEarlierBytes[to] = c.earlierBytes[from]!;
    this.ring.set(c.ring.subarray(from * 2 * RING, (from + 1) * 2 * RING), to * 2 * RING);
  }

  /** New end and address tables holding only what the rows use, in first-use order; old id to new. */
  private compactEnds(): { ends: Int32Array; ips: Int32Array } {
    const endMap = new Int32Array(this.endVm.length).fill(-1);
    const ipMap = new Int32Array(this.ips.length).fill(-1);
    const endVm: (string | null)[] = [];
    const endIp: number[] = [];
    const ips: string[] = [];
    const ipIds = new Map<string, number>();
    const vmEnds = new Map<string, number>();
    const addressEnds = new Map<string, number>();
    const ipV6 = new Uint8Array(Math.max(1024, this.ips.length));
    const ipOf = (old: number): number => {
      let id = ipMap[old]!;
      if (id < 0) {
        id = ipMap[old] = ips.length;
        const ip = this.ips[old]!;
        ips.push(ip);
        ipIds.set(ip, id);
        ipV6[id] = this.ipV6[old]!;
      }
      return id;
    };
    const endOf = (old: number): number => {
      let id = endMap[old]!;
      if (id < 0) {
        id = endMap[old] = endVm.length;
        const vm = this.endVm[old]!;
        endVm.push(vm);
        endIp.push(ipOf(this.endIp[old]!));
        if (vm === null) addressEnds.set(this.ips[this.endIp[old]!]!, id);
        else vmEnds.set(vm, id);
      }
      return id;
    };
    for (let r = 0; r < this.rows; r++) {
      this.cClient[r] = endOf(this.cClient[r]!);
      this.cServer[r] = endOf(this.cServer[r]!);
      this.cClientIp[r] = ipOf(this.cClientIp[r]!);
      this.cServerIp[r] = ipOf(this.cServerIp[r]!);
    }
    this.endVm = endVm;
    this.endIp = endIp;
    this.ips = ips;
    this.ipIds = ipIds;
    this.ipV6 = ipV6;
    this.vmEnds = vmEnds;
    this.addressEnds = addressEnds;
    return { ends: endMap, ips: ipMap };
  }

  /**
   * The compactions from the end table `since` to `until`, composed into one renumbering; null when the
   * chain is not remembered whole. Ends and addresses interned after a compaction are not in its maps (-1).
   */
  private renumbering(since: object, until: object): Renumbering | null {
    let k = this.compactions.findIndex((c) => c.from === since);
    if (k < 0) return null;
    let out: Renumbering | null = null;
    for (; k < this.compactions.length; k++) {
      const c = this.compactions[k]!;
      out = out === null ? { rows: c.rows, ends: c.ends, ips: c.ips } : { rows: compose(out.rows, c.rows), ends: compose(out.ends, c.ends), ips: compose(out.ips, c.ips) };
      if (c.to === until) return out;
    }
    return null;
  }

  /**
   * The connections with their traffic split at the check window: the EPOCHS_PER_WINDOW epochs that end
   * with the epoch of `watermark`, at once (tests, small logs). See split for a large log.
   */
  columns(watermark: number): ConnectionColumns {
    const s = this.split(watermark);
    s.fillAll();
    return s.columns;
  }

  /**
   * The connections as they are now, their traffic split at the check window in steps (ConnectionSplit.fill),
   * so that a large log is not copied at once. Nothing is copied: a row's ends, addresses, protocol and ports
   * never change after it is added (a purge writes new columns), and the log fills in a row's traffic before
   * a later record changes it. Records of new connections come after `count` and are not seen. The traffic
   * is written into `buffers` (a caller that computes every run keeps them: SplitBuffers).
   */
  split(watermark: number, buffers: SplitBuffers = new SplitBuffers()): ConnectionSplit {
    // A split still being taken is finished first: this one's degrees must count the rows deferred since.
    for (const pin of this.pins) pin.deref()?.fillAll();
    this.splitsTaken();
    const n = this.rows;
    const last = this.epochOf(watermark);
    buffers.reserve(n);
    const endVm = this.endVm;
    const columns: ConnectionColumns = {
      count: n,
      ends: this.endVm.length,
      ipCount: this.ips.length,
      client: this.cClient.subarray(0, n),
      server: this.cServer.subarray(0, n),
      clientIp: this.cClientIp.subarray(0, n),
      serverIp: this.cServerIp.subarray(0, n),
      protocol: this.cProtocol.subarray(0, n),
      port: this.cPort.subarray(0, n),
      otherPort: this.cOther.subarray(0, n),
      earlierFlows: buffers.earlierFlows.subarray(0, n),
      earlierBytes: buffers.earlierBytes.subarray(0, n),
      latestFlows: buffers.latestFlows.subarray(0, n),
      latestBytes: buffers.latestBytes.subarray(0, n),
      endVm: this.endVm,
      ips: this.ips,
      ipV6: this.ipV6,
      vmEnds: this.vmEnds,
      renumberedSince: (since) => this.renumbering(since, endVm),
    };
    const filled = buffers.filled.subarray(0, n);
    filled.fill(0);
    const first = last - EPOCHS_PER_WINDOW + 1;
    const pin = new ConnectionSplit(columns, filled, first, last, this.columnsRef(), this.degrees.degree, this.splitTraffic, (done) => {
      this.pins = this.pins.filter((p) => {
        const held = p.deref();
        return held !== undefined && held !== done;
      });
      this.splitsTaken();
    });
    if (n > 0) this.pins.push(new WeakRef(pin));
    else pin.fillAll();
    return pin;
  }

  private beforeChange(row: number): void {
    let dropped = false;
    for (const ref of this.pins) {
      const pin = ref.deref();
      if (pin === undefined) dropped = true;
      else pin.fillRow(row);
    }
    if (dropped) this.pins = this.pins.filter((p) => p.deref() !== undefined);
  }

  /** Every connection with its ends and traffic as plain objects (tests, small logs). */
  traffic(watermark: number): Array<[{ client: ConnectionEnd; server: ConnectionEnd; protocol: number; port: number; otherPort: number }, ConnectionTraffic]> {
    const c = this.columns(watermark);
    const out: Array<[{ client: ConnectionEnd; server: ConnectionEnd; protocol: number; port: number; otherPort: number }, ConnectionTraffic]> = [];
    for (let r = 0; r < c.count; r++)
      out.push([
        {
          client: { vmId: c.endVm[c.client[r]!]!, ip: c.ips[c.clientIp[r]!]! },
          server: { vmId: c.endVm[c.server[r]!]!, ip: c.ips[c.serverIp[r]!]! },
          protocol: c.protocol[r]!,
          port: c.port[r]!,
          otherPort: c.otherPort[r]!,
        },
        { earlierFlows: c.earlierFlows[r]!, earlierBytes: c.earlierBytes[r]!, latestFlows: c.latestFlows[r]!, latestBytes: c.latestBytes[r]! },
      ]);
    return out;
  }

  /** The log as plain data (a copy), for a snapshot. */
  exportState(): ConnectionLogState {
    const n = this.rows;
    const ints = new Int32Array(n * INTS);
    const doubles = new Float64Array(n * DOUBLES);
    for (let r = 0; r < n; r++) {
      const i = r * INTS;
      ints[i] = this.cClient[r]!;
      ints[i + 1] = this.cServer[r]!;
      ints[i + 2] = this.cClientIp[r]!;
      ints[i + 3] = this.cServerIp[r]!;
      ints[i + 4] = this.cProtocol[r]!;
      ints[i + 5] = this.cPort[r]!;
      ints[i + 6] = this.cOther[r]!;
      const d = r * DOUBLES;
      doubles[d] = this.cNewest[r]!;
      doubles[d + 1] = this.cEarlierFlows[r]!;
      doubles[d + 2] = this.cEarlierBytes[r]!;
      doubles.set(this.ring.subarray(r * 2 * RING, (r + 1) * 2 * RING), d + 3);
    }
    return {
      windowMs: this.windowMs,
      newestEpoch: this.newestEpoch,
      purgedEpoch: this.purgedEpoch,
      counters: { ...this.counters },
      endVm: [...this.endVm],
      endIp: [...this.endIp],
      ips: [...this.ips],
      ints,
      doubles,
    };
  }

  /**
   * A log with a snapshot's connections, under this process's cap: when the cap is now lower than the rows
   * the snapshot holds, the newest rows (the latest inserted) are the ones left out, counted as refused.
   */
  static restore(s: ConnectionLogState, maxConnections: number = DEFAULT_MAX_CONNECTIONS, retainWindows: number = DEFAULT_RETAIN_WINDOWS): ConnectionLog {
    if (s.ints.length % INTS !== 0 || s.doubles.length !== (s.ints.length / INTS) * DOUBLES) throw new RangeError('connection log: columns of different lengths');
    const log = new ConnectionLog(s.windowMs, maxConnections, retainWindows);
    const total = s.ints.length / INTS;
    for (let i = 0; i < s.ints.length; i += INTS) {
      const ends = s.endVm.length;
      const ips = s.ips.length;
      if (!(s.ints[i]! < ends && s.ints[i + 1]! < ends && s.ints[i + 2]! < ips && s.ints[i + 3]! < ips && Math.min(s.ints[i]!, s.ints[i + 1]!, s.ints[i + 2]!, s.ints[i + 3]!) >= 0))
        throw new RangeError('connection log: a row names an end or address the snapshot does not hold');
    }
    if (s.endIp.some((ip) => ip >= s.ips.length) || s.endVm.length !== s.endIp.length) throw new RangeError('connection log: ends and addresses do not match');
    const n = Math.min(total, maxConnections);
    Object.assign(log.counters, s.counters);
    log.counters.refused += total - n;
    log.newestEpoch = s.newestEpoch;
    log.purgedEpoch = s.purgedEpoch;
    // Addresses first, so that their ids are the snapshot's.
    for (const ip of s.ips) log.internIp(ip);
    for (let e = 0; e < s.endVm.length; e++) log.internEnd(s.endVm[e]!, s.ips[s.endIp[e]!] ?? '');
    let rows = INITIAL_ROWS;
    while (rows < n) rows *= 2;
    log.growRows(rows);
    for (let r = 0; r < n; r++) {
      const i = r * INTS;
      const d = r * DOUBLES;
      const row = log.insert(s.ints[i]!, s.ints[i + 1]!, s.ints[i + 2]!, s.ints[i + 3]!, s.ints[i + 4]!, s.ints[i + 5]!, s.ints[i + 6]!, s.doubles[d]!);
      log.cEarlierFlows[row] = s.doubles[d + 1]!;
      log.cEarlierBytes[row] = s.doubles[d + 2]!;
      log.ring.set(s.doubles.subarray(d + 3, d + DOUBLES), row * 2 * RING);
    }
    return log;
  }
}

/**
 * The columns a split writes (its traffic, and which rows it filled), kept by the caller from run to run
 * rather than allocated by every split: at 100k VMs they are about 140 MB, and the major collections that
 * allocating them brought on landed in a run's steps (recommend.ts, RunScratch). A split writes every row
 * it covers before anyone reads it, so they need no clearing but the filled flags (the split's own).
 * Held by one split (and the outcome that reads its columns) at a time.
 */
export class SplitBuffers {
  earlierFlows = new Float64Array(0);
  earlierBytes = new Float64Array(0);
  latestFlows = new Float64Array(0);
  latestBytes = new Float64Array(0);
  filled = new Uint8Array(0);

  /** Room for `rows`, and `spare` more when they have to grow (a caller that keeps them: a log grows between runs). */
  reserve(rows: number, spare = 0): void {
    if (this.filled.length >= rows) return;
    const n = rows + spare;
    this.earlierFlows = new Float64Array(n);
    this.earlierBytes = new Float64Array(n);
    this.latestFlows = new Float64Array(n);
    this.latestBytes = new Float64Array(n);
    this.filled = new Uint8Array(n);
  }
}

/** The log's row columns at one time (a purge replaces them). */
interface RowColumns {
  client: Int32Array;
  server: Int32Array;
  clientIp: Int32Array;
  serverIp: Int32Array;
  protocol: Int32Array;
  port: Int32Array;
  other: Int32Array;
  serverPort: Int32Array;
  clientPort: Int32Array;
  newest: Float64Array;
  earlierFlows: Float64Array;
  earlierBytes: Float64Array;
  ring: Float64Array;
}

/**
 * The traffic of a log's connections split at a check window, taken in steps (fill) while the log goes on
 * taking records: the log fills in a row before a record changes it (fillRow), and all that are left
 * before a purge moves them. Done when every row is filled; the log then forgets it.
 */
export class ConnectionSplit {
  /** Rows below this are filled; rows above it may be, out of turn (filled). */
  private next = 0;
  private readonly turnedRows = new IntColumn(16);
  private readonly tiedRows = new IntColumn(16);
  /** Rows whose traffic this split computed; the others' the log kept from an earlier split (SplitTraffic). */
  renewed = 0;

  constructor(
    readonly columns: ConnectionColumns,
    /** Per row: 1 once filled (zero at the start). */
    private readonly filled: Uint8Array,
    private readonly first: number,
    private readonly last: number,
    private readonly rows: RowColumns,
    /** The log's degrees of (end, port) pairs, as they stay while the split is taken (new links wait). */
    private readonly degrees: IntColumn,
    /** The log's rows as the last split left them; this split takes those that still hold and renews the rest. */
    private readonly kept: SplitTraffic,
    private readonly release: (split: ConnectionSplit) => void,
  ) {}

  /**
   * The rows (once done) whose server end is the other one: of those the records could not tell, the end
   * whose port meets more distinct (peer, peer port) pairs is the listening one (a service port meets every
   * client's ephemeral ports; a client's port meets one server port). Ties are not in it (tied). In no
   * particular order.
   */
  get turned(): Int32Array {
    return this.turnedRows.values.subarray(0, this.turnedRows.length);
  }

  /**
   * The rows (once done) whose two (end, port) pairs meet as many peers: the learner decides them, with what
   * it knows of the run's clusters (recommend.ts, breakTies). In no particular order.
   */
  get tied(): Int32Array {
    return this.tiedRows.values.subarray(0, this.tiedRows.length);
  }

  get done(): boolean {
    return this.next >= this.columns.count;
  }

  /** Fills up to `rows` more rows; true when every row is filled. */
  fill(rows: number): boolean {
    const end = Math.min(this.columns.count, this.next + rows);
    for (let r = this.next; r < end; r++) if (this.filled[r] === 0) this.compute(r);
    this.next = end;
    if (this.done) this.release(this);
    return this.done;
  }

  fillAll(): void {
    this.fill(this.columns.count);
  }

  /** Fills row `r` now, out of turn, when it is the split's and not yet filled. */
  fillRow(r: number): void {
    if (r < this.next || r >= this.columns.count || this.filled[r] === 1) return;
    this.compute(r);
    this.filled[r] = 1;
  }

  private compute(r: number): void {
    const c = this.columns;
    const kept = this.kept;
    if (kept.holds(r, this.first, this.rows.newest[r]!)) {
      c.earlierFlows[r] = kept.earlierFlows[r]!;
      c.earlierBytes[r] = kept.earlierBytes[r]!;
      c.latestFlows[r] = kept.latestFlows[r]!;
      c.latestBytes[r] = kept.latestBytes[r]!;
    } else this.computeTraffic(r);
    const other = this.rows.other[r]!;
    if (other >= 0) {
      const degree = this.degrees.values;
      const atServer = degree[this.rows.serverPort[r]!]!;
      const atClient = degree[this.rows.clientPort[r]!]!;
      if (atClient > atServer) this.turnedRows.push(r);
      else if (atClient === atServer) this.tiedRows.push(r);
    }
  }

  private computeTraffic(r: number): void {
    const { ring, newest: newestOf } = this.rows;
    const c = this.columns;
    const newest = newestOf[r]!;
    this.renewed++;
    const base = r * 2 * RING;
    let earlierFlows = this.rows.earlierFlows[r]!;
    let earlierBytes = this.rows.earlierBytes[r]!;
    let latestFlows = 0;
    let latestBytes = 0;
    // One modulo a row: the slots of consecutive epochs follow each other round the ring.
    let s = slotOf(newest - RING + 1);
    for (let e = newest - RING + 1; e <= newest; e++, s = s === RING - 1 ? 0 : s + 1) {
      const slot = base + 2 * s;
      const flows = ring[slot]!;
      if (flows === 0) continue;
      if (e >= this.first && e <= this.last) {
        latestFlows += flows;
        latestBytes += ring[slot + 1]!;
      } else if (e < this.first) {
        earlierFlows += flows;
        earlierBytes += ring[slot + 1]!;
      }
    }
    c.earlierFlows[r] = earlierFlows;
    c.earlierBytes[r] = earlierBytes;
    c.latestFlows[r] = latestFlows;
    c.latestBytes[r] = latestBytes;
    this.kept.keep(r, this.first, earlierFlows, earlierBytes, latestFlows, latestBytes);
  }
}

/**
 * Each row's traffic as the latest split that renewed it computed it, kept by the log so that the next
 * split renews only the rows that changed: at 100k VMs renewing all of them (ten epochs summed per row)
 * was about a tenth of a run, and between two runs most rows either took no record or were silent before
 * both check windows. A row's values hold while no record has reached it since (`add` forgets them), at
 * the same window, or at another when its newest epoch is older than both windows' first (all its traffic
 * is earlier in both). The window is kept per row, not per split: a split dropped half-way (an error in a
 * computation) leaves rows of an older window behind. Moved with the rows by a purge; grown with them.
 */
class SplitTraffic {
  earlierFlows: Float64Array;
  earlierBytes: Float64Array;
  latestFlows: Float64Array;
  latestBytes: Float64Array;
  /** Per row: the first epoch of the check window its values are for; NaN once a record changed the row. */
  windowOf: Float64Array;

  constructor(rows: number) {
    this.earlierFlows = new Float64Array(rows);
    this.earlierBytes = new Float64Array(rows);
    this.latestFlows = new Float64Array(rows);
    this.latestBytes = new Float64Array(rows);
    this.windowOf = new Float64Array(rows).fill(Number.NaN);
  }

  /** Whether row `r`, whose newest epoch is `newest`, holds for the window that begins at epoch `first`. */
  holds(r: number, first: number, newest: number): boolean {
    const at = this.windowOf[r]!;
    return at === first || newest < Math.min(at, first);
  }

  forget(r: number): void {
    this.windowOf[r] = Number.NaN;
  }

  keep(r: number, first: number, earlierFlows: number, earlierBytes: number, latestFlows: number, latestBytes: number): void {
    this.earlierFlows[r] = earlierFlows;
    this.earlierBytes[r] = earlierBytes;
    this.latestFlows[r] = latestFlows;
    this.latestBytes[r] = latestBytes;
    this.windowOf[r] = first;
  }

  /** Row `from` becomes row `to` (to <= from: a purge moves the rows it keeps down, in order). */
  move(from: number, to: number): void {
    this.earlierFlows[to] = this.earlierFlows[from]!;
    this.earlierBytes[to] = this.earlierBytes[from]!;
    this.latestFlows[to] = this.latestFlows[from]!;
    this.latestBytes[to] = this.latestBytes[from]!;
    this.windowOf[to] = this.windowOf[from]!;
  }

  grow(rows: number): void {
    const grow = (a: Float64Array): Float64Array => {
      const b = new Float64Array(rows);
      b.set(a.subarray(0, Math.min(a.length, rows)));
      return b;
    };
    this.earlierFlows = grow(this.earlierFlows);
    this.earlierBytes = grow(this.earlierBytes);
    this.latestFlows = grow(this.latestFlows);
    this.latestBytes = grow(this.latestBytes);
    const known = this.windowOf.length;
    this.windowOf = grow(this.windowOf);
    if (rows > known) this.windowOf.fill(Number.NaN, known);
  }
}

/**
 * The (end, port) pairs of the connections whose records could not tell the server end, and how many
 * distinct (peer, peer port) pairs each meets, counted as rows arrive rather than at every run (at 100k
 * VMs counting them per run was about a second of it). Integer tables, not a Set per pair.
 */
class ListeningDegrees {
  private readonly endPorts = new IntTupleTable();
  /** Unordered pairs of (end, port) ids: connections that differ only in protocol meet once. */
  private readonly links = new IntTupleTable();
  /** Per (end, port) id: its distinct peers. */
  readonly degree = new IntColumn();
  /** The ids of the last link's pairs. */
  serverId = -1;
  clientId = -1;

  link(server: number, port: number, client: number, otherPort: number): void {
    const s = this.idOf(server, port);
    const c = this.idOf(client, otherPort);
    this.serverId = s;
    this.clientId = c;
    const known = this.links.size;
    if (this.links.idOf(Math.min(s, c), Math.max(s, c), 0, 0) !== known) return;
    this.degree.values[s]!++;
    // An end that meets itself at one port counts once.
    if (c !== s) this.degree.values[c]!++;
  }

  private idOf(end: number, port: number): number {
    const known = this.endPorts.size;
    const id = this.endPorts.idOf(end, port, 0, 0);
    if (id === known) this.degree.push(0);
    return id;
  }
}

/** a then b: each old number through both maps (-1 stays -1; a number beyond b's map was not yet there: -1). */
function compose(a: Int32Array, b: Int32Array): Int32Array {
  const out = new Int32Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const m = a[i]!;
    out[i] = m < 0 || m >= b.length ? -1 : b[m]!;
  }
  return out;
}

function slotOf(epoch: number): number {
  return ((epoch % RING) + RING) % RING;
}

function hashOf(client: number, server: number, protocol: number, port: number, otherPort: number): number {
  let h = Math.imul(client, 0x9e3779b1) ^ Math.imul(server + 0x7f4a7c15, 0x85ebca6b);
  h ^= Math.imul((protocol << 17) ^ (port + 1), 0xc2b2ae35) ^ Math.imul(otherPort + 1, 0x27d4eb2f);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 13;
  return h >>> 0;
}

/**
 * Whether the first end comes first in the fixed order of ends (addresses before VMs, then by text), the
 * order the key `a<ip>` / `v<vm id>` of an end sorts in.
 */
function endOrdered(aVm: string | null, aIp: string, bVm: string | null, bIp: string): boolean {
  if (aVm === null) return bVm === null ? aIp <= bIp : true;
  return bVm === null ? false : aVm <= bVm;
}
