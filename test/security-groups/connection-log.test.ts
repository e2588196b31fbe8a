/**
 * The log's split at a check window, taken in steps while records go on arriving (ConnectionLog.split):
 * a run sees every connection as it was when the split began, whatever comes between its steps.
 */
import { describe, expect, it } from 'vitest';
import { emptyFlowRecord, type FlowRecord } from '../../src/contract/records.ts';
import { Random } from '../../src/core/random.ts';
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

  it('finishes a split still being taken when another begins, which counts the rows that waited', () => {
    const log = new ConnectionLog(WINDOW);
    first(log);
    log.add(flow(T0 + 10 * MIN, 1, 1, 10));
    const earlier = log.split(WATERMARK);
    earlier.fill(1);
    more(log);
    const later = log.split(WATERMARK);
    expect(earlier.done).toBe(true);
    expect([...earlier.turned]).toEqual([]);
    later.fillAll();
    expect([...later.turned].sort((a, b) => a - b)).toEqual([0, 2, 3]);
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

/** Records of `ends` clients and servers over a few ports, at random epochs up to `upTo` (some late, some past it). */
function randomRecords(random: Random, count: number, from: number, upTo: number): FlowRecord[] {
  const out: FlowRecord[] = [];
  for (let k = 0; k < count; k++) {
    const f = flow(random.int(from, upTo + 2 * MIN), random.int(0, 40), random.int(0, 12), random.int(1, 5000));
    f.dstPort = [22, 443, 8080][random.int(0, 3)]!;
    out.push(f);
  }
  return out;
}

describe('connection log: the traffic kept from split to split', () => {
  // The same log without what earlier splits kept (a snapshot restored computes every row anew).
  const fresh = (log: ConnectionLog): ConnectionLog => ConnectionLog.restore(log.exportState());

  it('equals the split computed from scratch as windows roll and rows are forgotten', () => {
    const random = new Random(20_261_205);
    const log = new ConnectionLog(WINDOW, 1_000_000, 1);
    let watermark = T0 + 30 * MIN;
    let keptAtSameWindow = 0;
    // Watermarks that stay, move by an epoch, by a window, by two (a purge), and once go back.
    const moves = [0, 0, 4 * MIN, 15 * MIN, 0, 30 * MIN, 4 * MIN, -8 * MIN, 20 * MIN, 0, 45 * MIN, 1 * MIN, 0];
    for (const move of moves) {
      watermark += move;
      for (const f of randomRecords(random, move === 0 ? 15 : 400, watermark - 40 * MIN, watermark)) log.add(f);
      const split = log.split(watermark);
      split.fillAll();
      // At the same window only the rows the 15 records reached are renewed.
      if (move === 0 && split.columns.count > 0) {
        expect(split.renewed).toBeLessThanOrEqual(15);
        keptAtSameWindow += split.columns.count - split.renewed;
      }
      expect(plain(split.columns)).toEqual(plain(fresh(log).columns(watermark)));
    }
    // The test must reach what it claims: rows forgotten by purges, and rows kept rather than renewed.
    expect(log.counters.forgotten).toBeGreaterThan(100);
    expect(keptAtSameWindow).toBeGreaterThan(500);
  });

  it('renews only the rows a record reached since, at the same window', () => {
    const log = filled();
    const first = log.split(WATERMARK);
    first.fillAll();
    expect(first.renewed).toBe(10);
    log.add(flow(T0 + 57 * MIN, 3, 0, 11));
    log.add(flow(T0 + 2 * MIN, 8, 2, 11));
    const second = log.split(WATERMARK);
    second.fillAll();
    expect(second.renewed).toBe(2);
    expect(plain(second.columns)).toEqual(plain(fresh(log).columns(WATERMARK)));
    // A window later, the rows whose traffic reaches either window are renewed: here all of them.
    const later = log.split(WATERMARK + WINDOW);
    later.fillAll();
    expect(later.renewed).toBe(10);
    expect(plain(later.columns)).toEqual(plain(fresh(log).columns(WATERMARK + WINDOW)));
  });

  it('renews the rows a split dropped half-way left at an older window', () => {
    const log = filled();
    log.split(WATERMARK).fillAll();
    // Taken at a later window and abandoned after four rows: the other six still hold the first window's traffic.
    log.split(WATERMARK + WINDOW).fill(4);
    const split = log.split(WATERMARK + 2 * WINDOW);
    split.fillAll();
    expect(plain(split.columns)).toEqual(plain(fresh(log).columns(WATERMARK + 2 * WINDOW)));
    const back = log.split(WATERMARK);
    back.fillAll();
    expect(plain(back.columns)).toEqual(plain(fresh(log).columns(WATERMARK)));
  });

  it('equals the split from scratch when records reach rows between its steps', () => {
    const random = new Random(7);
    const log = new ConnectionLog(WINDOW, 1_000_000, 2);
    let watermark = T0 + 30 * MIN;
    for (let run = 0; run < 6; run++) {
      for (const f of randomRecords(random, 300, watermark - 30 * MIN, watermark)) log.add(f);
      const want = plain(fresh(log).columns(watermark));
      const split = log.split(watermark);
      while (!split.fill(7)) for (const f of randomRecords(random, 5, watermark - 40 * MIN, watermark + 10 * MIN)) log.add(f);
      expect(plain(split.columns)).toEqual(want);
      watermark += run % 2 === 0 ? 0 : 5 * MIN;
    }
  });
  it('tells how the compactions since a split renumbered rows, ends and addresses, across two of them', () => {
    const log = new ConnectionLog(WINDOW, 1_000_000, 1);
    // Rows 0-5: clients 0-5 to servers 0-2 (epochs of 3.75 minutes; rows forgotten after four silent epochs).
    for (let k = 0; k < 6; k++) log.add(flow(T0 + MIN, k, k % 3, 10));
    log.add(flow(T0 + 5 * MIN, 3, 0, 10));
    const before = log.columns(T0 + 6 * MIN);
    const name = (c: ConnectionColumns, r: number): string => `${c.endVm[c.client[r]!]}>${c.endVm[c.server[r]!]}@${c.ips[c.clientIp[r]!]}`;
    const names = Array.from({ length: before.count }, (_, r) => name(before, r));
    // Two compactions: client 0 (last seen at minute 1) forgotten at minute 20, client 3 (minute 5) and with
    // it server 0 at minute 23; then a new client.
    for (const k of [1, 2, 4, 5]) log.add(flow(T0 + 12 * MIN, k, k % 3, 10));
    log.add(flow(T0 + 20 * MIN, 1, 1, 10));
    expect(log.counters.forgotten).toBe(1);
    log.add(flow(T0 + 23 * MIN, 1, 1, 10));
    log.add(flow(T0 + 24 * MIN, 6, 1, 10));
    const after = log.columns(T0 + 24 * MIN);
    expect(log.counters.forgotten).toBe(2);
    const map = after.renumberedSince(before.endVm)!;
    expect(Array.from(map.rows)).toEqual([-1, 0, 1, -1, 2, 3]);
    for (let r = 0; r < before.count; r++) if (map.rows[r]! >= 0) expect(name(after, map.rows[r]!)).toBe(names[r]);
    // Ends and addresses: the forgotten ones gone, the others renumbered to the same VM and address.
    for (let e = 0; e < before.ends; e++) {
      const to = map.ends[e]!;
      if (['c0', 'c3', 's0'].includes(before.endVm[e]!)) expect(to).toBe(-1);
      else expect(after.endVm[to]).toBe(before.endVm[e]);
    }
    for (let a = 0; a < before.ipCount; a++) if (map.ips[a]! >= 0) expect(after.ips[map.ips[a]!]).toBe(before.ips[a]);
    expect(Array.from(map.ips).filter((a) => a < 0)).toHaveLength(3);
    // Not from columns it never compacted from, nor to an older table than its own.
    expect(after.renumberedSince(after.endVm)).toBeNull();
    expect(before.renumberedSince(after.endVm)).toBeNull();
  });
});
