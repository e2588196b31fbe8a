import { describe, expect, it } from 'vitest';
import { decodeRouteWatermark, encodeRouteWatermark, otherPartitions } from '../../src/topology/route-watermarks.ts';

describe('a router\'s record of <app>-route-watermarks', () => {
  it('round-trips a watermark and whether the partition was behind; no flow yet is null', () => {
    expect(decodeRouteWatermark(Buffer.from(encodeRouteWatermark(1_796_000_000_000, true)))).toEqual({ watermark: 1_796_000_000_000, behind: true });
    expect(decodeRouteWatermark(Buffer.from(encodeRouteWatermark(Number.NEGATIVE_INFINITY, null)))).toEqual({ watermark: null, behind: null });
  });

  it('is unreadable (null), not thrown, when not JSON or of another shape', () => {
    expect(decodeRouteWatermark(Buffer.from('{"watermark":'))).toBeNull();
    expect(decodeRouteWatermark(Buffer.from('{"watermark":"soon","behind":true}'))).toBeNull();
    expect(decodeRouteWatermark(Buffer.from('[1,true]'))).toBeNull();
  });
});

describe('otherPartitions', () => {
  it('names the flows partitions a member does not route, as the route keys them', () => {
    expect(otherPartitions('flows', 4, [1, 3])).toEqual(['flows:0', 'flows:2']);
    expect(otherPartitions('flows', 2, [0, 1])).toEqual([]);
    expect(otherPartitions('flows', 2, [])).toEqual(['flows:0', 'flows:1']);
  });
});
