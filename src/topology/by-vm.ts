/**
 * The records of the by-VM topic, the repartition hop between route and window: what each member's router
 * writes and each partition's owner reads back. Every record carries the router's watermark and its last
 * sweep point, so that a partition moves through event time exactly as one process holding every VM would.
 */
import { z } from 'zod';
import { ByteReader, ByteWriter } from '../core/bytes.ts';
import { fmix32 } from '../core/hash.ts';
import { emptyFlowRecord, type FlowRecord, type VmAttributes } from '../contract/records.ts';

/** Event time as the router saw it; null stands for "none yet" (-Infinity does not survive JSON). */
export interface RouterTime {
  w: number | null;
  sa: number | null;
}

export type ByVmRecord =
  /** One VM's side of a flow: `o` is true for the source VM's (outgoing) half. */
  | (RouterTime & { k: 'f'; o: boolean; r: FlowRecord })
  | (RouterTime & { k: 'v'; r: VmAttributes })
  /** The router's watermark after a batch: partitions without records in it move on too. */
  | (RouterTime & { k: 'm' })
  /** A run tick (event time) passed: publish features at this point of the stream. */
  | (RouterTime & { k: 't'; tick: number })
  /** A run requested through the API (any member): publish features now, tagged with the request. */
  | { k: 'q'; req: string; w: null; sa: null };

// The attributes were validated at the route against the wire contract; here only their shape is checked.
const Vm = z.looseObject({ ts: z.number(), vmId: z.string(), state: z.string() });

/**
 * The by-VM topic's message format (docs/scale-out.md, "The by-VM messages"): one message carries a run of
 * records bound for one partition, in a compact binary form, because a JSON message per record cost more
 * in the Kafka client (per-message partitioning, CRCs, framing) and in JSON than the windows themselves.
 *
 *   message := 0xB1 varint(count) record*
 *   record  := kind:u8 [num(w) num(sa)] body          (kind 6, a request, has no times)
 *   kind 1/2: a flow's source (1) or destination (2) half: num(ts) num(startTs) str(srcVm) str(dstVm)
 *             str(srcIp) str(dstIp) num(srcPort) num(dstPort) num(protocol) num(bytes) num(packets)
 *             num(vni) str(srcHost) str(dstHost)
 *   kind 3:   VM attributes: text (their JSON)       kind 4: the watermark marker (no body)
 *   kind 5:   a run tick: num(tick)                  kind 6: a run request: text (its id)
 *   num     := varint 0 (null) | varint 1 then float64 LE | varint n >= 2: the integer n - 3 (-1 upward)
 *   str     := varint 0 (null) | varint 1 then text (a new string, numbered in order from 0) | varint n >= 2:
 *              the string numbered n - 2 earlier in this message
 *   text    := varint(byte length) UTF-8 bytes
 * A tick or a request is the last record of its message: a partition publishes after whole messages only,
 * so that its checkpoint's offset (the next message) never splits one.
 */
export const BY_VM_FORMAT = 0xb1;

export const BY_VM_KIND = { out: 1, in: 2, vm: 3, mark: 4, tick: 5, request: 6 } as const;
const KIND = BY_VM_KIND;

/** Integers from -1 up to this travel as varints (exact in a double), anything else as a float64. */
export const MAX_VARINT_INT = 2 ** 53 - 4;

/** A by-VM message being written: numbers and strings as the format above has them, on the shared byte writer. */
class ByVmWriter extends ByteWriter {
  private readonly strings = new Map<string, number>();

  num(x: number | null): void {
    if (x === null) this.varint(0);
    else if (Number.isInteger(x) && x >= -1 && x <= MAX_VARINT_INT && !Object.is(x, -0)) this.varint(x + 3);
    else {
      this.varint(1);
      this.f64(x);
    }
  }

  str(s: string | null): void {
    const seen = s === null ? undefined : this.strings.get(s);
    if (s === null) this.varint(0);
    else if (seen !== undefined) this.varint(seen + 2);
    else {
      this.strings.set(s, this.strings.size);
      this.varint(1);
      this.text(s);
    }
  }
}

/** A by-VM message being read: any breach of the format throws a RangeError (the message is not ours). */
class ByVmReader extends ByteReader {
  private readonly strings: string[] = [];

  num(): number | null {
    const tag = this.varint();
    if (tag === 0) return null;
    if (tag >= 2) return tag - 3;
    return this.f64();
  }

  /** A number that may not be null. */
  n(): number {
    const x = this.num();
    if (x === null) throw new RangeError('null number');
    return x;
  }

  str(): string | null {
    const tag = this.varint();
    if (tag === 0) return null;
    if (tag === 1) {
      const s = this.text();
      this.strings.push(s);
      return s;
    }
    const s = this.strings[tag - 2];
    if (s === undefined) throw new RangeError('unknown string');
    return s;
  }

  /** A string that may not be null. */
  s(): string {
    const x = this.str();
    if (x === null) throw new RangeError('null string');
    return x;
  }
}

/** One by-VM message: the records in order; a tick or a request only as the last one. */
export function encodeByVm(records: readonly ByVmRecord[]): Buffer {
  const w = new ByVmWriter(64 + 96 * records.length);
  w.u8(BY_VM_FORMAT);
  w.varint(records.length);
  for (const r of records) {
    if (r.k === 'q') {
      w.u8(KIND.request);
      w.text(r.req);
      continue;
    }
    w.u8(r.k === 'f' ? (r.o ? KIND.out : KIND.in) : r.k === 'v' ? KIND.vm : r.k === 'm' ? KIND.mark : KIND.tick);
    w.num(r.w);
    w.num(r.sa);
    if (r.k === 'f') {
      const f = r.r;
      w.num(f.ts);
      w.num(f.startTs);
      w.str(f.srcVm);
      w.str(f.dstVm);
      w.str(f.srcIp);
      w.str(f.dstIp);
      w.num(f.srcPort);
      w.num(f.dstPort);
      w.num(f.protocol);
      w.num(f.bytes);
      w.num(f.packets);
      w.num(f.vni);
      w.str(f.srcHost);
      w.str(f.dstHost);
    } else if (r.k === 'v') w.text(JSON.stringify(r.r));
    else if (r.k === 't') w.num(r.tick);
  }
  return w.written();
}

/** The records of a by-VM message, or null when it is not one of ours (counted by the caller, never applied). */
export function decodeByVm(bytes: Buffer): ByVmRecord[] | null {
  return readByVm(bytes, null);
}

type FlowHalf = RouterTime & { k: 'f'; o: boolean; r: FlowRecord };

/**
 * decodeByVm for a partition's window loop: the flow halves of a message are read into records kept from
 * message to message, no two objects per half for the collector (decode and apply took 22-29% less CPU in
 * alternated rounds, docs/scale-out.md). The records returned are valid until the next call: applied
 * before the next message is read, as the windows do (they keep a record's numbers and strings, never the
 * record). VM attributes, ticks and requests are new objects.
 */
export class ByVmDecoder {
  private readonly halves: FlowHalf[] = [];

  decode(bytes: Buffer): readonly ByVmRecord[] | null {
    return readByVm(bytes, this.halves);
  }
}

/** A by-VM message's records; flow halves into `halves` (reused, grown as needed), or new ones when null. */
function readByVm(bytes: Buffer, halves: FlowHalf[] | null): ByVmRecord[] | null {
  try {
    const rd = new ByVmReader(bytes);
    if (rd.u8() !== BY_VM_FORMAT) return null;
    const count = rd.varint();
    // Every record takes at least one byte: a count beyond that is not ours (and must not allocate).
    if (count > bytes.length) return null;
    const out: ByVmRecord[] = [];
    let reused = 0;
    for (let i = 0; i < count; i++) {
      const kind = rd.u8();
      if (kind === KIND.request) {
        const req = rd.text();
        // A request ends its message (as a tick does): the partition's checkpoint falls between messages.
        if (req.length === 0 || req.length > 200 || i !== count - 1) return null;
        out.push({ k: 'q', req, w: null, sa: null });
        continue;
      }
      const w = rd.num();
      const sa = rd.num();
      if (kind === KIND.out || kind === KIND.in) {
        let half = halves?.[reused];
        if (half === undefined) {
          half = { k: 'f', o: false, r: emptyFlowRecord(), w: null, sa: null };
          if (halves !== null) halves.push(half);
        }
        reused++;
        const r = half.r;
        // In the format's order: each read advances the reader.
        r.ts = rd.n();
        r.startTs = rd.num();
        r.srcVm = rd.str();
        r.dstVm = rd.str();
        r.srcIp = rd.s();
        r.dstIp = rd.s();
        r.srcPort = rd.n();
        r.dstPort = rd.n();
        r.protocol = rd.n();
        r.bytes = rd.n();
        r.packets = rd.n();
        r.vni = rd.num();
        r.srcHost = rd.str();
        r.dstHost = rd.str();
        half.o = kind === KIND.out;
        half.w = w;
        half.sa = sa;
        out.push(half);
      } else if (kind === KIND.vm) {
        const parsed = Vm.safeParse(JSON.parse(rd.text()));
        if (!parsed.success) return null;
        out.push({ k: 'v', r: parsed.data as unknown as VmAttributes, w, sa });
      } else if (kind === KIND.mark) out.push({ k: 'm', w, sa });
      else if (kind === KIND.tick) out.push({ k: 't', tick: rd.n(), w, sa });
      else return null;
      if (kind === KIND.tick && i !== count - 1) return null;
    }
    return rd.end ? out : null;
  } catch {
    return null;
  }
}

/** What the route stage sends down the hop: a record for one VM's partition, or a marker for every partition. */
export type ByVmRouted = { to: 'by-vm'; key: string; record: ByVmRecord } | { to: 'by-vm-all'; record: ByVmRecord };

/**
 * Kafka's default partitioner for a key (murmur2 of its UTF-8 bytes, made positive, modulo the partitions),
 * as the Java client and kafkajs' DefaultPartitioner compute it: a VM's records go where any Kafka tool
 * would put a message keyed by its id, computed here once per record instead of by the client per message.
 */
export function kafkaPartitionOf(key: string, partitions: number): number {
  return (murmur2(asciiBytes(key) ?? Buffer.from(key, 'utf8')) & 0x7fffffff) % partitions;
}

/** VM ids a partition memo keeps before it starts afresh: a bound on its memory, far above one member's share of a fleet's active VMs. */
const PARTITION_MEMO_SIZE = 1 << 18;

/**
 * kafkaPartitionOf for one partition count, remembered per key: a route writes each VM's records again and
 * again, and murmur2 over its id cost as much as the rest of the record's placement.
 */
export function partitionOfMemo(partitions: number): (key: string) => number {
  const memo = new Map<string, number>();
  return (key) => {
    let p = memo.get(key);
    if (p === undefined) {
      if (memo.size >= PARTITION_MEMO_SIZE) memo.clear();
      p = kafkaPartitionOf(key, partitions);
      memo.set(key, p);
    }
    return p;
  };
}

/** VM ids are ASCII as a rule: their UTF-8 bytes are their char codes, without a Buffer per call. */
const ascii = new Uint8Array(256);
function asciiBytes(s: string): Uint8Array | null {
  if (s.length > ascii.length) return null;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return null;
    ascii[i] = c;
  }
  return ascii.subarray(0, s.length);
}

function murmur2(data: Uint8Array): number {
  const m = 0x5bd1e995;
  const length = data.length;
  let h = 0x9747b28c ^ length;
  const length4 = length >> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = data[i4]! | (data[i4 + 1]! << 8) | (data[i4 + 2]! << 16) | (data[i4 + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const tail = length & ~3;
  const rest = length & 3;
  // The tail bytes mix in cascade (the Java client's fall-through switch).
  if (rest === 3) h ^= data[tail + 2]! << 16;
  if (rest >= 2) h ^= data[tail + 1]! << 8;
  if (rest >= 1) {
    h ^= data[tail]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h;
}

export const finiteOrNull = (x: number): number | null => (Number.isFinite(x) ? x : null);
export const orNegInf = (x: number | null): number => x ?? Number.NEGATIVE_INFINITY;

/** VM peers are counted by a number above every IPv4 key of the distinct sets (2^32 + address). */
const PEER_KEY_BASE = 2 ** 33;

/**
 * A number for a VM id, the same in every partition and process: a 48-bit hash above the IPv4 keys. A peer
 * lives in another partition, so it cannot be known by the owner's serial; the leader maps keys back to ids
 * from the VMs of the run (a collision in 2^48 merges two peers of one VM: about 1 in 10^8 for 1M VMs' pairs).
 */
export function vmKey(vmId: string): number {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < vmId.length; i++) {
    const c = vmId.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995) ^ (b >>> 15);
  }
  return PEER_KEY_BASE + (fmix32(a) & 0xffff) * 2 ** 32 + fmix32(b ^ vmId.length);
}

/**
 * vmKey remembered per VM id (bounded as partitionOfMemo): a partition applies up to three keys per flow
 * half (the peer's, and both ends' for the pair table), and the hash over each id cost more than the
 * lookup (64 ms against 12 ms for the small fixture's halves).
 */
export function vmKeyMemo(): (vmId: string) => number {
  const memo = new Map<string, number>();
  return (vmId) => {
    let k = memo.get(vmId);
    if (k === undefined) {
      if (memo.size >= PARTITION_MEMO_SIZE) memo.clear();
      k = vmKey(vmId);
      memo.set(vmId, k);
    }
    return k;
  };
}
