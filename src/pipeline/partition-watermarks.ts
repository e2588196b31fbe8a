/**
 * The event time of a reader of several input partitions (docs/event-time.md, "Several input partitions").
 * Kafka hands a backlog over a partition's stretch at a time: with one watermark for the reader, the first
 * stretch moved it past the other partitions' older records, and they were too_late. As Kafka Streams and
 * Flink do, each partition keeps its own watermark, and the reader's is the lowest among the partitions
 * still behind their log end; a partition caught up, idle, or not heard of for the idle time holds nothing.
 * Reading is paced too: a partition is read no further than `maxLeadMs` ahead of the reader's watermark, as
 * Flink's watermark alignment pauses a split, because the windows' rings (and the run ticks) move with the
 * newest time applied. Pure: partitions are opaque names, the wall clock is an argument.
 */

export interface PartitionWatermarksConfig {
  /**
   * Wall time a partition assigned but not yet read, or behind but silent, holds the reader's watermark
   * before it stops counting (Kafka Streams' max.task.idle.ms, Flink's idleness).
   */
  idleMs: number;
  /** How far ahead of the reader's watermark a partition is read before it waits for the others (event time). */
  maxLeadMs: number;
}

/** A partition's watermark as a checkpoint keeps it. */
export interface PartitionWatermarkState {
  partition: string;
  /** The latest flow time read from the partition; null before its first flow. */
  watermark: number | null;
}

/** The reader's event time as a checkpoint keeps it. */
export interface PartitionWatermarksState {
  /** The reader's watermark: records are judged too_late against it. Null before the first flow. */
  reader: number | null;
  partitions: PartitionWatermarkState[];
}

interface Entry {
  watermark: number;
  /** Unknown (null) until the partition's first message is read, then whether its log end is still ahead. */
  behind: boolean | null;
  /** Wall time of the assignment, then of the partition's latest message: what idleness is measured from. */
  heardAt: number;
  /** Woken (held as unknown again) since its latest message: not woken twice for one silence. */
  woken: boolean;
}

/**
 * Long enough for the first fetch of every partition assigned (kafkajs asks for all of them in one request),
 * short enough that an empty partition delays a start by no more.
 */
export const DEFAULT_PARTITION_IDLE_MS = 5000;

export class PartitionWatermarks {
  private readonly entries = new Map<string, Entry>();
  /** The reader's watermark: never goes back. */
  private reader = Number.NEGATIVE_INFINITY;
  /** The latest wall time given: idleness is judged at it. */
  private now = Number.NEGATIVE_INFINITY;
  /**
   * Partitions other readers read, known from the watermarks they publish (report()): a scale-out member
   * paces its routers against the other members' (src/topology/route-watermarks.ts). Kept across assign().
   */
  private readonly remote = new Set<string>();

  constructor(readonly config: PartitionWatermarksConfig) {}

  /** Partitions tracked (assigned). None: the reader is one ordered input, and its watermark is the newest time. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * The partitions the group assigns now: new ones start unknown (or at a restored watermark), those no
   * longer assigned are forgotten (revoked), whatever they held. `others`: the partitions other readers are
   * assigned (a scale-out member's view of the other members'), tracked as remote: one not tracked yet, or
   * revoked from this reader, holds as unknown from now (keeping its watermark) until its reader reports
   * (report()) or for the idle time; one already remote keeps what was reported. Remote ones stay tracked.
   */
  assign(partitions: Iterable<string>, now: number, others: Iterable<string> = []): void {
    this.now = Math.max(this.now, now);
    const keep = new Set(partitions);
    for (const p of keep) this.remote.delete(p);
    for (const p of others) {
      if (keep.has(p) || this.remote.has(p)) continue;
      this.remote.add(p);
      const e = this.entries.get(p);
      if (e === undefined) this.entries.set(p, { watermark: Number.NEGATIVE_INFINITY, behind: null, heardAt: this.now, woken: false });
      else this.unknownFromNow(e);
    }
    for (const p of this.entries.keys()) if (!keep.has(p) && !this.remote.has(p)) this.entries.delete(p);
    for (const p of keep) {
      const e = this.entries.get(p);
      if (e === undefined) this.entries.set(p, { watermark: Number.NEGATIVE_INFINITY, behind: null, heardAt: this.now, woken: false });
      // Assigned again (a rebalance that kept it, or another reader's before): it holds as unknown until it is read.
      else this.unknownFromNow(e);
    }
  }

  private unknownFromNow(e: Entry): void {
    e.behind = null;
    e.heardAt = this.now;
    e.woken = false;
  }

  /**
   * Another reader published the watermark of a partition it reads (`behind`: its log end still ahead at
   * that reader, null: unknown), read at wall time `now`: tracked as one of this reader's own partitions,
   * holding while behind or unknown and not silent for the idle time. A partition this reader is assigned is
   * judged by its own reading: a report of it (its former reader's, read late) changes nothing.
   */
  report(partition: string, watermark: number | null, behind: boolean | null, now: number): void {
    this.now = Math.max(this.now, now);
    let e = this.entries.get(partition);
    if (e !== undefined && !this.remote.has(partition)) return;
    if (e === undefined) {
      e = { watermark: Number.NEGATIVE_INFINITY, behind, heardAt: this.now, woken: false };
      this.entries.set(partition, e);
      this.remote.add(partition);
    }
    if (watermark !== null && watermark > e.watermark) e.watermark = watermark;
    e.behind = behind;
    e.heardAt = this.now;
    e.woken = false;
  }

  /** Whether the partition (of this reader's) was behind its log end at its latest read; null: unknown or not tracked. */
  behind(partition: string): boolean | null {
    return this.entries.get(partition)?.behind ?? null;
  }

  /** A flow of `partition` at `ts` passed the future bound: the partition's watermark moves to it. */
  observe(partition: string, ts: number): void {
    const e = this.entries.get(partition);
    if (e !== undefined && ts > e.watermark) e.watermark = ts;
  }

  /** A message of `partition` was read: the next offset to read, and the log end its fetch reported. */
  read(partition: string, nextOffset: number, logEnd: number, now: number): void {
    this.now = Math.max(this.now, now);
    const e = this.entries.get(partition);
    if (e === undefined) return;
    e.behind = nextOffset < logEnd;
    e.heardAt = this.now;
    e.woken = false;
  }

  /** Whether the partition holds the reader's watermark now. */
  private holds(e: Entry): boolean {
    if (e.behind === false) return false;
    return this.now - e.heardAt < this.config.idleMs;
  }

  /**
   * The reader's watermark, with `newest` the latest flow time applied: the lowest watermark among the
   * partitions that hold it (an unknown one holds it where it is), else `newest`; never lower than before.
   */
  watermark(newest: number): number {
    let low = newest;
    for (const e of this.entries.values()) if (e.watermark < low && this.holds(e)) low = e.watermark;
    if (low > this.reader) this.reader = low;
    return this.reader;
  }

  /**
   * Whether the next message of `partition` may be read now (`newest` as for watermark()): its first one
   * always (it makes the partition known), then while its watermark is within `maxLeadMs` of the reader's.
   * The partition holding the reader's watermark is always within it, so reading never stops altogether.
   */
  mayRead(partition: string, newest: number, now: number): boolean {
    this.now = Math.max(this.now, now);
    const e = this.entries.get(partition);
    if (e === undefined || e.watermark === Number.NEGATIVE_INFINITY) return true;
    this.wakeBehind(e);
    return e.watermark <= this.watermark(newest) + this.config.maxLeadMs;
  }

  /**
   * An event time `partition` may be read to without asking mayRead again (with the wall time of the last
   * call): at or below it mayRead would say yes, whatever it would wake. Pure. A reader that reads a batch
   * at a time asks mayRead only once its partition's watermark passes this bound, not per message (the
   * scale-out routers, src/topology/route-stage.ts); +Infinity when no other partition holds or could be woken.
   */
  readBound(partition: string): number {
    const e = this.entries.get(partition);
    let low = Number.POSITIVE_INFINITY;
    // Those that hold, and those mayRead might wake (the lead past them is the bound either way).
    for (const other of this.entries.values()) if (other !== e && other.watermark < low && (!other.woken || this.holds(other))) low = other.watermark;
    if (low === Number.POSITIVE_INFINITY) return low;
    return Math.max(this.reader, low) + this.config.maxLeadMs;
  }

  /**
   * A partition caught up or idle holds nothing, yet a backlog may have reached it meanwhile: the whole
   * trace produced at once to partitions read to their end, whose fetches kafkajs hands over one after the
   * other. So when `e` is read beyond the lead of such a partition, that one holds again as unknown, once
   * per silence, until read (its batch in the same fetch) or idle again: an empty partition delays the
   * others by the idle time once, a partition given a backlog is read alongside.
   */
  private wakeBehind(e: Entry): void {
    const bound = e.watermark - this.config.maxLeadMs;
    for (const other of this.entries.values()) {
      if (other === e || other.woken || other.watermark >= bound || this.holds(other)) continue;
      other.behind = null;
      other.heardAt = this.now;
      other.woken = true;
    }
  }

  exportState(): PartitionWatermarksState {
    return {
      reader: Number.isFinite(this.reader) ? this.reader : null,
      partitions: [...this.entries].map(([partition, e]) => ({ partition, watermark: Number.isFinite(e.watermark) ? e.watermark : null })),
    };
  }

  /**
   * Continues from a checkpoint: its partitions keep their watermarks, and hold nothing until assigned
   * (assign() drops those that are not, and makes the others unknown until read again).
   */
  restore(s: PartitionWatermarksState): void {
    this.entries.clear();
    this.remote.clear();
    this.reader = s.reader ?? Number.NEGATIVE_INFINITY;
    for (const p of s.partitions) this.entries.set(p.partition, { watermark: p.watermark ?? Number.NEGATIVE_INFINITY, behind: null, heardAt: Number.NEGATIVE_INFINITY, woken: false });
  }
}
