/**
 * Bytes exchanged by each pair of VMs over the sliding window: the edges of the traffic graph that
 * affinity groups are found in. Pairs are undirected (both directions of a connection add to one entry).
 *
 * One open-addressing table over a Float64Array of entries (lo serial, hi serial, newest epoch, then
 * EPOCH_SLOTS byte counters), rather than a Map of objects: one probe and one cache line per flow, no
 * allocation on the hot path, and memory bounded by `maxPairs` (128 bytes per pair at the table's
 * maximum load of one half).
 *
 * Why coarse epochs rather than the window's own buckets: a ring of 16 per-minute counters per pair would
 * double the memory of the table. An epoch spans `epochBuckets` buckets and EPOCH_SLOTS epochs cover
 * the window plus the epoch being filled; when the window starts inside an epoch, that epoch's bytes are
 * pro-rated by the share of its buckets still in the window. The edge weights are then estimates at
 * the window's oldest edge, which is all a community detection over them needs.
 */
import { runToEnd } from '../core/slices.ts';

// 3 + 5 = 8 doubles: one entry is one 64-byte cache line, so a probe costs one line.
const EPOCH_SLOTS = 5;
const LO = 0;
const HI = 1;
const EPOCH = 2;
const BYTES = 3;
const STRIDE = BYTES + EPOCH_SLOTS;
const EMPTY = -1;
const INITIAL_SLOTS = 1024;

export const DEFAULT_MAX_VM_PAIRS = 2_000_000;

function slotOf(lo: number, hi: number, mask: number): number {
  let h = Math.imul(lo, 0x9e3779b1) ^ Math.imul(hi + 0x7f4a7c15, 0x85ebca6b);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 13;
  return h & mask;
}

/** The table as plain data, for the fleet codec. */
export interface PairTrafficState {
  table: Float64Array;
  used: number;
  overflow: number;
}

/** Doubles per pair entry in the exported table. */
export const PAIR_STRIDE = STRIDE;
export const PAIR_EMPTY = EMPTY;

export class PairTraffic {
  private table: Float64Array;
  private mask: number;
  private used = 0;
  /** Buckets per epoch: EPOCH_SLOTS - 1 whole epochs cover the window. */
  readonly epochBuckets: number;
  /** New pairs turned away because the table was at `maxPairs`. */
  overflow = 0;

  constructor(
    windowBuckets: number,
    readonly maxPairs: number = DEFAULT_MAX_VM_PAIRS,
  ) {
    this.epochBuckets = Math.max(1, Math.ceil(windowBuckets / (EPOCH_SLOTS - 1)));
    this.table = new Float64Array(INITIAL_SLOTS * STRIDE).fill(EMPTY);
    this.mask = INITIAL_SLOTS - 1;
  }

  get size(): number {
    return this.used;
  }

  get bytes(): number {
    return this.table.byteLength;
  }

  /**
   * Adds `bytes` to the pair of VM serials a and b (a !== b) in `bucket`; a bucket older than the ring is
   * dropped. False when the pair is new and the table holds `maxPairs` (counted in `overflow`).
   */
  add(a: number, b: number, bucket: number, bytes: number): boolean {
    const lo = Math.min(a, b);
    const hi = Math.max(a, b);
    const epoch = Math.floor(bucket / this.epochBuckets);
    const t = this.table;
    const mask = this.mask;
    let i = slotOf(lo, hi, mask);
    for (;;) {
      const o = i * STRIDE;
      const k = t[o + LO]!;
      if (k === lo && t[o + HI] === hi) {
        const newest = t[o + EPOCH]!;
        if (epoch > newest) {
          // Slots of the epochs skipped since the newest (at most all of them) start from zero.
          const clear = Math.min(EPOCH_SLOTS, epoch - newest);
          for (let e = epoch - clear + 1; e <= epoch; e++) t[o + BYTES + (e % EPOCH_SLOTS)] = 0;
          t[o + EPOCH] = epoch;
        } else if (epoch <= newest - EPOCH_SLOTS) return true;
        t[o + BYTES + (epoch % EPOCH_SLOTS)]! += bytes;
        return true;
      }
      if (k === EMPTY) {
        if (this.used >= this.maxPairs) {
          this.overflow++;
          return false;
        }
        t[o + LO] = lo;
        t[o + HI] = hi;
        t[o + EPOCH] = epoch;
        for (let j = o + BYTES; j < o + STRIDE; j++) t[j] = 0;
        t[o + BYTES + (epoch % EPOCH_SLOTS)] = bytes;
        if (++this.used * 2 > mask + 1) this.rebuild(2 * (mask + 1), Number.NEGATIVE_INFINITY);
        return true;
      }
      i = (i + 1) & mask;
    }
  }

  private rebuild(slots: number, firstEpoch: number): void {
    runToEnd(this.rebuildSteps(slots, firstEpoch, Number.POSITIVE_INFINITY));
  }

  /** The table moved to `slots` slots but for pairs older than firstEpoch, in steps of old slots; swapped in at the end. */
  private *rebuildSteps(slots: number, firstEpoch: number, slotsPerStep: number): Generator<number, void, void> {
    const old = this.table;
    const t = new Float64Array(slots * STRIDE).fill(EMPTY);
    const mask = slots - 1;
    let used = 0;
    const oldSlots = old.length / STRIDE;
    for (let from = 0; from < oldSlots; from += slotsPerStep) {
      const to = Math.min(oldSlots, from + slotsPerStep);
      for (let o = from * STRIDE; o < to * STRIDE; o += STRIDE) {
        const lo = old[o + LO]!;
        if (lo === EMPTY || old[o + EPOCH]! < firstEpoch) continue;
        const hi = old[o + HI]!;
        let i = slotOf(lo, hi, mask);
        while (t[i * STRIDE] !== EMPTY) i = (i + 1) & mask;
        t.set(old.subarray(o, o + STRIDE), i * STRIDE);
        used++;
      }
      // Swapped in below, on the call that resumes after the last step: the caller reads nothing in between.
      if (Number.isFinite(slotsPerStep)) yield to - from;
    }
    this.table = t;
    this.mask = mask;
    this.used = used;
  }

  /** Forgets pairs with no traffic in buckets >= firstBucket, and shrinks the table to fit. */
  purge(firstBucket: number): void {
    runToEnd(this.purgeSteps(firstBucket, Number.POSITIVE_INFINITY));
  }

  /**
   * purge as steps of at most `slotsPerStep` slots (each yields how many it covered): the live pairs counted,
   * then, if any are gone, the table rebuilt (at 11.6k VMs one block of 10 ms). The same table as purge's;
   * nothing may change it until the last step.
   */
  *purgeSteps(firstBucket: number, slotsPerStep: number): Generator<number, void, void> {
    const firstEpoch = Math.floor(firstBucket / this.epochBuckets);
    let live = 0;
    const t = this.table;
    const slotCount = t.length / STRIDE;
    for (let from = 0; from < slotCount; from += slotsPerStep) {
      const to = Math.min(slotCount, from + slotsPerStep);
      for (let o = from * STRIDE; o < to * STRIDE; o += STRIDE) if (t[o + LO] !== EMPTY && t[o + EPOCH]! >= firstEpoch) live++;
      if (Number.isFinite(slotsPerStep)) yield to - from;
    }
    if (live === this.used) return;
    let slots = INITIAL_SLOTS;
    while (slots < live * 2) slots *= 2;
    yield* this.rebuildSteps(slots, firstEpoch, slotsPerStep);
  }

  /**
   * Calls `fn` with each pair's bytes in buckets [firstBucket, lastBucket] (estimated at the window's
   * oldest edge, see above); pairs with no bytes in the window are skipped. Purges first.
   */
  forEach(firstBucket: number, lastBucket: number, fn: (lo: number, hi: number, bytes: number) => void): void {
    this.purge(firstBucket);
    this.visit(firstBucket, lastBucket, 0, this.table.length / STRIDE, fn);
  }

  /**
   * forEach as steps of at most `slotsPerStep` slots of the table (each yields how many it covered): a
   * partition of 2k VMs holds a hundred thousand pairs and more, and a scale-out member walks them while it
   * serves reads. Nothing may change the table until the last step.
   */
  *forEachSteps(firstBucket: number, lastBucket: number, fn: (lo: number, hi: number, bytes: number) => void, slotsPerStep: number): Generator<number, void, void> {
    yield* this.purgeSteps(firstBucket, slotsPerStep);
    const slots = this.table.length / STRIDE;
    for (let from = 0; from < slots; from += slotsPerStep) {
      const to = Math.min(slots, from + slotsPerStep);
      this.visit(firstBucket, lastBucket, from, to, fn);
      yield to - from;
    }
  }

  /** The pairs of slots [fromSlot, toSlot) with bytes in buckets [firstBucket, lastBucket]: forEach's loop. */
  private visit(firstBucket: number, lastBucket: number, fromSlot: number, toSlot: number, fn: (lo: number, hi: number, bytes: number) => void): void {
    const g = this.epochBuckets;
    const firstEpoch = Math.floor(firstBucket / g);
    const lastEpoch = Math.floor(lastBucket / g);
    // Share of the oldest epoch's buckets that fall inside the window.
    const firstShare = (Math.min(lastBucket, firstEpoch * g + g - 1) - firstBucket + 1) / g;
    const t = this.table;
    for (let o = fromSlot * STRIDE; o < toSlot * STRIDE; o += STRIDE) {
      const lo = t[o + LO]!;
      if (lo === EMPTY) continue;
      const newest = t[o + EPOCH]!;
      let sum = 0;
      for (let e = Math.max(firstEpoch, newest - EPOCH_SLOTS + 1); e <= Math.min(lastEpoch, newest); e++) {
        const v = t[o + BYTES + (e % EPOCH_SLOTS)]!;
        sum += e === firstEpoch ? v * firstShare : v;
      }
      if (sum > 0) fn(lo, t[o + HI]!, sum);
    }
  }

  exportState(): PairTrafficState {
    return { table: this.table, used: this.used, overflow: this.overflow };
  }

  /** A table from exported state (taken over, not copied); throws RangeError on inconsistent state. */
  static fromState(windowBuckets: number, maxPairs: number, s: PairTrafficState): PairTraffic {
    const p = new PairTraffic(windowBuckets, maxPairs);
    const slots = s.table.length / STRIDE;
    if (!Number.isInteger(slots) || slots < INITIAL_SLOTS || (slots & (slots - 1)) !== 0)
      throw new RangeError('pair table size is not a power of two');
    let used = 0;
    for (let o = 0; o < s.table.length; o += STRIDE) if (s.table[o + LO] !== EMPTY) used++;
    if (used !== s.used || used * 2 > slots) throw new RangeError('pair table count does not match its entries');
    p.table = s.table;
    p.mask = slots - 1;
    p.used = s.used;
    p.overflow = s.overflow;
    return p;
  }
}
