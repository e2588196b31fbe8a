/**
 * An exact, versioned binary encoding of the whole fleet state, the base of crash-safe snapshots: a state
 * decoded from its bytes and fed the same records as the original gives the same features, bit for bit.
 *
 * Layout (little-endian): magic "ACFS", u16 version, u16 reserved, then the body, then a CRC-32 of
 * everything before it. The body holds the window's shape (checked against the configuration on
 * decoding), the watermark and counters, a table of every string (VM ids, tenant ids, attribute values,
 * peers outside the overlay), then VMs (attributes by string index, ring counters with a bitmap of the
 * non-zero columns per bucket, occupied slots of the distinct-set tables with their slot index, sketches as
 * raw registers), tombstones, tenants, the occupied slots of the pair table and (from version 2) the hosts'
 * announced capacities (from version 3 with their labels: racks and zones of tiered placement costs).
 * Version 1 files still decode (with no host capacities), version 2 files with hosts without labels. Typed arrays keep their
 * layout (slot indexes are written), so that a decoded table probes exactly like the original.
 *
 * Decoding trusts nothing: every read is bounds-checked, every count is checked against the bytes left
 * before anything is allocated, and any inconsistency is a FleetCodecError, never a crash elsewhere.
 */
import { crc32 } from 'node:zlib';
import type { TenantAttributes, VmAttributes } from '../contract/records.ts';
import { ByteReader, ByteWriter } from '../core/bytes.ts';
import { ServiceError } from '../errors/catalogue.ts';
import { MAX_VNI, type VmState } from '../contract/schemas.ts';
import { STAT_COUNT } from '../traffic/vm-stats.ts';
import type { DistinctSetsState } from '../windows/distinct-sets.ts';
import { PAIR_EMPTY, PAIR_STRIDE, type PairTrafficState } from '../windows/pair-traffic.ts';
import { HLL_MAX_RANK, HLL_REGISTERS } from '../windows/windowed-hll.ts';
import { type WindowConfig, windowBuckets } from '../windows/window-config.ts';
import { type FleetCounters, FleetState, type FleetStateData, type HostCapacity, type VmData } from './fleet-state.ts';

const FLEET_CODEC_MAGIC = 0x53464341; // "ACFS" read as a little-endian u32
const FLEET_CODEC_VERSION = 3;
/** The oldest version this build still reads: version 1 lacks only the host capacities. */
const OLDEST_VERSION = 1;

export type FleetCodecErrorCode = 'bad_magic' | 'unsupported_version' | 'checksum' | 'truncated' | 'config_mismatch' | 'corrupt';

export class FleetCodecError extends ServiceError {
  constructor(
    readonly code: FleetCodecErrorCode,
    message: string,
  ) {
    super('fleet_codec_invalid', `fleet state ${code}: ${message}`);
    this.name = 'FleetCodecError';
  }
}

/**
 * Counters in the order they are written. New ones are only ever appended: a file written before them
 * holds a prefix of this list and decodes with the rest at 0; any other change is a new version.
 */
const COUNTERS: readonly (keyof FleetCounters)[] = [
  'flowsApplied',
  'flowsForDeletedVms',
  'vmAttributesApplied',
  'vmAttributesStale',
  'vmAttributesExpired',
  'tenantAttributesApplied',
  'tenantAttributesStale',
  'vmsDeleted',
  'vmsExpired',
  'deletedForgotten',
  'vmsRefused',
  'flowsRefused',
  'vmPairsRefused',
  'peerSetsSketched',
  // Appended after the first release of version 1.
  'tenantsRefused',
  'tenantLabelsRefused',
  'deletedEvicted',
];
/** Counters in the first files of version 1. */
const FIRST_COUNTERS = 14;
const VM_STATES: readonly VmState[] = ['active', 'stopped', 'deleted'];
/** Flag on an attributes record's state byte: a VNI (u32) follows it. */
const HAS_VNI = 0x80;
const NO_STRING = 0xffffffff;
const SETS = 4;

/** Reads of this format past the end of its bytes. */
const truncated = (message: string): FleetCodecError => new FleetCodecError('truncated', message);

function corrupt(message: string): never {
  throw new FleetCodecError('corrupt', message);
}

/** Strings written once, referred to by index. */
class StringTable {
  readonly list: string[] = [];
  private readonly index = new Map<string, number>();

  ref(s: string | null): number {
    if (s === null) return NO_STRING;
    let i = this.index.get(s);
    if (i === undefined) {
      i = this.list.length;
      this.list.push(s);
      this.index.set(s, i);
    }
    return i;
  }
}

function isNonNegativeInteger(v: number): boolean {
  return Number.isInteger(v) && v >= 0;
}

// ---------------------------------------------------------------- encoding

/** The fleet state as bytes (see the layout above), in one go. */
export function encodeFleetState(fleet: FleetState): Uint8Array {
  const steps = encodeSteps(fleet, Number.POSITIVE_INFINITY);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * The same bytes, yielding to the event loop every `vmsPerSlice` VMs, so that a large fleet's encoding does
 * not hold requests up for its whole length. The caller keeps the state unchanged until it resolves (the
 * service applies no batch meanwhile).
 */
export async function encodeFleetStateInSlices(fleet: FleetState, vmsPerSlice = 2000): Promise<Uint8Array> {
  const steps = encodeSteps(fleet, vmsPerSlice);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Average encoded bytes per VM on the fixtures (about 3.3 KB), to size the body writer once. */
const BYTES_PER_VM_ESTIMATE = 4096;

function* encodeSteps(fleet: FleetState, vmsPerSlice: number): Generator<void, Uint8Array> {
  const entries = [...fleet.vms.values()];
  const strings = new StringTable();
  // The body is written first (collecting strings), then framed with the string table in front of it.
  const body = new ByteWriter(entries.length * BYTES_PER_VM_ESTIMATE + (1 << 16));
  body.u32(entries.length);
  let sinceYield = 0;
  for (const e of entries) {
    // Exported as it is written: a read between slices may have purged its sets (see FleetState.exportVm).
    writeVm(body, fleet.exportVm(e), strings);
    if (++sinceYield >= vmsPerSlice) {
      sinceYield = 0;
      yield;
    }
  }
  // The rest is read after the VMs; between slices only reads happen (no batch is applied meanwhile).
  const data = fleet.exportAllButVms();
  body.u32(data.deleted.length);
  for (const [id, at] of data.deleted) {
    body.u32(strings.ref(id));
    body.f64(at);
  }
  body.u32(data.deletedSerials.length);
  for (const [id, serial] of data.deletedSerials) {
    body.u32(strings.ref(id));
    body.f64(serial);
  }
  body.u32(data.tenants.length);
  for (const t of data.tenants) writeTenant(body, t, strings);
  writePairs(body, data.pairs);
  const hosts = data.hostCapacity ?? [];
  body.u32(hosts.length);
  for (const [id, c] of hosts) {
    body.u32(strings.ref(id));
    body.f64(c.vcpus);
    body.f64(c.memoryMb);
    body.f64(c.ts);
    writeLabels(body, c.labels ?? null, strings);
  }

  const w = new ByteWriter();
  w.u32(FLEET_CODEC_MAGIC);
  w.u16(FLEET_CODEC_VERSION);
  w.u16(0);
  const c = fleet.config;
  w.f64(c.windowMs);
  w.f64(c.bucketMs);
  w.u16(STAT_COUNT);
  w.u16(HLL_REGISTERS);
  w.f64(data.watermark);
  w.f64(data.nextSerial);
  w.f64(data.sweptBucket);
  w.f64(data.sweptAt);
  w.u16(COUNTERS.length);
  for (const k of COUNTERS) w.f64(data.counters[k]);
  w.u32(strings.list.length);
  for (const str of strings.list) w.utf8(str);
  // One copy of the body into the result, and the checksum over both parts.
  const head = w.written();
  const bodyBytes = body.written();
  const out = new Uint8Array(head.length + bodyBytes.length + 4);
  out.set(head, 0);
  out.set(bodyBytes, head.length);
  new DataView(out.buffer).setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)), true);
  return out;
}

function writeVm(w: ByteWriter, v: VmData, strings: StringTable): void {
  w.u32(strings.ref(v.vmId));
  w.f64(v.serial);
  w.f64(v.lastSeen);
  w.f64(v.bornAfterSweep);
  if (v.attributes === null) w.u8(0);
  else {
    w.u8(1);
    writeVmAttributes(w, v.attributes, strings);
  }
  writeRing(w, v.ring);
  writeDistinct(w, v.distinct, strings);
}

/** Nullable numbers: a presence byte each would cost more than the bitmap. */
function writeNullableNumbers(w: ByteWriter, values: (number | null)[]): void {
  let mask = 0;
  values.forEach((v, i) => {
    if (v !== null) mask |= 1 << i;
  });
  w.u8(mask);
  for (const v of values) if (v !== null) w.f64(v);
}

function writeLabels(w: ByteWriter, labels: Record<string, string> | null, strings: StringTable): void {
  if (labels === null) {
    w.u32(NO_STRING);
    return;
  }
  const entries = Object.entries(labels);
  w.u32(entries.length);
  for (const [k, v] of entries) {
    w.u32(strings.ref(k));
    w.u32(strings.ref(v));
  }
}

function writeVmAttributes(w: ByteWriter, a: VmAttributes, strings: StringTable): void {
  w.f64(a.ts);
  for (const s of [a.vmId, a.tenantId, a.vpcId, a.subnetId, a.ip, a.image, a.hostId]) w.u32(strings.ref(s));
  writeNullableNumbers(w, [a.vcpus, a.memoryMb, a.cpuUtil]);
  // The VNI rides on the state byte's top bit: files without it (every earlier one) read back as null.
  w.u8(VM_STATES.indexOf(a.state) | (a.vni === null ? 0 : HAS_VNI));
  if (a.vni !== null) w.u32(a.vni);
  writeLabels(w, a.labels, strings);
}

function writeTenant(w: ByteWriter, t: TenantAttributes, strings: StringTable): void {
  w.f64(t.ts);
  for (const s of [t.tenantId, t.name, t.tier]) w.u32(strings.ref(s));
  w.u8(t.deleted ? 1 : 0);
  writeLabels(w, t.labels, strings);
}

/**
 * Slot buckets, then per slot in use a bitmap of its non-zero counters and those counters. (Counters are
 * sums of non-negative values from +0, so there is no -0 to lose.)
 */
function writeRing(w: ByteWriter, ring: Float64Array): void {
  const slots = ring.length / (1 + STAT_COUNT);
  for (let s = 0; s < slots; s++) w.f64(ring[s]!);
  for (let s = 0; s < slots; s++) {
    if (ring[s]! < 0) continue;
    const row = slots + s * STAT_COUNT;
    let lo = 0;
    let hi = 0;
    for (let j = 0; j < STAT_COUNT; j++) {
      if (ring[row + j] === 0) continue;
      if (j < 32) lo |= 1 << j;
      else hi |= 1 << (j - 32);
    }
    w.u32(lo >>> 0);
    w.u32(hi >>> 0);
    for (let j = 0; j < STAT_COUNT; j++) if (((j < 32 ? lo >>> j : hi >>> (j - 32)) & 1) === 1) w.f64(ring[row + j]!);
  }
}

function writeDistinct(w: ByteWriter, d: DistinctSetsState, strings: StringTable): void {
  const slots = d.table.length >> 1;
  w.u32(slots);
  w.u32(d.used);
  w.f64(d.overflow);
  for (let set = 0; set < SETS; set++) {
    w.u32(d.sizes[set]!);
    w.f64(d.overflowBuckets[set]!);
  }
  for (let i = 0; i < slots; i++) {
    if (d.table[2 * i] === -1) continue;
    w.u32(i);
    w.f64(d.table[2 * i]!);
    w.f64(d.table[2 * i + 1]!);
  }
  for (let set = 0; set < SETS; set++) {
    const m = d.strings[set];
    if (m === null || m === undefined) {
      w.u32(NO_STRING);
      continue;
    }
    w.u32(m.length);
    for (const [k, b] of m) {
      w.u32(strings.ref(k));
      w.f64(b);
    }
  }
  for (let set = 0; set < SETS; set++) {
    const k = d.sketches[set];
    if (!k) {
      w.u8(0);
      continue;
    }
    w.u8(1);
    for (const b of k.slotBuckets) w.f64(b);
    w.bytes(k.registers);
  }
}

function writePairs(w: ByteWriter, p: PairTrafficState): void {
  const slots = p.table.length / PAIR_STRIDE;
  w.u32(slots);
  w.u32(p.used);
  w.f64(p.overflow);
  for (let i = 0; i < slots; i++) {
    const o = i * PAIR_STRIDE;
    if (p.table[o] === PAIR_EMPTY) continue;
    w.u32(i);
    for (let j = 0; j < PAIR_STRIDE; j++) w.f64(p.table[o + j]!);
  }
}

// ---------------------------------------------------------------- decoding

/**
 * A fleet state from bytes made by encodeFleetState, for this window configuration (window and bucket
 * length must match the encoded ones; caps and lateness come from `config`). Throws FleetCodecError.
 */
export function decodeFleetState(bytes: Uint8Array, config: WindowConfig): FleetState {
  if (bytes.length < 12) throw new FleetCodecError('truncated', `${bytes.length} bytes cannot hold a fleet state`);
  const head = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (head.getUint32(0, true) !== FLEET_CODEC_MAGIC) throw new FleetCodecError('bad_magic', 'not a fleet state (bad magic number)');
  const version = head.getUint16(4, true);
  if (version < OLDEST_VERSION || version > FLEET_CODEC_VERSION)
    throw new FleetCodecError('unsupported_version', `version ${version}; this build reads versions ${OLDEST_VERSION} to ${FLEET_CODEC_VERSION}`);
  const framed = bytes.subarray(0, bytes.length - 4);
  if (head.getUint32(bytes.length - 4, true) !== crc32(framed))
    throw new FleetCodecError('checksum', 'CRC-32 mismatch: the bytes were damaged or cut short');
  const r = new ByteReader(framed, truncated);
  r.offset = 8;
  const windowMs = r.f64('window length');
  const bucketMs = r.f64('bucket length');
  const width = r.u16('counter width');
  const registers = r.u16('sketch registers');
  if (windowMs !== config.windowMs || bucketMs !== config.bucketMs)
    throw new FleetCodecError(
      'config_mismatch',
      `encoded with a ${windowMs / 60_000}-minute window of ${bucketMs / 1000}-second buckets; configured: ${config.windowMs / 60_000} minutes of ${config.bucketMs / 1000} s`,
    );
  if (width !== STAT_COUNT || registers !== HLL_REGISTERS)
    throw new FleetCodecError('config_mismatch', `encoded with ${width} counters and ${registers}-register sketches; this build has ${STAT_COUNT} and ${HLL_REGISTERS}`);
  const slots = windowBuckets(config) + 1;
  const watermark = r.f64('watermark');
  const nextSerial = r.f64('next serial');
  const sweptBucket = r.f64('swept bucket');
  const sweptAt = r.f64('swept at');
  if (!isNonNegativeInteger(nextSerial)) corrupt('next serial is not a non-negative integer');
  const nCounters = r.u16('counters');
  if (nCounters < FIRST_COUNTERS || nCounters > COUNTERS.length)
    corrupt(`${nCounters} counters; version ${FLEET_CODEC_VERSION} has ${FIRST_COUNTERS} to ${COUNTERS.length} (a newer build wrote it?)`);
  const counters = {} as FleetCounters;
  COUNTERS.forEach((k, i) => {
    counters[k] = i < nCounters ? r.f64(k) : 0;
  });

  const decoder = new TextDecoder('utf-8', { fatal: true });
  const nStrings = r.count(4, 'strings');
  const strings: string[] = new Array<string>(nStrings);
  for (let i = 0; i < nStrings; i++) {
    const len = r.u32('string length');
    try {
      strings[i] = decoder.decode(r.bytes(len, 'string'));
    } catch (err) {
      if (err instanceof FleetCodecError) throw err;
      corrupt(`string ${i} is not UTF-8`);
    }
  }
  const str = (what: string): string => {
    const i = r.u32(what);
    if (i >= nStrings) corrupt(`${what}: string index ${i} out of ${nStrings}`);
    return strings[i]!;
  };
  const optStr = (what: string): string | null => {
    const i = r.u32(what);
    if (i === NO_STRING) return null;
    if (i >= nStrings) corrupt(`${what}: string index ${i} out of ${nStrings}`);
    return strings[i]!;
  };

  const nVms = r.count(8 * 3 + 5, 'VMs');
  const vms: VmData[] = [];
  // Rings are views into blocks of RINGS_PER_BLOCK: a few allocations instead of one per VM (100k rings of
  // 6.5 KB each made decoding mostly garbage collection), and never more than the VMs actually read.
  const ringLength = slots * (1 + STAT_COUNT);
  let block = new Float64Array(0);
  for (let i = 0; i < nVms; i++) {
    const at = i % RINGS_PER_BLOCK;
    if (at === 0) block = new Float64Array(Math.min(RINGS_PER_BLOCK, nVms - i) * ringLength);
    vms.push(readVm(r, slots, str, optStr, block.subarray(at * ringLength, (at + 1) * ringLength)));
  }
  const nDeleted = r.count(12, 'tombstones');
  const deleted: Array<[string, number]> = [];
  for (let i = 0; i < nDeleted; i++) deleted.push([str('tombstone id'), r.f64('deleted at')]);
  const nDeletedSerials = r.count(12, 'deleted serials');
  const deletedSerials: Array<[string, number]> = [];
  for (let i = 0; i < nDeletedSerials; i++) {
    const id = str('deleted VM id');
    const serial = r.f64('deleted serial');
    if (!isNonNegativeInteger(serial) || serial >= nextSerial) corrupt(`deleted VM ${id} has a bad serial`);
    deletedSerials.push([id, serial]);
  }
  const nTenants = r.count(8 + 12 + 5, 'tenants');
  const tenants: TenantAttributes[] = [];
  for (let i = 0; i < nTenants; i++) tenants.push(readTenant(r, str, optStr));
  const pairs = readPairs(r);
  const hostCapacity: Array<[string, HostCapacity]> = [];
  if (version >= 2) {
    const nHosts = r.count(4 + 3 * 8, 'hosts');
    for (let i = 0; i < nHosts; i++) {
      const id = str('host id');
      const c = { vcpus: r.f64('host vCPUs'), memoryMb: r.f64('host memory'), ts: r.f64('host ts') };
      if (!(c.vcpus >= 0 && c.memoryMb >= 0 && Number.isFinite(c.vcpus) && Number.isFinite(c.memoryMb) && Number.isFinite(c.ts))) corrupt(`host ${id} has a bad capacity`);
      const labels = version >= 3 ? readLabels(r, str) : null;
      hostCapacity.push([id, labels === null ? c : { ...c, labels }]);
    }
  }
  if (r.left !== 0) corrupt(`${r.left} bytes after the end of the state`);

  const data: FleetStateData = { watermark, nextSerial, sweptBucket, sweptAt, counters, vms, deleted, deletedSerials, tenants, pairs, hostCapacity };
  try {
    return new FleetState(config, data);
  } catch (err) {
    if (err instanceof RangeError) corrupt(err.message);
    throw err;
  }
}

type StrReader = (what: string) => string;
type OptStrReader = (what: string) => string | null;

function readVm(r: ByteReader, slots: number, str: StrReader, optStr: OptStrReader, ring: Float64Array): VmData {
  const vmId = str('VM id');
  const serial = r.f64('serial');
  const lastSeen = r.f64('last seen');
  const bornAfterSweep = r.f64('born after sweep');
  const hasAttributes = r.u8('attributes flag');
  if (hasAttributes > 1) corrupt(`VM ${vmId}: bad attributes flag`);
  const attributes = hasAttributes === 1 ? readVmAttributes(r, str, optStr) : null;
  readRing(r, slots, ring);
  const distinct = readDistinct(r, slots, optStr);
  return { vmId, serial, lastSeen, bornAfterSweep, attributes, ring, distinct };
}

function readNullableNumbers(r: ByteReader, n: number): (number | null)[] {
  const mask = r.u8('number presence');
  if (mask >>> n !== 0) corrupt('bad number presence bitmap');
  return Array.from({ length: n }, (_, i) => ((mask >>> i) & 1 ? r.f64('number') : null));
}

function readLabels(r: ByteReader, str: StrReader): Record<string, string> | null {
  const n = r.u32('labels');
  if (n === NO_STRING) return null;
  if (n * 8 > r.left) throw new FleetCodecError('truncated', `${n} labels cannot fit in the ${r.left} bytes left`);
  const labels: Record<string, string> = {};
  for (let i = 0; i < n; i++) {
    const k = str('label key');
    labels[k] = str('label value');
  }
  return labels;
}

function readVmAttributes(r: ByteReader, str: StrReader, optStr: OptStrReader): VmAttributes {
  const ts = r.f64('attributes ts');
  const vmId = str('attributes VM id');
  const tenantId = str('tenant id');
  const vpcId = optStr('VPC id');
  const subnetId = optStr('subnet id');
  const ip = optStr('IP');
  const image = optStr('image');
  const hostId = optStr('host id');
  const [vcpus, memoryMb, cpuUtil] = readNullableNumbers(r, 3);
  const stateByte = r.u8('VM state');
  const state = VM_STATES[stateByte & ~HAS_VNI];
  if (state === undefined) corrupt('unknown VM state');
  const vni = (stateByte & HAS_VNI) === 0 ? null : r.u32('VNI');
  if (vni !== null && vni > MAX_VNI) corrupt(`VNI ${vni} out of range`);
  const labels = readLabels(r, str);
  return {
    ts,
    vmId,
    tenantId,
    vpcId,
    vni,
    subnetId,
    ip,
    image,
    hostId,
    vcpus: vcpus ?? null,
    memoryMb: memoryMb ?? null,
    state,
    cpuUtil: cpuUtil ?? null,
    labels,
  };
}

function readTenant(r: ByteReader, str: StrReader, optStr: OptStrReader): TenantAttributes {
  const ts = r.f64('tenant ts');
  const tenantId = str('tenant id');
  const name = optStr('tenant name');
  const tier = optStr('tenant tier');
  const deleted = r.u8('tenant deleted');
  if (deleted > 1) corrupt(`tenant ${tenantId}: bad deleted flag`);
  const labels = readLabels(r, str);
  return { ts, tenantId, name, tier, labels, deleted: deleted === 1 };
}

const RINGS_PER_BLOCK = 4096;

/** Into `ring` (zeroed, slots * (1 + STAT_COUNT) long). */
function readRing(r: ByteReader, slots: number, ring: Float64Array): void {
  for (let s = 0; s < slots; s++) ring[s] = r.f64('slot bucket');
  for (let s = 0; s < slots; s++) {
    if (ring[s]! < 0) continue;
    const row = slots + s * STAT_COUNT;
    const lo = r.u32('counter bitmap');
    const hi = r.u32('counter bitmap');
    if (STAT_COUNT < 64 && (STAT_COUNT <= 32 ? hi !== 0 || (STAT_COUNT < 32 && lo >>> STAT_COUNT !== 0) : hi >>> (STAT_COUNT - 32) !== 0))
      corrupt('counter bitmap names columns past the last');
    for (let j = 0; j < STAT_COUNT; j++) if (((j < 32 ? lo >>> j : hi >>> (j - 32)) & 1) === 1) ring[row + j] = r.f64('counter');
  }
}

function readDistinct(r: ByteReader, sketchSlots: number, optStr: OptStrReader): DistinctSetsState {
  const slots = r.u32('distinct-set slots');
  const used = r.u32('distinct-set keys');
  const overflow = r.f64('distinct overflow');
  // Tables grow by doubling at half load and shrink to fit on purges: never beyond four slots per key.
  if (slots < 16 || (slots & (slots - 1)) !== 0 || slots > Math.max(16, 4 * used) || used * 2 > slots)
    corrupt(`distinct-set table of ${slots} slots for ${used} keys`);
  if (used * 20 > r.left) throw new FleetCodecError('truncated', `${used} distinct keys cannot fit in the ${r.left} bytes left`);
  const sizes = new Int32Array(SETS);
  const overflowBuckets = new Float64Array(SETS);
  for (let set = 0; set < SETS; set++) {
    sizes[set] = r.u32('set size');
    overflowBuckets[set] = r.f64('overflow bucket');
  }
  const table = new Float64Array(2 * slots).fill(-1);
  const perSet = new Int32Array(SETS);
  for (let k = 0; k < used; k++) {
    const i = r.u32('slot index');
    if (i >= slots || table[2 * i] !== -1) corrupt(`distinct-set slot ${i} out of range or used twice`);
    const key = r.f64('key');
    if (!isNonNegativeInteger(key)) corrupt('distinct-set key is not a non-negative integer');
    table[2 * i] = key;
    table[2 * i + 1] = r.f64('key bucket');
    perSet[key % 4]!++;
  }
  const strings: (Array<[string, number]> | null)[] = [];
  for (let set = 0; set < SETS; set++) {
    const n = r.u32('string keys');
    if (n === NO_STRING) {
      strings.push(null);
      continue;
    }
    if (n * 12 > r.left) throw new FleetCodecError('truncated', `${n} string keys cannot fit in the ${r.left} bytes left`);
    const entries: Array<[string, number]> = [];
    for (let i = 0; i < n; i++) {
      const k = optStr('string key');
      if (k === null) corrupt('string key missing');
      entries.push([k, r.f64('string key bucket')]);
    }
    strings.push(entries);
    perSet[set]! += n;
  }
  for (let set = 0; set < SETS; set++) if (perSet[set] !== sizes[set]) corrupt(`distinct set ${set} holds ${perSet[set]} keys, not ${sizes[set]}`);
  const sketches: DistinctSetsState['sketches'] = [];
  for (let set = 0; set < SETS; set++) {
    const has = r.u8('sketch flag');
    if (has > 1) corrupt('bad sketch flag');
    if (has === 0) {
      sketches.push(null);
      continue;
    }
    const slotBuckets = new Float64Array(sketchSlots);
    for (let s = 0; s < sketchSlots; s++) slotBuckets[s] = r.f64('sketch slot bucket');
    const registers = r.bytes(sketchSlots * HLL_REGISTERS, 'sketch registers');
    for (const rank of registers) if (rank > HLL_MAX_RANK) corrupt(`sketch register of rank ${rank}`);
    sketches.push({ slotBuckets, registers });
  }
  return { table, used, sizes, strings, overflow, overflowBuckets, sketches };
}

function readPairs(r: ByteReader): PairTrafficState {
  const slots = r.u32('pair slots');
  const used = r.u32('pairs');
  const overflow = r.f64('pair overflow');
  if (slots < 1024 || (slots & (slots - 1)) !== 0 || slots > Math.max(1024, 4 * used) || used * 2 > slots)
    corrupt(`pair table of ${slots} slots for ${used} pairs`);
  if (used * (4 + 8 * PAIR_STRIDE) > r.left) throw new FleetCodecError('truncated', `${used} pairs cannot fit in the ${r.left} bytes left`);
  const table = new Float64Array(slots * PAIR_STRIDE).fill(PAIR_EMPTY);
  for (let k = 0; k < used; k++) {
    const i = r.u32('pair slot');
    if (i >= slots || table[i * PAIR_STRIDE] !== PAIR_EMPTY) corrupt(`pair slot ${i} out of range or used twice`);
    const o = i * PAIR_STRIDE;
    for (let j = 0; j < PAIR_STRIDE; j++) table[o + j] = r.f64('pair value');
    if (table[o] === PAIR_EMPTY) corrupt(`pair slot ${i} written empty`);
  }
  return { table, used, overflow };
}

/** The codec as one object, for callers that take it as a dependency (snapshots). */
export const fleetCodec = { encode: encodeFleetState, encodeInSlices: encodeFleetStateInSlices, decode: decodeFleetState };
