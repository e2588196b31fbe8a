import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { MessageDecoder, type RecordKind, type RecordSink } from '../../src/contract/message-decoder.ts';
import { Random } from '../../src/core/random.ts';
import { decodeFleetState, encodeFleetState, encodeFleetStateInSlices, FleetCodecError } from '../../src/fleet/fleet-codec.ts';
import { FleetState } from '../../src/fleet/fleet-state.ts';
import { defaultTopics } from '../../src/contract/topics.ts';
import { takeRunInput } from '../../src/runs/run-input.ts';
import { readTraceChunks } from '../../src/trace/trace-reader.ts';
import { defaultWindowConfig, type WindowConfig } from '../../src/windows/window-config.ts';

const KINDS = new Map<string, RecordKind>([
  [defaultTopics.flows, 'flow'],
  [defaultTopics.vmAttributes, 'vm'],
  [defaultTopics.tenantAttributes, 'tenant'],
]);

async function traceLines(path: string): Promise<string[]> {
  const lines: string[] = [];
  for await (const c of readTraceChunks(path)) for (const l of c.lines) if (l) lines.push(l);
  return lines;
}

/** Applies trace lines to every fleet given, record by record (the same decoded record to each). */
function ingest(lines: string[], fleets: FleetState[]): void {
  const decoder = new MessageDecoder();
  const sink: RecordSink = {
    flow: (f) => {
      for (const fleet of fleets) fleet.applyFlow(f);
    },
    vmAttributes: (a) => {
      for (const fleet of fleets) fleet.applyVmAttributes(a);
    },
    tenantAttributes: (t) => {
      for (const fleet of fleets) fleet.applyTenantAttributes(t);
    },
    reject: () => {},
  };
  for (const line of lines) {
    let parsed: { topic?: string; value?: unknown };
    try {
      parsed = JSON.parse(line) as { topic?: string; value?: unknown };
    } catch {
      continue;
    }
    const kind = KINDS.get(String(parsed.topic));
    if (kind !== undefined && parsed.value !== undefined) decoder.decodeValue(kind, parsed.value, sink);
  }
}

const bytesOf = (a: Float64Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** The same bytes with the CRC recomputed: damage that only the structural checks can catch. */
function reframed(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  if (bytes.length >= 4) new DataView(out.buffer).setUint32(bytes.length - 4, crc32(out.subarray(0, bytes.length - 4)), true);
  return out;
}

function expectCodecError(fn: () => unknown): FleetCodecError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FleetCodecError);
    return err as FleetCodecError;
  }
  throw new Error('expected a FleetCodecError');
}

describe('fleet codec', async () => {
  const lines = await traceLines('fixtures/small.jsonl.gz');
  // Small caps and idle time, so that sketches, refused pairs and expired VMs are all in the state.
  const tight: WindowConfig = { ...defaultWindowConfig, maxPeersPerVm: 8, maxVmPairs: 400, idleMs: defaultWindowConfig.windowMs };

  for (const [name, config] of [
    ['default', defaultWindowConfig],
    ['tight caps', tight],
  ] as const) {
    it(`decodes to a state that goes on exactly like the original (${name} configuration)`, () => {
      const cut = Math.floor(lines.length * 0.6);
      const original = new FleetState(config);
      ingest(lines.slice(0, cut), [original]);
      const bytes = encodeFleetState(original);
      const decoded = decodeFleetState(bytes, config);
      expect(Buffer.from(encodeFleetState(decoded)).equals(Buffer.from(bytes))).toBe(true);
      ingest(lines.slice(cut), [original, decoded]);
      const a = takeRunInput(original);
      const b = takeRunInput(decoded);
      expect(b.vmIds).toEqual(a.vmIds);
      expect(bytesOf(b.vmFeatures.data).equals(bytesOf(a.vmFeatures.data))).toBe(true);
      expect(b.vmTenants).toEqual(a.vmTenants);
      expect(b.vmPairs).toEqual(a.vmPairs);
      expect(b.tenants).toEqual(a.tenants);
      expect(decoded.counters).toEqual(original.counters);
      expect(decoded.watermark).toBe(original.watermark);
      // The whole state, sketches, tables and tombstones included, encodes to the same bytes.
      expect(Buffer.from(encodeFleetState(decoded)).equals(Buffer.from(encodeFleetState(original)))).toBe(true);
      if (config === tight) {
        expect(original.counters.peerSetsSketched).toBeGreaterThan(0);
        expect(original.counters.vmPairsRefused).toBeGreaterThan(0);
      }
    });
  }

  it("keeps the hosts' announced capacities, and still decodes version 1 files, which have none", () => {
    const original = new FleetState(defaultWindowConfig);
    ingest(lines.slice(0, 500), [original]);
    const plain = encodeFleetState(original);
    original.applyHostAttributes({ ts: 2000, hostId: 'cmp-b', vcpus: 64, memoryMb: 262144, labels: { rack: 'r7', zone: 'az1' } });
    original.applyHostAttributes({ ts: 1000, hostId: 'cmp-a', vcpus: 32, memoryMb: 131072 });
    const decoded = decodeFleetState(encodeFleetState(original), defaultWindowConfig);
    expect([...decoded.hostCapacity].sort()).toEqual([
      ['cmp-a', { vcpus: 32, memoryMb: 131072, ts: 1000 }],
      ['cmp-b', { vcpus: 64, memoryMb: 262144, ts: 2000, labels: { rack: 'r7', zone: 'az1' } }],
    ]);
    // What the placement advice of a run after a restore reads: the labels carry its tiers.
    expect(takeRunInput(decoded).placement?.hostCapacity).toEqual([
      ['cmp-a', { vcpus: 32, memoryMb: 131072 }],
      ['cmp-b', { vcpus: 64, memoryMb: 262144, labels: { rack: 'r7', zone: 'az1' } }],
    ]);
    // A version 1 file is a version 2 file without the host section (here an empty one: a count of 0).
    const v1 = new Uint8Array(plain.length - 4);
    v1.set(plain.subarray(0, plain.length - 8));
    v1[4] = 1;
    const old = decodeFleetState(reframed(v1), defaultWindowConfig);
    expect(old.hostCapacity.size).toBe(0);
    expect(Buffer.from(encodeFleetState(old)).equals(Buffer.from(plain))).toBe(true);
    // Without hosts a version 2 file differs from a version 3 one only by its version number.
    const v2 = Uint8Array.from(plain);
    v2[4] = 2;
    expect(Buffer.from(encodeFleetState(decodeFleetState(reframed(v2), defaultWindowConfig))).equals(Buffer.from(plain))).toBe(true);
  });

  it('encodes to the same bytes in slices, yielding to the event loop between them', async () => {
    const fleet = new FleetState(defaultWindowConfig);
    ingest(lines, [fleet]);
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    const sliced = await encodeFleetStateInSlices(fleet, 50);
    clearInterval(ticker);
    expect(Buffer.from(sliced).equals(Buffer.from(encodeFleetState(fleet)))).toBe(true);
    // 485 VMs in slices of 50: the loop ran in between (timers had turns).
    expect(fleet.vms.size).toBe(485);
    expect(turns).toBeGreaterThan(0);
  });

  it('encodes a consistent state in slices while reads between the slices purge the distinct sets', async () => {
    const cut = Math.floor(lines.length * 0.6);
    const original = new FleetState(defaultWindowConfig);
    ingest(lines.slice(0, cut), [original]);
    // Reads (a clustering run's input, GET /v1/vms) purge expired keys: let them happen between slices.
    let reads = 0;
    let reading = true;
    const reader = (): void => {
      if (!reading) return;
      takeRunInput(original);
      reads++;
      setImmediate(reader);
    };
    setImmediate(reader);
    const bytes = await encodeFleetStateInSlices(original, 25);
    reading = false;
    expect(reads).toBeGreaterThan(1);
    const decoded = decodeFleetState(bytes, defaultWindowConfig);
    ingest(lines.slice(cut), [original, decoded]);
    const a = takeRunInput(original);
    const b = takeRunInput(decoded);
    expect(b.vmIds).toEqual(a.vmIds);
    expect(bytesOf(b.vmFeatures.data).equals(bytesOf(a.vmFeatures.data))).toBe(true);
  });

  // A few sketches only: each is 16 KB of registers, and every damaged copy is decoded whole.
  const damageable: WindowConfig = { ...tight, maxPeersPerVm: 48 };
  const fleet = new FleetState(damageable);
  ingest(lines.slice(0, 250), [fleet]);
  const bytes = encodeFleetState(fleet);
  it('has sketches and refused pairs in the state to damage', () => {
    expect(fleet.counters.peerSetsSketched).toBeGreaterThan(0);
    expect(fleet.counters.vmPairsRefused).toBeGreaterThan(0);
    expect(bytes.length).toBeLessThan(1_000_000);
  });

  it('refuses other data, other versions and other window shapes with a typed error', () => {
    expect(expectCodecError(() => decodeFleetState(new TextEncoder().encode('{"not":"a fleet"}'), damageable)).code).toBe('bad_magic');
    for (const version of [0, 4]) {
      const other = reframed(bytes);
      other[4] = version;
      expect(expectCodecError(() => decodeFleetState(reframed(other), damageable)).code).toBe('unsupported_version');
    }
    expect(expectCodecError(() => decodeFleetState(bytes, { ...damageable, windowMs: 30 * 60_000 })).code).toBe('config_mismatch');
    // The count of strings (after the header, window shape, watermark and counters) made huge.
    const huge = bytes.slice();
    new DataView(huge.buffer).setUint32(62 + 17 * 8, 0xfffffff0, true);
    expect(expectCodecError(() => decodeFleetState(reframed(huge), damageable)).code).toBe('truncated');
    const flipped = bytes.slice();
    flipped[bytes.length >> 1]! ^= 0x10;
    expect(expectCodecError(() => decodeFleetState(flipped, damageable)).code).toBe('checksum');
  });

  it('throws a FleetCodecError for every truncation, even with a valid checksum', () => {
    const cuts = [...Array.from({ length: 64 }, (_, i) => i), ...Array.from({ length: 100 }, (_, i) => 64 + Math.floor(((bytes.length - 64) * i) / 100))];
    for (const len of cuts) {
      const e = expectCodecError(() => decodeFleetState(reframed(bytes.subarray(0, len)), damageable));
      expect(['truncated', 'bad_magic', 'corrupt']).toContain(e.code);
    }
  });

  it('never fails with anything but a FleetCodecError on damaged bytes with a valid checksum', () => {
    const rng = new Random(99);
    for (let trial = 0; trial < 200; trial++) {
      const damaged = bytes.slice();
      for (let k = 0; k < 3; k++) damaged[rng.int(12, bytes.length - 5)] = rng.int(0, 255);
      try {
        decodeFleetState(reframed(damaged), damageable);
      } catch (err) {
        // Damage to counters or registers is undetectable without the checksum; the rest must be caught.
        expect(err).toBeInstanceOf(FleetCodecError);
      }
    }
  });
});
