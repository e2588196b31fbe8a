/**
 * The log's split at a check window, taken in steps while records go on arriving (ConnectionLog.split):
 * a run sees every connection as it was when the split began, whatever comes between its steps.
 */
import { describe, expect, it } from 'vitest';
import { emptyFlowRecord, type FlowRecord } from '../../src/contract/records.ts';
import { type ConnectionColumns, ConnectionLog } from '../../src/security-groups/connection-log.ts';

const T0 = Date.UTC(2026, 10, 1);
const MIN = 60_000;
const WINDOW = 15 * MIN;
const WATERMARK = T0 + 60 * MIN - 1;

function flow(ts: number, client: number, server: number, bytes: number): FlowRecord {
  const f = emptyFlowRecord();
  f.ts = ts;
  f.srcVm = `c${client}`;
  f.dstVm = `s${server}`;
  f.srcIp = `10.1.0.${client}`;
  f.dstIp = `10.2.0.${server}`;
  f.srcPort = 40_000 + client;
  f.dstPort = 443;
  f.protocol = 6;
  f.bytes = bytes;
  f.packets = 1;
  return f;
}

/** Ten connections with traffic before and in the check window (the window ending at WATERMARK). */
function filled(retainWindows = 4): ConnectionLog {
  const log = new ConnectionLog(WINDOW, 1_000_000, retainWindows);
  for (let k = 0; k < 10; k++) {
    log.add(flow(T0 + 10 * MIN, k, k % 3, 100 + k));
    log.add(flow(T0 + 40 * MIN + k * MIN, k, k % 3, 1000 + k));
    log.add(flow(T0 + 58 * MIN, k, k % 3, 7));
  }
  return log;
}

const plain = (c: ConnectionColumns): unknown => ({
  count: c.count,
  client: [...c.client],
  server: [...c.server],
  port: [...c.port],
  earlierFlows: [...c.earlierFlows],
  earlierBytes: [...c.earlierBytes],
  latestFlows: [...c.latestFlows],
  latestBytes: [...c.latestBytes],
  ends: c.ends,
});

describe('connection log: the split at a check window in steps', () => {
  const want = plain(filled().columns(WATERMARK));

  it('is the split at once, also when records change rows on both sides of the step between', () => {
    const log = filled();
    const split = log.split(WATERMARK);
    expect(split.fill(4)).toBe(false);
    // Rows 2 (filled) and 7 (not yet): a late record, one in the window, and two epochs past the watermark
    // that push the window's first epochs out of the ring.
    for (const k of [2, 7]) {
      log.add(flow(T0 + 5 * MIN, k, k % 3, 1));
      log.add(flow(T0 + 50 * MIN, k, k % 3, 1));
      log.add(flow(T0 + 75 * MIN, k, k % 3, 1));
    }
    // A new connection: after the split's rows, not seen.
    log.add(flow(T0 + 59 * MIN, 20, 1, 5));
    expect(split.fill(100)).toBe(true);
    expect(plain(split.columns)).toEqual(want);
    // The log itself has moved on.
    expect(plain(log.columns(WATERMARK))).not.toEqual(want);
  });

  it('is finished before a purge moves the rows, and keeps the rows it began with', () => {
    // Kept one window: a record two windows on forgets all ten connections, then adds one anew.
    const log = filled(1);
    const forgotten = log.counters.forgotten;
    const split = log.split(WATERMARK);
    split.fill(3);
    log.add(flow(WATERMARK + 2 * WINDOW, 4, 1, 9));
    expect(log.size).toBe(1);
    expect(log.counters.forgotten).toBe(forgotten + 10);
    expect(split.done).toBe(true);
    expect(plain(split.columns)).toEqual(plain(filled(1).columns(WATERMARK)));
  });
});

/** A record between two ports both above the ephemeral boundary: the records cannot tell which end serves. */
function interconnect(ts: number, a: string, aPort: number, b: string, bPort: number): FlowRecord {
  const f = emptyFlowRecord();
  f.ts = ts;
  f.srcVm = a;
  f.dstVm = b;
  f.srcIp = `10.3.0.${a.charCodeAt(1)}`;
  f.dstIp = `10.3.0.${b.charCodeAt(1)}`;
  f.srcPort = aPort;
  f.dstPort = bPort;
  f.protocol = 6;
  f.bytes = 100;
  f.packets = 1;
  return f;
}

describe('connection log: which end serves, counted as rows arrive', () => {
  // vA:50001 meets vS:50000 (a tie: the lower port, 50000, serves); then vC:50003 and vD:50004 also meet
  // vA:50001, which then meets three peers to one for each of theirs and serves. The log holds vA, first
  // in the fixed order of ends, as the client of all three rows: each turns round.
  const first = (log: ConnectionLog): void => {
    log.add(interconnect(T0 + 10 * MIN, 'vA', 50_001, 'vS', 50_000));
  };
  const more = (log: ConnectionLog, ts = T0 + 20 * MIN): void => {
    log.add(interconnect(ts, 'vC', 50_003, 'vA', 50_001));
    log.add(interconnect(ts, 'vD', 50_004, 'vA', 50_001));
  };
  const turnedAt = (log: ConnectionLog): number[] => {
    const split = log.split(WATERMARK);
    split.fillAll();
    return [...split.turned].sort((a, b) => a - b);
  };

  it('turns a row round when its other end meets more peers', () => {
    const log = new ConnectionLog(WINDOW);
    first(log);
    expect(turnedAt(log)).toEqual([]);
    more(log);
    expect(turnedAt(log)).toEqual([0, 1, 2]);
  });

  it('decides a split by the rows it began with, whatever arrives between its steps', () => {
    const log = new ConnectionLog(WINDOW);
    first(log);
    log.add(flow(T0 + 10 * MIN, 1, 1, 10));
    const split = log.split(WATERMARK);
    expect(split.fill(1)).toBe(false);
    more(log);
    expect(split.fill(10)).toBe(true);
    expect([...split.turned]).toEqual([]);
    // The links that waited count from the next split on (row 1 is the connection to port 443).
    expect(turnedAt(log)).toEqual([0, 2, 3]);
  });

  it('counts the degrees again over the rows a purge keeps', () => {
    // Kept one window: a purge two windows on forgets vC's and vD's links, and vA's row with vS turns back.
    const log = new ConnectionLog(WINDOW, 1_000_000, 1);
    more(log, T0 + 10 * MIN);
    first(log);
    expect(turnedAt(log)).toEqual([0, 1, 2]);
    log.add(interconnect(T0 + 45 * MIN, 'vA', 50_001, 'vS', 50_000));
    expect(log.size).toBe(1);
    expect(turnedAt(log)).toEqual([]);
  });
});
