/**
 * The learner's entries (a candidate rule at one port) with their traffic and the VMs they were seen at,
 * kept from one computation to the next and changed only by the connections that changed: at 100k VMs
 * filing 4 million connections into tables of hundreds of megabytes every run was the largest part of a
 * run's cost, while between two runs most connections' earlier traffic and ends' groups stay as they were.
 *
 * Each row of the log remembers what it filed (its entries, traffic, server end and port, and whether it
 * was learned from); a computation compares every row with that, in one sequential pass, and takes back and
 * files again only the rows whose earlier traffic, orientation or ends' groups changed. The entries' ids
 * are then those of the order rows were first filed in some earlier computation, not this one's: the
 * learner downstream depends on ids only through sums of whole numbers of flows and bytes (exact in any
 * order) and through lists it sorts by port, so its rules are the same (test/security-groups/
 * learned-entries.test.ts compares with a computation from scratch). Entries and pairs no row holds any
 * more stay in the tables with no traffic (left out by their users) until they outnumber the live ones,
 * when everything is filed again from scratch; so is it after a compaction of the log (its rows and ends
 * renumbered) or when the run's groups are not the last one's (a group index names another group).
 */
import type { ConnectionColumns, Renumbering } from './connection-log.ts';
import { FloatColumn, IntColumn, IntTupleTable, SLOT_EXTRA } from './int-table.ts';

export const INGRESS = 0;
export const EGRESS = 1;

/**
 * A candidate's remote: 0 for any address, 1 + the group index for a group, ADDRESS_REMOTE + the address id
 * for an address. Not after the groups (1 + groups + address, as before): a run with one group more or
 * less would give every address another key, and the kept entries of every connection with an address
 * remote would be filed again.
 */
export const ADDRESS_REMOTE = 1 << 24;

/** A candidate's fields but the side: the ethertype (1 for IPv6) and protocol as one number, and the remote. */
export function protocolField(ipv6: number, protocol: number): number {
  return ipv6 * 256 + protocol;
}

/** Numbers zeroed or copied between two steps (8 MB of 32-bit ones). */
export const CLEAR_SLICE = 1 << 21;

export function* fillInSlices(a: Int32Array | Float64Array | Uint8Array | Int8Array, value: number, from: number, to: number): Generator<void, void, void> {
  for (let at = from; at < to; at += CLEAR_SLICE) {
    if (at > from) yield;
    a.fill(value, at, Math.min(to, at + CLEAR_SLICE));
  }
}

/** Numbers copied between two steps when a column grows (a million: 8 MB of doubles). */
const COPY_SLICE = 1 << 20;

/**
 * `into` with the first `keep` numbers of `from`, copied a slice a step: at 100k VMs a column of the rows
 * is tens of megabytes, and the eight of them copied in a few steps held the event loop for 130 ms.
 */
export function* grownInSlices<T extends Int32Array | Float64Array | Uint8Array | Int8Array>(from: T, into: T, keep: number): Generator<void, T, void> {
  for (let at = 0; at < keep; at += COPY_SLICE) {
    yield;
    into.set(from.subarray(at, Math.min(keep, at + COPY_SLICE)), at);
  }
  return into;
}

/** A group as the kept entries know it: index i of the list is group index i. */
export interface KeptGroup {
  id: string;
  tenant: string;
  clusterId: string;
}

/** An end the kept entries never filed against (no group index is below -1): its rows are filed again. */
const UNKNOWN_GROUP = -2;
/**
 * Above any address remote and end id a log holds (2^30 - 2^24 addresses): the key of an entry, candidate or
 * pair whose address or end a compaction forgot, plus its id (keys stay distinct).
 */
const DEAD_KEY = 1 << 30;

/**
 * What a row filed: nothing (no earlier traffic), nothing as it has an anomalous end or no end in a group
 * or is a probe (probes.ts), or entries.
 */
const NONE = 0;
const ANOMALOUS = 1;
const NO_GROUP = 2;
const LEARNED = 3;
const PROBE = 4;

/** Rows compared between two steps; and rows filed again, the costly ones (six look-ups each, in tables far larger than the caches: 16,384 took 50 ms at 100k VMs). */
const SCAN_SLICE = 1 << 17;
const FILE_SLICE = 1 << 12;

export class LearnedEntries {
  private static idle: LearnedEntries | null = null;
  /** Candidate rules (side, protocol field, remote, 0), side being 2 * group + direction. */
  candidates = new IntTupleTable(1024);
  /** Entries: (side, protocol field, remote, port). */
  entries = new IntTupleTable(1024);
  /** Per entry: its candidate. */
  readonly entryCandidate = new IntColumn();
  /** Per entry: flows and bytes at 2e and 2e + 1 of the rows filed under it. */
  private readonly filedTraffic = new FloatColumn();
  /** (entry, VM) pairs and how many rows file each: a VM an entry was seen at. */
  private pairs = new IntTupleTable(1024);
  private readonly pairCount = new IntColumn();
  private liveEntries = 0;
  private livePairs = 0;

  // Per row, what it filed: traffic, 1 + its ingress and egress entries (0: none), its server end and port then.
  private rowFlows = new Float64Array(0);
  private rowBytes = new Float64Array(0);
  private rowEntry = new Int32Array(0);
  private rowServer = new Int32Array(0);
  /** The client end then: a row a compaction forgets is taken back by the ends it filed at. */
  private rowClient = new Int32Array(0);
  private rowPort = new Int32Array(0);
  private rowKind = new Uint8Array(0);
  /** Per row, 1 + the candidates its ingress and egress entries belong to (0: none): the check's first look. */
  private rowCandidateColumn = new Int32Array(0);
  /** Rows described above; the columns are zero beyond. */
  private rows = 0;
  /** Rows not learned from: with an anomalous end, with no end in a group, probes. */
  anomalous = 0;
  noGroup = 0;
  probes = 0;

  // What the rows filed against: the log's ends (their array: a compaction replaces it), the groups, each end's place.
  private endsOf: WeakRef<object> | null = null;
  private groups: readonly KeptGroup[] = [];
  private filedGroup = new Int32Array(0);
  private filedAnomalous = new Uint8Array(0);

  // The computation under way.
  private cols: ConnectionColumns | null = null;
  private endGroup: Int32Array = new Int32Array(0);
  private endTenant: Int32Array = new Int32Array(0);
  private endAnomalous: Uint8Array = new Uint8Array(0);
  private endChanged = new Uint8Array(0);
  private rowProbe: Uint8Array = new Uint8Array(0);
  /** Rows filed again by this computation, and whether it started from nothing. */
  changedRows = 0;
  fromScratch = false;

  // Handed to the learner after the scan: entries' traffic (a copy it adds merged entries to) and the pairs as lists.
  readonly entryTraffic = new FloatColumn();
  readonly pairEntry = new IntColumn();
  readonly pairVm = new IntColumn();

  /** The idle set (one is kept), or a new one: a computation that starts while another holds it starts from nothing. */
  static take(): LearnedEntries {
    const s = LearnedEntries.idle ?? new LearnedEntries();
    LearnedEntries.idle = null;
    return s;
  }

  /** The next computation starts from nothing (a test compares the two; memory given back). */
  static forget(): void {
    LearnedEntries.idle = null;
  }

  /** What the last scan did: whether it started from nothing, and how many of its rows it filed again. */
  static lastScan: { fromScratch: boolean; rows: number; rowsFiledAgain: number } | null = null;

  /** The computation that took these is done with them; a computation dropped before never gives them back. */
  release(): void {
    LearnedEntries.idle = this;
  }

  /** The groups the entries were filed against, by index: those a next run should number alike. */
  get keptGroups(): readonly KeptGroup[] {
    return this.groups;
  }

  get rowCandidates(): Int32Array {
    return this.rowCandidateColumn;
  }

  /**
   * Files the connections' earlier traffic against the run's groups: the rows that changed since the last
   * computation, or every row when the kept entries cannot be built on. In steps. `rowProbe`: per row, 1
   * for a probe (probes.ts), not learned from.
   */
  *scan(
    cols: ConnectionColumns,
    groups: readonly KeptGroup[],
    endGroup: Int32Array,
    endTenant: Int32Array,
    endAnomalous: Uint8Array,
    rowProbe: Uint8Array,
  ): Generator<void, void, void> {
    const n = cols.count;
    const since = this.endsOf?.deref();
    if (since !== undefined && since !== cols.endVm) {
      const renumbering = cols.renumberedSince(since);
      if (renumbering !== null) {
        this.endsOf = null;
        yield* this.renumber(renumbering, cols.ends);
        this.endsOf = new WeakRef(cols.endVm);
      }
    }
    const same =
      this.endsOf !== null &&
      this.endsOf.deref() === cols.endVm &&
      this.rows <= n &&
      // New groups may follow (keptGroupOrder in recommend.ts numbers them so); the known ones keep their index.
      this.groups.length <= groups.length &&
      this.groups.every((k, g) => k.id === groups[g]!.id) &&
      this.entries.size <= 2 * this.liveEntries + 65_536 &&
      this.pairs.size <= 2 * this.livePairs + 65_536;
    // Until the scan is done: a computation dropped half-way leaves the rows in no known state.
    this.endsOf = null;
    this.fromScratch = !same;
    if (!same) yield* this.reset(n, groups.length);
    yield* this.reserveRows(n);
    this.cols = cols;
    this.endGroup = endGroup;
    this.endTenant = endTenant;
    this.endAnomalous = endAnomalous;
    this.rowProbe = rowProbe;
    const ends = cols.ends;
    const changed = new Uint8Array(ends);
    const known = same ? Math.min(ends, this.filedGroup.length) : 0;
    // Not the tenant's index: a run numbers tenants as it meets them, and an end's tenant is its group's.
    for (let e = 0; e < ends; e++) changed[e] = e >= known || this.filedGroup[e] !== endGroup[e] || this.filedAnomalous[e] !== endAnomalous[e] ? 1 : 0;
    this.endChanged = changed;
    this.changedRows = 0;
    yield;
    for (let i = 0; i < n; ) {
      // A filed row adds at most two entries, candidates and pairs: grown before, in steps, not by idOf.
      for (const table of [this.entries, this.candidates, this.pairs]) if (!table.hasRoomFor(2 * FILE_SLICE)) yield* table.reserveInSlices(table.size + 4 * FILE_SLICE, FILE_SLICE);
      i = this.compare(i, n);
      yield;
    }
    this.filedGroup = new Int32Array(endGroup);
    this.filedAnomalous = new Uint8Array(endAnomalous);
    this.groups = groups.slice();
    this.rows = n;
    this.endsOf = new WeakRef(cols.endVm);
    this.cols = null;
    this.rowProbe = new Uint8Array(0);
    LearnedEntries.lastScan = { fromScratch: this.fromScratch, rows: n, rowsFiledAgain: this.changedRows };
    yield* this.handOver();
  }

  /**
   * What was filed, in the numbering after a compaction of the log: the rows it forgot taken back, the
   * survivors moved down (a row's new number is never above its old), their ends, the ends' places, the
   * pairs' VMs and the address remotes of entries and candidates renumbered, ids kept. An end new since
   * is marked unknown (its rows filed again); an entry, candidate or pair of a forgotten end or address
   * has no traffic left and gets a key no computation files (DEAD_KEY + its id).
   */
  private *renumber(map: Renumbering, ends: number): Generator<void, void, void> {
    let rows = 0;
    for (let i = 0; i < this.rows; i++) {
      if ((i & (SCAN_SLICE - 1)) === SCAN_SLICE - 1) yield;
      const j = map.rows[i]!;
      if (j < 0) {
        this.takeBack(i);
        this.rowFlows[i] = 0;
        this.rowBytes[i] = 0;
        continue;
      }
      rows = j + 1;
      this.rowFlows[j] = this.rowFlows[i]!;
      this.rowBytes[j] = this.rowBytes[i]!;
      this.rowEntry[2 * j] = this.rowEntry[2 * i]!;
      this.rowEntry[2 * j + 1] = this.rowEntry[2 * i + 1]!;
      this.rowCandidateColumn[2 * j] = this.rowCandidateColumn[2 * i]!;
      this.rowCandidateColumn[2 * j + 1] = this.rowCandidateColumn[2 * i + 1]!;
      this.rowKind[j] = this.rowKind[i]!;
      this.rowPort[j] = this.rowPort[i]!;
      // A row that filed nothing holds no ends: its server end is compared only once it has filed again.
      this.rowServer[j] = this.rowKind[i] === NONE ? -1 : map.ends[this.rowServer[i]!]!;
      this.rowClient[j] = this.rowKind[i] === NONE ? -1 : map.ends[this.rowClient[i]!]!;
    }
    // The columns are zero beyond the described rows.
    const m = this.rows;
    yield* fillInSlices(this.rowFlows, 0, rows, m);
    yield* fillInSlices(this.rowBytes, 0, rows, m);
    yield* fillInSlices(this.rowEntry, 0, 2 * rows, 2 * m);
    yield* fillInSlices(this.rowCandidateColumn, 0, 2 * rows, 2 * m);
    yield* fillInSlices(this.rowKind, 0, rows, m);
    this.rows = rows;
    const filedGroup = new Int32Array(ends).fill(UNKNOWN_GROUP);
    const filedAnomalous = new Uint8Array(ends);
    for (let e = 0; e < Math.min(this.filedGroup.length, map.ends.length); e++) {
      const to = map.ends[e]!;
      if (to < 0 || to >= ends) continue;
      filedGroup[to] = this.filedGroup[e]!;
      filedAnomalous[to] = this.filedAnomalous[e]!;
    }
    this.filedGroup = filedGroup;
    this.filedAnomalous = filedAnomalous;
    const remote = (k: Int32Array, at: number, id: number): void => {
      const r = k[at]!;
      if (r < ADDRESS_REMOTE || r >= DEAD_KEY) return;
      const ip = r - ADDRESS_REMOTE;
      const to = ip < map.ips.length ? map.ips[ip]! : -1;
      k[at] = to < 0 ? DEAD_KEY + id : ADDRESS_REMOTE + to;
    };
    yield* this.entries.rekeyInSlices((k, id) => remote(k, 4 * id + 2, id), SCAN_SLICE);
    yield* this.candidates.rekeyInSlices((k, id) => remote(k, 4 * id + 2, id), SCAN_SLICE);
    yield* this.pairs.rekeyInSlices((k, id) => {
      const vm = k[4 * id + 1]!;
      const to = vm >= 0 && vm < map.ends.length ? map.ends[vm]! : -1;
      k[4 * id + 1] = to < 0 ? DEAD_KEY + id : to;
    }, SCAN_SLICE);
  }

  /** Empties the tables and rows for `rows` rows in `groups` groups. */
  private *reset(rows: number, groups: number): Generator<void, void, void> {
    // Sized for what replicated traces show (about one entry per three connections, nearly as many candidates).
    const expected = Math.max(groups, rows >> 2);
    if (!(yield* this.entries.clearInSlices(expected, CLEAR_SLICE))) this.entries = new IntTupleTable(expected);
    if (!(yield* this.candidates.clearInSlices(expected, CLEAR_SLICE))) this.candidates = new IntTupleTable(expected);
    if (!(yield* this.pairs.clearInSlices(expected, CLEAR_SLICE))) this.pairs = new IntTupleTable(expected);
    this.entryCandidate.length = 0;
    this.pairCount.length = 0;
    yield* fillInSlices(this.filedTraffic.values, 0, 0, this.filedTraffic.values.length);
    this.liveEntries = 0;
    this.livePairs = 0;
    this.anomalous = 0;
    this.noGroup = 0;
    this.probes = 0;
    const m = Math.min(this.rows, this.rowKind.length);
    yield* fillInSlices(this.rowFlows, 0, 0, m);
    yield* fillInSlices(this.rowBytes, 0, 0, m);
    yield* fillInSlices(this.rowEntry, 0, 0, 2 * m);
    yield* fillInSlices(this.rowCandidateColumn, 0, 0, 2 * m);
    yield* fillInSlices(this.rowKind, 0, 0, m);
    this.rows = 0;
  }

  /** Room for `n` rows, those beyond the described ones zero. */
  private *reserveRows(n: number): Generator<void, void, void> {
    if (this.rowKind.length >= n) return;
    const size = n + (n >> 3);
    const rows = this.rows;
    this.rowFlows = yield* grownInSlices(this.rowFlows, new Float64Array(size), rows);
    this.rowBytes = yield* grownInSlices(this.rowBytes, new Float64Array(size), rows);
    this.rowEntry = yield* grownInSlices(this.rowEntry, new Int32Array(2 * size), 2 * rows);
    this.rowCandidateColumn = yield* grownInSlices(this.rowCandidateColumn, new Int32Array(2 * size), 2 * rows);
    this.rowServer = yield* grownInSlices(this.rowServer, new Int32Array(size), rows);
    this.rowClient = yield* grownInSlices(this.rowClient, new Int32Array(size), rows);
    this.rowPort = yield* grownInSlices(this.rowPort, new Int32Array(size), rows);
    this.rowKind = yield* grownInSlices(this.rowKind, new Uint8Array(size), rows);
  }

  /**
   * Compares rows from `from` on with what they filed and files again those that changed, up to a step's
   * worth (SCAN_SLICE rows compared or FILE_SLICE filed); the row to go on from. A plain method, not a
   * loop in the generator, so that it is compiled on its own.
   */
  private compare(from: number, n: number): number {
    const c = this.cols!;
    const { server, client, port, earlierFlows, earlierBytes } = c;
    const { rowFlows, rowBytes, rowServer, rowPort, rowKind, rowEntry, endChanged, rowProbe } = this;
    const to = Math.min(n, from + SCAN_SLICE);
    let filed = 0;
    let i = from;
    for (; i < to && filed < FILE_SLICE; i++) {
      const flows = earlierFlows[i]!;
      const kind = rowKind[i]!;
      if (flows === 0 && kind === NONE) continue;
      const ce = client[i]!;
      const se = server[i]!;
      const bytes = earlierBytes[i]!;
      // A row that became a probe, or stopped being one, is filed again (an anomalous end or none in a group decide first).
      const probeChanged = rowProbe[i] === 1 ? kind === LEARNED : kind === PROBE;
      const sameKey = kind !== NONE && !probeChanged && rowServer[i] === se && rowPort[i] === port[i] && endChanged[ce] === 0 && endChanged[se] === 0;
      if (sameKey && flows === rowFlows[i] && bytes === rowBytes[i]) continue;
      filed++;
      if (sameKey && flows > 0) {
        // Only the traffic changed: the same entries, the same VMs.
        if (kind === LEARNED) {
          this.addTraffic(rowEntry[2 * i]! - 1, flows - rowFlows[i]!, bytes - rowBytes[i]!);
          this.addTraffic(rowEntry[2 * i + 1]! - 1, flows - rowFlows[i]!, bytes - rowBytes[i]!);
        }
        rowFlows[i] = flows;
        rowBytes[i] = bytes;
        continue;
      }
      this.takeBack(i);
      this.file(i, ce, se, flows, bytes);
    }
    this.changedRows += filed;
    return i;
  }

  private addTraffic(e: number, flows: number, bytes: number): void {
    if (e < 0) return;
    const t = this.filedTraffic.values;
    t[2 * e]! += flows;
    t[2 * e + 1]! += bytes;
  }

  /** Takes back what row i filed. */
  private takeBack(i: number): void {
    const kind = this.rowKind[i]!;
    this.rowKind[i] = NONE;
    if (kind === ANOMALOUS) this.anomalous--;
    else if (kind === NO_GROUP) this.noGroup--;
    else if (kind === PROBE) this.probes--;
    if (kind !== LEARNED) return;
    const oldServer = this.rowServer[i]!;
    const oldClient = this.rowClient[i]!;
    this.unfile(this.rowEntry[2 * i]! - 1, oldServer, this.rowFlows[i]!, this.rowBytes[i]!);
    this.unfile(this.rowEntry[2 * i + 1]! - 1, oldClient, this.rowFlows[i]!, this.rowBytes[i]!);
    this.rowEntry[2 * i] = 0;
    this.rowEntry[2 * i + 1] = 0;
    this.rowCandidateColumn[2 * i] = 0;
    this.rowCandidateColumn[2 * i + 1] = 0;
  }

  private unfile(e: number, vm: number, flows: number, bytes: number): void {
    if (e < 0) return;
    const t = this.filedTraffic.values;
    t[2 * e]! -= flows;
    t[2 * e + 1]! -= bytes;
    if (t[2 * e] === 0) {
      // Bytes in fractions (never from records, but from a bench's halves) leave no residue behind.
      t[2 * e + 1] = 0;
      this.liveEntries--;
    }
    const pair = this.pairs.find(e, vm, 0, 0);
    if (pair >= 0 && --this.pairCount.values[pair]! === 0) this.livePairs--;
  }

  /** Files row i's earlier traffic: under its server group's ingress and its client group's egress. */
  private file(i: number, ce: number, se: number, flows: number, bytes: number): void {
    const c = this.cols!;
    this.rowFlows[i] = flows;
    this.rowBytes[i] = bytes;
    this.rowServer[i] = se;
    this.rowClient[i] = ce;
    this.rowPort[i] = c.port[i]!;
    if (flows === 0) return;
    const { endGroup, endTenant, endAnomalous } = this;
    if (endAnomalous[ce] === 1 || endAnomalous[se] === 1) {
      this.rowKind[i] = ANOMALOUS;
      this.anomalous++;
      return;
    }
    const cg = endGroup[ce]!;
    const sg = endGroup[se]!;
    if (cg < 0 && sg < 0) {
      this.rowKind[i] = NO_GROUP;
      this.noGroup++;
      return;
    }
    if (this.rowProbe[i] === 1) {
      this.rowKind[i] = PROBE;
      this.probes++;
      return;
    }
    this.rowKind[i] = LEARNED;
    const proto = c.protocol[i]!;
    const p = c.port[i]!;
    const sameTenant = cg >= 0 && sg >= 0 && endTenant[ce] === endTenant[se];
    if (sg >= 0) {
      const ip = c.clientIp[i]!;
      const e = this.add(2 * sg + INGRESS, protocolField(c.ipV6[ip]!, proto), sameTenant ? 1 + cg : ADDRESS_REMOTE + ip, p, se, flows, bytes);
      this.rowEntry[2 * i] = 1 + e;
      this.rowCandidateColumn[2 * i] = 1 + this.lastCandidate;
    }
    if (cg >= 0) {
      const ip = c.serverIp[i]!;
      const e = this.add(2 * cg + EGRESS, protocolField(c.ipV6[ip]!, proto), sameTenant ? 1 + sg : ADDRESS_REMOTE + ip, p, ce, flows, bytes);
      this.rowEntry[2 * i + 1] = 1 + e;
      this.rowCandidateColumn[2 * i + 1] = 1 + this.lastCandidate;
    }
  }

  /** The candidate of the entry `add` returned last. */
  private lastCandidate = 0;

  /** Adds traffic seen at `vm` to an entry, made when new; the entry. */
  private add(side: number, field: number, remote: number, p: number, vm: number, flows: number, bytes: number): number {
    const entries = this.entries;
    const known = entries.size;
    const e = entries.idOf(side, field, remote, p);
    if (e === known) {
      const candidate = this.candidates.idOf(side, field, remote, 0);
      this.entryCandidate.push(candidate);
      // Kept in the slot too: read with the tuple rather than from a column far larger than the caches.
      entries.slots[entries.slot + SLOT_EXTRA] = candidate;
    }
    this.lastCandidate = entries.slots[entries.slot + SLOT_EXTRA]!;
    this.filedTraffic.reserve(2 * e + 1);
    const t = this.filedTraffic.values;
    if (t[2 * e] === 0) this.liveEntries++;
    t[2 * e]! += flows;
    t[2 * e + 1]! += bytes;
    const pairs = this.pairs;
    const knownPairs = pairs.size;
    const pair = pairs.idOf(e, vm, 0, 0);
    if (pair === knownPairs) this.pairCount.push(0);
    if (this.pairCount.values[pair]!++ === 0) this.livePairs++;
    return e;
  }

  /** The entries' traffic as a column the learner may add to, and the live pairs as lists, in steps. */
  private *handOver(): Generator<void, void, void> {
    const E = this.entries.size;
    this.filedTraffic.reserve(2 * E + 1);
    const filed = this.filedTraffic.values;
    const copy = this.entryTraffic;
    copy.reserve(filed.length - 1);
    for (let at = 0; at < filed.length; at += CLEAR_SLICE) {
      copy.values.set(filed.subarray(at, Math.min(filed.length, at + CLEAR_SLICE)), at);
      yield;
    }
    yield* fillInSlices(copy.values, 0, filed.length, copy.values.length);
    this.pairEntry.length = 0;
    this.pairVm.length = 0;
    const keys = this.pairs.keys;
    const counts = this.pairCount.values;
    for (let p = 0; p < this.pairs.size; p++) {
      if ((p & (SCAN_SLICE - 1)) === SCAN_SLICE - 1) yield;
      if (counts[p]! > 0) {
        this.pairEntry.push(keys[4 * p]!);
        this.pairVm.push(keys[4 * p + 1]!);
      }
    }
  }
}
