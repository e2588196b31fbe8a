/**
 * The check's verdicts kept from one computation to the next: a connection's verdict depends only on its
 * ends, orientation and port and on the rules of its ends' groups, and between two runs most of those stay
 * as they were while the rules' traffic figures change. At 100k VMs looking up the rules of 4 million
 * connections was a tenth of a run. What changes is judged again: a row new or turned round since, an end
 * whose group or tenant changed, a server whose group's ingress rules or a client whose group's egress rules
 * (their order, kind, ethertype, remote or ports) are not the last computation's (a row whose server end
 * the records could not tell: all four). The tallies are counted again every run (the traffic changed).
 *
 * Everything is in the numbering of the log (rows, ends, addresses) and of the run's groups (indices): a
 * compaction of the log renumbers rows, ends and addresses and the verdicts follow it (renumber; dropped
 * only when the log no longer remembers the compactions since); group indices are compared as numbers, as
 * the check reads them (a verdict is a function of the indices, not of the groups' names).
 */
import type { ConnectionColumns, Renumbering } from './connection-log.ts';
import { ADDRESS_REMOTE, EGRESS, fillInSlices, grownInSlices, INGRESS } from './learned-entries.ts';

/** A row with no kept verdict (no traffic in the last check window, or never judged). */
export const NO_VERDICT = -1;

/** An end the kept verdicts never saw (no group index is below -1): its verdicts are judged again. */
const UNKNOWN_GROUP = -2;
/** A rule remote no computation's rule has: its address was forgotten by a compaction. */
const FORGOTTEN_REMOTE = -1;

/** Bits of an end's staleness: the rules of its group's ingress, egress side changed. */
const INGRESS_STALE = 1;
const EGRESS_STALE = 2;
/** Groups whose rules are compared, and ends whose staleness is set, between two steps of prepare. */
const GROUP_SLICE = 4096;
const END_SLICE = 1 << 16;

/** The rules a kept verdict depends on, as the check reads them (see Learned in recommend.ts). */
export interface RuleList {
  ruleCount: number;
  rulePosition: Int32Array;
  ruleGroup: Int32Array;
  ruleKind: Int32Array;
  ruleField: Int32Array;
  ruleRemote: Int32Array;
  ruleMin: Int32Array;
  ruleMax: Int32Array;
  groupRuleStart: Int32Array;
}

/** A computation's view of what it may keep: built by KeptVerdicts.prepare, read per row by the check. */
export class KeptVerdicts {
  private static idle: KeptVerdicts | null = null;

  /** The idle set (one is kept), or a new one: a computation that starts while another holds it starts from nothing. */
  static take(): KeptVerdicts {
    const s = KeptVerdicts.idle ?? new KeptVerdicts();
    KeptVerdicts.idle = null;
    return s;
  }

  /** The next computation judges every connection (a test compares the two; memory given back). */
  static forget(): void {
    KeptVerdicts.idle = null;
  }

  /** What the last check did: rows with traffic in the check window, and how many it judged anew. */
  static lastCheck: { rows: number; judged: number; fromScratch: boolean } | null = null;

  // Per row, the verdict (check.ts's ALLOWED, DENIED_INGRESS, DENIED_EGRESS or NO_VERDICT), the rules of it
  // (-1: none) and what it was judged as: client end, server end and port.
  verdict = new Int8Array(0);
  ingress = new Int32Array(0);
  egress = new Int32Array(0);
  private client = new Int32Array(0);
  private server = new Int32Array(0);
  private port = new Int32Array(0);
  /** Rows described by the columns above. */
  private rows = 0;

  // What the verdicts were judged against.
  private endsOf: WeakRef<object> | null = null;
  private endGroup = new Int32Array(0);
  private endTenant = new Int32Array(0);
  private rules: RuleList | null = null;

  /** Per end of this computation: 1 when its verdicts cannot be kept. */
  private stale = new Uint8Array(0);
  /** Last computation's rule index to this one's (-1: its side's rules changed). */
  private ruleMap = new Int32Array(0);
  judged = 0;
  withTraffic = 0;
  fromScratch = true;

  /** The computation that took these is done with them. */
  release(): void {
    KeptVerdicts.idle = this;
  }

  /**
   * Compares the run's ends and rules with those the kept verdicts were judged against. Until `finish`,
   * the kept verdicts are in no known state: a computation dropped half-way never gives them back.
   */
  *prepare(cols: ConnectionColumns, endGroup: Int32Array, endTenant: Int32Array, rules: RuleList): Generator<void, void, void> {
    const n = cols.count;
    const since = this.endsOf?.deref();
    if (since !== undefined && since !== cols.endVm && this.rules !== null) {
      const renumbering = cols.renumberedSince(since);
      if (renumbering !== null) {
        this.renumber(renumbering, cols.ends);
        this.endsOf = new WeakRef(cols.endVm);
      }
    }
    const same = this.endsOf !== null && this.endsOf.deref() === cols.endVm && this.rules !== null;
    this.endsOf = null;
    this.fromScratch = !same;
    this.judged = 0;
    this.withTraffic = 0;
    if (!same) this.rows = 0;
    yield* this.reserve(n);
    // Rows beyond those described have no verdict; so have all when nothing can be kept.
    yield* fillInSlices(this.verdict, NO_VERDICT, this.rows, n);
    const ends = cols.ends;
    // Per end: INGRESS_STALE when its group's ingress rules changed, EGRESS_STALE for its egress rules, both
    // when its group or tenant changed or it is new.
    const stale = new Uint8Array(ends);
    const G = rules.groupRuleStart.length - 1;
    const sideSame = new Uint8Array(2 * G);
    const old = this.rules;
    this.ruleMap = new Int32Array(old === null ? 0 : old.ruleCount).fill(-1);
    if (same && old !== null) {
      const oldG = old.groupRuleStart.length - 1;
      for (let g = 0; g < Math.min(G, oldG); g++) {
        if ((g & (GROUP_SLICE - 1)) === GROUP_SLICE - 1) yield;
        for (let direction = 0; direction < 2; direction++) if (sameSide(old, rules, g, direction, this.ruleMap)) sideSame[2 * g + direction] = 1;
      }
      const known = Math.min(ends, this.endGroup.length);
      for (let e = 0; e < ends; e++) {
        if ((e & (END_SLICE - 1)) === END_SLICE - 1) yield;
        const g = endGroup[e]!;
        if (e >= known || this.endGroup[e] !== g || this.endTenant[e] !== endTenant[e]) stale[e] = INGRESS_STALE | EGRESS_STALE;
        else if (g >= 0) stale[e] = (sideSame[2 * g + INGRESS] === 1 ? 0 : INGRESS_STALE) | (sideSame[2 * g + EGRESS] === 1 ? 0 : EGRESS_STALE);
      }
    } else stale.fill(INGRESS_STALE | EGRESS_STALE);
    this.stale = stale;
    this.endGroup = new Int32Array(endGroup);
    this.endTenant = new Int32Array(endTenant);
    // The rule columns only: the caller's object (Learned) holds the log's columns and the learner's tables.
    const { ruleCount, rulePosition, ruleGroup, ruleKind, ruleField, ruleRemote, ruleMin, ruleMax, groupRuleStart } = rules;
    this.rules = { ruleCount, rulePosition, ruleGroup, ruleKind, ruleField, ruleRemote, ruleMin, ruleMax, groupRuleStart };
  }

  /**
   * Row i's kept verdict, judged as client `ce` to server `se` at `port`, its rules renumbered to this
   * computation's; NO_VERDICT when it must be judged again.
   */
  kept(i: number, ce: number, se: number, port: number, undecided: boolean): number {
    this.withTraffic++;
    const v = this.verdict[i]!;
    // The server's ingress and the client's egress; a row judged in either orientation, all four.
    const staleSides = undecided ? this.stale[ce]! | this.stale[se]! : (this.stale[se]! & INGRESS_STALE) | (this.stale[ce]! & EGRESS_STALE);
    if (v === NO_VERDICT || staleSides !== 0 || this.client[i] !== ce || this.server[i] !== se || this.port[i] !== port) {
      this.judged++;
      return NO_VERDICT;
    }
    const map = this.ruleMap;
    if (this.ingress[i]! >= 0) this.ingress[i] = map[this.ingress[i]!]!;
    if (this.egress[i]! >= 0) this.egress[i] = map[this.egress[i]!]!;
    return v;
  }

  /** Row i judged now. */
  store(i: number, ce: number, se: number, port: number, verdict: number, ingress: number, egress: number): void {
    this.verdict[i] = verdict;
    this.ingress[i] = ingress;
    this.egress[i] = egress;
    this.client[i] = ce;
    this.server[i] = se;
    this.port[i] = port;
  }

  /** Row i has no traffic in the check window: nothing to keep. */
  drop(i: number): void {
    this.verdict[i] = NO_VERDICT;
  }

  /** Every row judged or dropped: the verdicts hold for this computation's ends and rules. */
  finish(cols: ConnectionColumns): void {
    this.rows = cols.count;
    this.endsOf = new WeakRef(cols.endVm);
    this.stale = new Uint8Array(0);
    this.ruleMap = new Int32Array(0);
    KeptVerdicts.lastCheck = { rows: this.withTraffic, judged: this.judged, fromScratch: this.fromScratch };
  }

  /**
   * The kept verdicts in the numbering after a compaction of the log: survivors move down (in place, a row's
   * new number never above its old), the ends they were judged as and the ends' groups renumbered, ends
   * new since marked unknown (stale), the rules' address remotes renumbered (a forgotten address, one no
   * rule of this computation can name).
   */
  private renumber(map: Renumbering, ends: number): void {
    const { verdict, ingress, egress, client, server, port } = this;
    let rows = 0;
    for (let i = 0; i < this.rows; i++) {
      const j = map.rows[i]!;
      if (j < 0) continue;
      rows = j + 1;
      const v = verdict[i]!;
      verdict[j] = v;
      if (v === NO_VERDICT) continue;
      ingress[j] = ingress[i]!;
      egress[j] = egress[i]!;
      client[j] = map.ends[client[i]!]!;
      server[j] = map.ends[server[i]!]!;
      port[j] = port[i]!;
    }
    this.rows = rows;
    const endGroup = new Int32Array(ends).fill(UNKNOWN_GROUP);
    const endTenant = new Int32Array(ends);
    for (let e = 0; e < Math.min(this.endGroup.length, map.ends.length); e++) {
      const to = map.ends[e]!;
      if (to < 0 || to >= ends) continue;
      endGroup[to] = this.endGroup[e]!;
      endTenant[to] = this.endTenant[e]!;
    }
    this.endGroup = endGroup;
    this.endTenant = endTenant;
    const rules = this.rules!;
    const ruleRemote = Int32Array.from(rules.ruleRemote, (remote) => {
      if (remote < ADDRESS_REMOTE) return remote;
      const ip = remote - ADDRESS_REMOTE;
      const to = ip < map.ips.length ? map.ips[ip]! : -1;
      return to < 0 ? FORGOTTEN_REMOTE : ADDRESS_REMOTE + to;
    });
    this.rules = { ...rules, ruleRemote };
  }

  /** Room for `n` rows, the described ones kept: an eighth to spare, at least half the old room more when grown. */
  private *reserve(n: number): Generator<void, void, void> {
    if (this.verdict.length >= n) return;
    const size = Math.max(n + (n >> 3), this.verdict.length + (this.verdict.length >> 1));
    const keep = this.rows;
    this.verdict = yield* grownInSlices(this.verdict, new Int8Array(size), keep);
    this.ingress = yield* grownInSlices(this.ingress, new Int32Array(size), keep);
    this.egress = yield* grownInSlices(this.egress, new Int32Array(size), keep);
    this.client = yield* grownInSlices(this.client, new Int32Array(size), keep);
    this.server = yield* grownInSlices(this.server, new Int32Array(size), keep);
    this.port = yield* grownInSlices(this.port, new Int32Array(size), keep);
  }
}

/**
 * Whether group g's rules in `direction` are the same list in both (relative order, kind, ethertype and
 * protocol, remote, ports); if so, `map` gets each old rule's index in `b`. The other direction's rules
 * may have changed: the check of one side reads only that side's rules, and their order among themselves.
 */
function sameSide(a: RuleList, b: RuleList, g: number, direction: number, map: Int32Array): boolean {
  let ra = a.groupRuleStart[g]!;
  let rb = b.groupRuleStart[g]!;
  const endA = a.groupRuleStart[g + 1]!;
  const endB = b.groupRuleStart[g + 1]!;
  let firstA = -1;
  let firstB = -1;
  for (;;) {
    while (ra < endA && a.ruleKind[ra]! >> 8 !== direction) ra++;
    while (rb < endB && b.ruleKind[rb]! >> 8 !== direction) rb++;
    if (ra === endA || rb === endB) return ra === endA && rb === endB;
    if (firstA < 0) {
      firstA = a.rulePosition[ra]!;
      firstB = b.rulePosition[rb]!;
    }
    if (
      a.rulePosition[ra]! - firstA !== b.rulePosition[rb]! - firstB ||
      a.ruleKind[ra] !== b.ruleKind[rb] ||
      a.ruleField[ra] !== b.ruleField[rb] ||
      a.ruleRemote[ra] !== b.ruleRemote[rb] ||
      a.ruleMin[ra] !== b.ruleMin[rb] ||
      a.ruleMax[ra] !== b.ruleMax[rb]
    )
      return false;
    map[ra] = rb;
    ra++;
    rb++;
  }
}
