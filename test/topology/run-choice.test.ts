import { describe, expect, it } from 'vitest';
import { chooseRun, RUN_CATCH_UP_MS } from '../../src/topology/run-choice.ts';

/** Pending keys with the partitions that published them, as the leader keeps them. */
const pending = (entries: Record<string, number[]>): Map<string, Map<number, null>> => new Map(Object.entries(entries).map(([k, ps]) => [k, new Map(ps.map((p) => [p, null]))]));

describe('chooseRun', () => {
  it('runs nothing until every partition has published a key', () => {
    expect(chooseRun(pending({ t300000: [0, 1], q1: [0] }), 3, Number.POSITIVE_INFINITY)).toBeNull();
  });

  it('runs a complete request before any tick, whatever the backlog', () => {
    expect(chooseRun(pending({ t300000: [0, 1, 2], q7: [0, 1, 2], t600000: [0] }), 3, 0)).toEqual({ key: 'q7' });
  });

  it('runs the newest complete tick, older complete ones not at all', () => {
    expect(chooseRun(pending({ t900000: [0, 1, 2], t300000: [0, 1, 2], t600000: [0, 1, 2] }), 3, 0)).toEqual({ key: 't900000' });
  });

  it('lets the newest complete tick wait while a newer one is announced, up to the catch-up time after the last run', () => {
    const backlog = pending({ t300000: [0, 1, 2], t600000: [2] });
    expect(chooseRun(backlog, 3, 4_000, 10_000)).toEqual({ waitMs: 6_000 });
    expect(chooseRun(backlog, 3, 10_000, 10_000)).toEqual({ key: 't300000' });
    // The first run of a leader does not wait: no run started before it.
    expect(chooseRun(backlog, 3, Number.POSITIVE_INFINITY)).toEqual({ key: 't300000' });
  });

  it('does not wait in real time: no tick newer than the complete one announced', () => {
    expect(chooseRun(pending({ t300000: [0, 1, 2], t0: [1] }), 3, 0)).toEqual({ key: 't300000' });
  });

  it('lets the newest complete tick wait while the input or the windows are behind, though no newer tick is announced yet', () => {
    // Issue 12: the windows still applying the backlog had announced nothing past 00:15 when the first run
    // was published, and the leader ran it: one run more than one process.
    const reached = pending({ t300000: [0, 1, 2], t900000: [0, 1, 2] });
    expect(chooseRun(reached, 3, 3_500, 10_000, true)).toEqual({ waitMs: 6_500 });
    expect(chooseRun(reached, 3, 3_500, 10_000, false)).toEqual({ key: 't900000' });
    // Never longer than the catch-up time after the last run, nor for a leader's first run, nor a request.
    expect(chooseRun(reached, 3, 10_000, 10_000, true)).toEqual({ key: 't900000' });
    expect(chooseRun(reached, 3, Number.POSITIVE_INFINITY, 10_000, true)).toEqual({ key: 't900000' });
    expect(chooseRun(pending({ t300000: [0, 1, 2], q3: [0, 1, 2] }), 3, 0, 10_000, true)).toEqual({ key: 'q3' });
  });

  it('waits RUN_CATCH_UP_MS by default', () => {
    expect(chooseRun(pending({ t1: [0, 1], t2: [0] }), 2, 0)).toEqual({ waitMs: RUN_CATCH_UP_MS });
  });
});
