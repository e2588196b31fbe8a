/**
 * The event-time schedule of clustering runs, one definition for one process (Pipeline) and a member's
 * routers (Router): runs at multiples of the interval, so that a replay, a live process and every router of
 * an application cut at the same times.
 */
export class RunSchedule {
  /** Event time of the next run; NaN before the first flow. */
  next = Number.NaN;

  /** `everyMs`: event time between runs; 0 runs only on demand. */
  constructor(private readonly everyMs: number) {}

  /**
   * The run time (a multiple of the interval, at most `watermark`) once the watermark has passed the next
   * scheduled run, else null; the first watermark only starts the schedule.
   */
  due(watermark: number): number | null {
    const every = this.everyMs;
    if (!(every > 0) || watermark === Number.NEGATIVE_INFINITY) return null;
    if (Number.isNaN(this.next)) {
      this.next = (Math.floor(watermark / every) + 1) * every;
      return null;
    }
    if (watermark < this.next) return null;
    const tick = Math.floor(watermark / every) * every;
    this.next = tick + every;
    return tick;
  }
}
