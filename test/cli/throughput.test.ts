import { describe, expect, it } from 'vitest';
import { ThroughputRecorder } from '../../src/cli/throughput.ts';

describe('ThroughputRecorder', () => {
  it('gives the rate of each interval, extending intervals shorter than the minimum', () => {
    let now = 10_000;
    const r = new ThroughputRecorder(() => now, 250);
    now += 500;
    r.sample(1000); // 0..0.5 s: 2,000/s
    now += 100;
    r.sample(1200); // 0.5..0.6 s: too short, stays open
    now += 400;
    r.sample(2000); // extends it to 0.5..1.0 s: 1,000 records in 0.5 s
    r.markRun();
    now += 1000;
    r.sample(2000); // 1.0..2.0 s: a clustering run, no records
    expect(r.samples()).toEqual([
      { seconds: 0.5, recordsPerSec: 2000 },
      { seconds: 1, recordsPerSec: 2000 },
      { seconds: 2, recordsPerSec: 0 },
    ]);
    expect(r.runsAt()).toEqual([1]);
  });
});
