import { describe, expect, it } from 'vitest';
import { RunSchedule } from '../../src/pipeline/run-schedule.ts';

const MIN = 60_000;

describe('the run schedule', () => {
  it('starts at the first watermark and runs at multiples of the interval, once per multiple passed', () => {
    const s = new RunSchedule(5 * MIN);
    expect(s.due(Number.NEGATIVE_INFINITY)).toBe(null);
    expect(s.due(7 * MIN)).toBe(null);
    expect(s.next).toBe(10 * MIN);
    expect(s.due(9 * MIN)).toBe(null);
    expect(s.due(10 * MIN)).toBe(10 * MIN);
    expect(s.due(12 * MIN)).toBe(null);
    // Several multiples passed at once: one run, at the latest of them.
    expect(s.due(27 * MIN)).toBe(25 * MIN);
    expect(s.next).toBe(30 * MIN);
  });

  it('never runs without an interval', () => {
    const s = new RunSchedule(0);
    expect([s.due(0), s.due(60 * MIN)]).toEqual([null, null]);
    expect(s.next).toBeNaN();
  });
});
