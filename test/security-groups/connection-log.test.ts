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
