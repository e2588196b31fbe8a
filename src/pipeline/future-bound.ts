/**
 * The bound on event times ahead of "now" (docs/event-time.md). A record too far in the future is rejected as
 * `future_ts` before it reaches the fleet state, so that no single record and no single source (an exporting
 * host with a wrong clock) can move the watermark, plant a tombstone or pin a tenant in the future.
 *
 * Two notions of now:
 * - the wall clock (the live service): nothing later than wall clock + the skew;
 * - the input's own, robust now (alone in a replay; live, for flows older than wall clock - the skew, i.e. a
 *   backlog being caught up on): the event time that a quorum of the sources heard from recently have
 *   reached. A flow may not lead it by more than the skew.
 * Records in order never meet the bound (each source is at most a bucket or so ahead of the others), so the
 * window moves exactly as it would without it.
 */
import type { FlowRecord } from '../contract/records.ts';
import { type Rejection, rejection } from '../contract/rejections.ts';

export interface FutureBoundConfig {
  /** How far ahead of now (wall clock, or the input's robust now) an event time may be. */
  maxSkewMs: number;
  /** Distinct recent sources that must have reached a time before a flow may lead it by more than the skew. */
  quorum: number;
  /** The wall clock, epoch ms; null in a replay, where the trace's own time is the only clock. */
  wallClock: (() => number) | null;
}

export const DEFAULT_MAX_FUTURE_SKEW_MS = 5 * 60_000;
export const DEFAULT_FUTURE_QUORUM = 3;

export const defaultFutureBoundConfig: FutureBoundConfig = {
  maxSkewMs: DEFAULT_MAX_FUTURE_SKEW_MS,
  quorum: DEFAULT_FUTURE_QUORUM,
  wallClock: null,
};

/** Sources remembered at most; beyond it the silent ones are forgotten first (a hostile input cannot grow it). */
const MAX_SOURCES = 65_536;

/** The robust now is recomputed at least this often (flows), and always before a flow is rejected. */
const REFRESH_EVERY = 1024;

/**
 * A flow's source: the hypervisor that exported it, i.e. the host of its VM end. Records without a host
 * share one source, so a producer that names no host is one voice, not many.
 */
function flowSource(f: FlowRecord): string {
  return (f.srcVm !== null ? f.srcHost : f.dstHost) ?? f.srcHost ?? f.dstHost ?? '';
}

export class FutureBound {
  /** Latest event time heard from each source (its last flow's ts, so a corrected clock counts at once). */
  private readonly latest = new Map<string, number>();
  private robust = Number.NEGATIVE_INFINITY;
  private sinceRefresh = REFRESH_EVERY;
  /** Sources that took part in the last robust now, for the rejection's message. */
  private voters = 0;

  constructor(
    readonly config: FutureBoundConfig,
    /** Sources silent (in event time) for longer than this behind the watermark do not vote. */
    private readonly horizonMs: number,
  ) {
    if (!(config.maxSkewMs >= 0)) throw new RangeError('maxSkewMs must not be negative');
    if (!(Number.isInteger(config.quorum) && config.quorum >= 1)) throw new RangeError('quorum must be a whole number of at least 1');
  }

  /** Sources remembered now (for tests and diagnostics). */
  get sources(): number {
    return this.latest.size;
  }

  /**
   * Judges a flow against the bound, with `watermark` the fleet's (which only ever holds accepted times).
   * The flow's own time is its source's vote either way: a source is judged by the others, never by itself.
   */
  checkFlow(f: FlowRecord, watermark: number): Rejection | null {
    const ts = f.ts;
    const skew = this.config.maxSkewMs;
    const clock = this.config.wallClock;
    const now = clock === null ? Number.NaN : clock();
    this.vote(flowSource(f), ts, watermark);
    if (ts > now + skew) return this.wallRejection(ts, now);
    // Not ahead of the watermark: nothing moves (the watermark holds accepted times only).
    if (ts <= watermark) return null;
    // Within the skew of the wall clock either way: the present, whoever says it (flows resuming after a
    // quiet spell need no quorum). The quorum still guards a backlog being caught up on, far behind the clock.
    if (ts >= now - skew) return null;
    if (++this.sinceRefresh < REFRESH_EVERY && ts <= this.robust + skew) return null;
    this.refresh(watermark);
    if (ts <= this.robust + skew) return null;
    return rejection(
      'future_ts',
      'ts',
      `ts ${iso(ts)} is ${seconds(ts - this.robust)} s ahead of ${iso(this.robust)}, the time ${Math.min(this.config.quorum, this.voters)} of ${this.voters} recent sources have reached; the allowed future skew is ${seconds(skew)} s`,
    );
  }

  /**
   * Judges an attributes message (VM or tenant): live, against the wall clock; in a replay, against the
   * watermark (itself bounded by the flows' quorum). Before the first flow of a replay there is nothing to
   * judge against.
   */
  checkAttributes(ts: number, watermark: number): Rejection | null {
    const skew = this.config.maxSkewMs;
    const clock = this.config.wallClock;
    if (clock !== null) {
      const now = clock();
      return ts > now + skew ? this.wallRejection(ts, now) : null;
    }
    if (watermark === Number.NEGATIVE_INFINITY || ts <= watermark + skew) return null;
    return rejection(
      'future_ts',
      'ts',
      `ts ${iso(ts)} is ${seconds(ts - watermark)} s ahead of the watermark ${iso(watermark)}; the allowed future skew is ${seconds(skew)} s`,
    );
  }

  /** The latest event time a restored state may hold: wall clock + skew (no limit without a wall clock). */
  latestSane(): number {
    return this.config.wallClock === null ? Number.POSITIVE_INFINITY : this.config.wallClock() + this.config.maxSkewMs;
  }

  private wallRejection(ts: number, now: number): Rejection {
    return rejection('future_ts', 'ts', `ts ${iso(ts)} is ${seconds(ts - now)} s ahead of the wall clock; the allowed future skew is ${seconds(this.config.maxSkewMs)} s`);
  }

  private vote(source: string, ts: number, watermark: number): void {
    const held = this.latest.get(source);
    if (held === undefined && this.latest.size >= MAX_SOURCES) this.forgetSilent(watermark);
    this.latest.set(source, ts);
  }

  private forgetSilent(watermark: number): void {
    const before = watermark - this.horizonMs;
    for (const [source, at] of this.latest) if (at < before) this.latest.delete(source);
    // Still full (a flood of fresh names): start over; the quorum is back within a few records of each host.
    if (this.latest.size >= MAX_SOURCES) this.latest.clear();
    this.sinceRefresh = REFRESH_EVERY;
  }

  /**
   * The robust now: the k-th latest time among the sources heard from within the horizon, with k the quorum,
   * or half the sources (rounded up) when there are fewer than twice the quorum: with two sources or one,
   * there is no majority to outvote either, and each moves time alone.
   */
  private refresh(watermark: number): void {
    this.sinceRefresh = 0;
    const since = watermark - this.horizonMs;
    let n = 0;
    let first = Number.NEGATIVE_INFINITY;
    let second = Number.NEGATIVE_INFINITY;
    let third = Number.NEGATIVE_INFINITY;
    const q = this.config.quorum;
    // Larger quorums keep every vote; 1 to 3 (the usual) keep the top three in one pass.
    const all: number[] | null = q > 3 ? [] : null;
    for (const at of this.latest.values()) {
      if (at < since) continue;
      n++;
      if (all !== null) all.push(at);
      else if (at > first) {
        third = second;
        second = first;
        first = at;
      } else if (at > second) {
        third = second;
        second = at;
      } else if (at > third) third = at;
    }
    this.voters = n;
    const k = Math.min(q, Math.ceil(n / 2));
    if (k === 0) this.robust = Number.NEGATIVE_INFINITY;
    else if (all !== null) this.robust = all.sort((a, b) => b - a)[k - 1]!;
    else this.robust = k === 1 ? first : k === 2 ? second : third;
  }
}

function iso(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}

function seconds(ms: number): number {
  return Math.round(ms / 1000);
}
