import { describe, expect, it } from 'vitest';
import { newRunRequestId, runRequestSearches } from '../../src/topology/run-request.ts';

describe('a run request id', () => {
  it('says whether its run searches for k, and is unique and ordered by time', () => {
    const t = Date.UTC(2026, 11, 5);
    const a = newRunRequestId(true, t);
    const b = newRunRequestId(false, t + 1);
    expect([runRequestSearches(a), runRequestSearches(b)]).toEqual([true, false]);
    expect(a.startsWith(`${t.toString(36)}-`)).toBe(true);
    expect(a.slice(0, 8) < b.slice(0, 8)).toBe(true);
    expect(newRunRequestId(true, t)).not.toBe(a);
    // An earlier build's id (time and UUID only) never reads as a search: its leader kept the flag.
    expect(runRequestSearches(`${t.toString(36)}-0b7e4c1e-3d7a-4c53-9f5e-1f2a3b4c5d6e`)).toBe(false);
  });
});
