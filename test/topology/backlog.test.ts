import { describe, expect, it } from 'vitest';
import { isBehind, MARKER_SLACK } from '../../src/topology/backlog.ts';

describe('isBehind', () => {
  it('takes the one offset of a commit marker past the last record read for no backlog', () => {
    expect(MARKER_SLACK).toBe(1n);
    expect(isBehind([{ end: 120n, at: 119n, start: 0n }])).toBe(false);
    expect(isBehind([{ end: 120n, at: 120n, start: 0n }])).toBe(false);
  });

  it('finds a backlog in any partition with a transaction (a record and its marker) or more unread', () => {
    expect(isBehind([{ end: 120n, at: 119n, start: 0n }, { end: 40n, at: 38n, start: 0n }])).toBe(true);
  });

  it('counts from the start of a partition nothing has been read or committed in yet', () => {
    expect(isBehind([{ end: 7n, at: null, start: 6n }])).toBe(false);
    expect(isBehind([{ end: 7n, at: null, start: 0n }])).toBe(true);
    expect(isBehind([{ end: 0n, at: null, start: 0n }])).toBe(false);
  });

  it('finds none in no partitions', () => {
    expect(isBehind([])).toBe(false);
  });
});
