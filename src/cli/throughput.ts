/**
 * Records per second over the run of a command, from the running record count sampled at irregular
 * moments (each block read): the rate of each interval of at least `minIntervalMs`, and when clustering
 * runs ended, for a throughput-over-time chart.
 */
import type { ThroughputSample } from './plots.ts';

export class ThroughputRecorder {
  private readonly started: number;
  private readonly points: Array<{ ms: number; records: number }> = [];
  private readonly runs: number[] = [];

  constructor(
    private readonly now: () => number = () => performance.now(),
    private readonly minIntervalMs = 250,
  ) {
    this.started = now();
    this.points.push({ ms: this.started, records: 0 });
  }

  /** `records` so far (a running total). An interval shorter than the minimum is extended, not closed. */
  sample(records: number): void {
    const ms = this.now();
    const n = this.points.length;
    const last = this.points[n - 1]!;
    if (n > 1 && last.ms - this.points[n - 2]!.ms < this.minIntervalMs) {
      last.ms = ms;
      last.records = records;
    } else this.points.push({ ms, records });
  }

  markRun(): void {
    this.runs.push((this.now() - this.started) / 1000);
  }

  /** One sample per interval, at its end: the interval's records over its duration. */
  samples(): ThroughputSample[] {
    const out: ThroughputSample[] = [];
    for (let i = 1; i < this.points.length; i++) {
      const a = this.points[i - 1]!;
      const b = this.points[i]!;
      const ms = b.ms - a.ms;
      if (ms <= 0) continue;
      out.push({ seconds: (b.ms - this.started) / 1000, recordsPerSec: ((b.records - a.records) * 1000) / ms });
    }
    return out;
  }

  runsAt(): number[] {
    return [...this.runs];
  }
}
