/**
 * The route's writing of a batch's by-VM messages and its connections message (docs/scale-out.md, "The
 * by-VM messages"), byte for byte what encodeByVm writes for the same records, for about 40% less CPU:
 * the pack was the largest item of the route thread (3.1 of 5.7 CPU-µs per input record without Kafka).
 *
 * Where encodeByVm's cost went, and what is done instead:
 * - a `Map` of strings per message, probed 18 times per flow (its six strings in each half and in the
 *   connections message): here each flow's strings are looked up once per batch, in one table, and each
 *   message finds them again by that number in typed arrays stamped with the message's number;
 * - a writer (and a Buffer of its own) per message, its bounds checked at every byte: here one buffer for
 *   the whole batch, its room checked once per record, the messages handed out as views of it;
 * - an array of records per partition and stretch: here the indices of the routed records.
 */
import type { FlowRecord } from '../contract/records.ts';
import { putShortAscii, putVarint } from '../core/bytes.ts';
import { BY_VM_FORMAT, BY_VM_KIND, type ByVmRecord, type ByVmRouted, MAX_VARINT_INT } from './by-vm.ts';

export interface ByVmMessage {
  partition: number;
  value: Buffer;
  /** Records in it (a marker counts once per partition). */
  records: number;
}

export interface PackedRoute {
  /** The by-VM messages, in order (as packByVm describes them). */
  byVm: ByVmMessage[];
  /** The routed flows in route order, each once, as the source's half without event time (the leader's connection log); null when none. */
  connections: Buffer | null;
}

type Packable = ByVmRouted | { to: 'connections'; flow: FlowRecord } | { to: 'tenants' | 'hosts' | 'addresses' };

/** A flow's strings in the format's order: srcVm, dstVm, srcIp, dstIp, then (after the numbers) srcHost, dstHost. */
const FLOW_STRINGS = 6;
const NONE = -1;

/**
 * The by-VM messages of routed records, in order: one message per partition for each stretch between two
 * markers, each marker closing the stretch in every partition (so that a partition's order is the router's).
 * Other kinds of output (the tenant table) are left to the caller.
 */
export function packByVm(out: readonly Packable[], partitions: number, partitionOf: (vmId: string) => number): ByVmMessage[] {
  return new RoutePacker(out, partitions, partitionOf, false).pack().byVm;
}

/** packByVm, and the connections message of the same routed records (RouteStage writes both in one transaction). */
export function packRoute(out: readonly Packable[], partitions: number, partitionOf: (vmId: string) => number): PackedRoute {
  return new RoutePacker(out, partitions, partitionOf, true).pack();
}

class RoutePacker {
  private buf: Buffer;
  private view: DataView;
  private length = 0;
  /** Every string of the batch, numbered once: `strings[id]`, and the bound of its UTF-8 bytes. */
  private readonly ids = new Map<string, number>();
  private readonly strings: string[] = [];
  /** Per string number: the message that last wrote it, and its number in that message. */
  private seenIn: Int32Array;
  private refIn: Int32Array;
  private message = 0;
  private nextRef = 0;
  /** Per routed record: its flow's first string number in `flowIds` (flows only), NONE for others. */
  private readonly flowAt: Int32Array;
  private flowIds: Int32Array;
  private flows = 0;
  /** Per flow: a bound of its six strings' bytes, for the room one record needs. */
  private flowBytes: Int32Array;

  constructor(
    private readonly out: readonly Packable[],
    private readonly partitions: number,
    private readonly partitionOf: (vmId: string) => number,
    private readonly withConnections: boolean,
  ) {
    // A flow's half takes about 36 bytes on the small fixture: grown by doubling should a batch need more.
    this.buf = Buffer.allocUnsafe(Math.max(256, 64 * out.length));
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.flowAt = new Int32Array(out.length);
    this.flowIds = new Int32Array(Math.max(FLOW_STRINGS, out.length * 2));
    this.flowBytes = new Int32Array(Math.max(1, out.length / 2));
    this.seenIn = new Int32Array(256);
    this.refIn = new Int32Array(256);
  }

  pack(): PackedRoute {
    const { out, partitions } = this;
    const pending: number[][] = Array.from({ length: partitions }, () => []);
    const ends: { partition: number; start: number; end: number; records: number }[] = [];
    const connections: number[] = [];
    // A flow's halves and its connections record share one FlowRecord, routed one after the other: its
    // strings are numbered once for the three.
    let lastFlow: FlowRecord | null = null;
    let lastAt = NONE;
    for (let i = 0; i < out.length; i++) {
      const r = out[i]!;
      this.flowAt[i] = NONE;
      let flow: FlowRecord | null = null;
      if (r.to === 'by-vm') {
        if (r.record.k === 'f') flow = r.record.r;
        pending[this.partitionOf(r.key)]!.push(i);
      } else if (r.to === 'connections') {
        flow = r.flow;
        if (this.withConnections) connections.push(i);
      } else if (r.to === 'by-vm-all')
        for (let p = 0; p < partitions; p++) {
          const records = pending[p]!;
          records.push(i);
          ends.push(this.write(p, records));
          records.length = 0;
        }
      if (flow !== null) {
        if (flow !== lastFlow) {
          lastFlow = flow;
          lastAt = this.intern(flow);
        }
        this.flowAt[i] = lastAt;
      }
    }
    for (let p = 0; p < partitions; p++) {
      const records = pending[p]!;
      if (records.length > 0) ends.push(this.write(p, records));
    }
    const connectionsAt = connections.length > 0 ? this.write(NONE, connections) : null;
    // Views of the final buffer: any growth copied what was written before.
    const byVm = ends.map((m) => ({ partition: m.partition, value: this.buf.subarray(m.start, m.end), records: m.records }));
    return { byVm, connections: connectionsAt === null ? null : this.buf.subarray(connectionsAt.start, connectionsAt.end) };
  }

  /** A flow's six strings numbered for the batch; the index of the first in flowIds. */
  private intern(f: FlowRecord): number {
    const at = this.flows * FLOW_STRINGS;
    if (at + FLOW_STRINGS > this.flowIds.length) this.flowIds = grown(this.flowIds, at + FLOW_STRINGS);
    if (this.flows >= this.flowBytes.length) this.flowBytes = grown(this.flowBytes, this.flows + 1);
    const ids = this.flowIds;
    let bytes = 0;
    ids[at] = this.id(f.srcVm);
    ids[at + 1] = this.id(f.dstVm);
    ids[at + 2] = this.id(f.srcIp);
    ids[at + 3] = this.id(f.dstIp);
    ids[at + 4] = this.id(f.srcHost);
    ids[at + 5] = this.id(f.dstHost);
    for (let k = 0; k < FLOW_STRINGS; k++) {
      const id = ids[at + k]!;
      if (id !== NONE) bytes += this.strings[id]!.length;
    }
    this.flowBytes[this.flows] = bytes;
    this.flows++;
    return at;
  }

  private id(s: string | null): number {
    if (s === null) return NONE;
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.strings.length;
      this.ids.set(s, id);
      this.strings.push(s);
      if (id >= this.seenIn.length) {
        this.seenIn = grown(this.seenIn, id + 1);
        this.refIn = grown(this.refIn, id + 1);
      }
    }
    return id;
  }

  /** One message of the given routed records (a partition's, or with NONE the connections message). */
  private write(partition: number, indices: readonly number[]): { partition: number; start: number; end: number; records: number } {
    // Message numbers start at 1: the stamps' zero fill means "not in this message".
    this.message++;
    this.nextRef = 0;
    const start = this.length;
    this.room(16);
    this.u8(BY_VM_FORMAT);
    this.varint(indices.length);
    for (const i of indices) {
      const r = this.out[i]!;
      if (r.to === 'connections') this.flow(BY_VM_KIND.out, null, null, r.flow, this.flowAt[i]!);
      else if (r.to === 'by-vm' || r.to === 'by-vm-all') this.record(r.record, this.flowAt[i]!);
    }
    return { partition, start, end: this.length, records: indices.length };
  }

  private record(r: ByVmRecord, at: number): void {
    if (r.k === 'f') {
      this.flow(r.o ? BY_VM_KIND.out : BY_VM_KIND.in, r.w, r.sa, r.r, at);
      return;
    }
    if (r.k === 'q') {
      this.room(16 + 3 * r.req.length);
      this.u8(BY_VM_KIND.request);
      this.text(r.req);
      return;
    }
    const json = r.k === 'v' ? JSON.stringify(r.r) : null;
    this.room(64 + (json === null ? 0 : 3 * json.length));
    this.u8(r.k === 'v' ? BY_VM_KIND.vm : r.k === 'm' ? BY_VM_KIND.mark : BY_VM_KIND.tick);
    this.num(r.w);
    this.num(r.sa);
    if (json !== null) this.text(json);
    else if (r.k === 't') this.num(r.tick);
  }

  /** A flow's half (or its connections record): the format's fields in FlowRecord order. */
  private flow(kind: number, w: number | null, sa: number | null, f: FlowRecord, at: number): void {
    // Eleven numbers of at most 9 bytes, six strings of at most 5 + 3 bytes per UTF-16 unit, the kind.
    this.room(1 + 11 * 9 + FLOW_STRINGS * 5 + 3 * this.flowBytes[at / FLOW_STRINGS]!);
    const ids = this.flowIds;
    this.u8(kind);
    this.num(w);
    this.num(sa);
    this.num(f.ts);
    this.num(f.startTs);
    this.str(ids[at]!);
    this.str(ids[at + 1]!);
    this.str(ids[at + 2]!);
    this.str(ids[at + 3]!);
    this.num(f.srcPort);
    this.num(f.dstPort);
    this.num(f.protocol);
    this.num(f.bytes);
    this.num(f.packets);
    this.num(f.vni);
    this.str(ids[at + 4]!);
    this.str(ids[at + 5]!);
  }

  // The writes below assume the room their record asked for.

  private u8(v: number): void {
    this.buf[this.length++] = v;
  }

  private num(x: number | null): void {
    if (x === null) this.u8(0);
    else if (Number.isInteger(x) && x >= -1 && x <= MAX_VARINT_INT && !Object.is(x, -0)) this.varint(x + 3);
    else {
      this.u8(1);
      this.view.setFloat64(this.length, x, true);
      this.length += 8;
    }
  }

  private str(id: number): void {
    if (id === NONE) this.u8(0);
    else if (this.seenIn[id] === this.message) this.varint(this.refIn[id]! + 2);
    else {
      this.seenIn[id] = this.message;
      this.refIn[id] = this.nextRef++;
      this.u8(1);
      this.text(this.strings[id]!);
    }
  }

  /** As ByteWriter.varint (the same bytes). */
  private varint(v: number): void {
    this.length = putVarint(this.buf, this.length, v);
  }

  /** As ByteWriter.text: a varint byte length, then the UTF-8 bytes (short ASCII copied by hand). */
  private text(s: string): void {
    const len = s.length;
    const buf = this.buf;
    if (len < 0x80) {
      const end = putShortAscii(buf, this.length, s);
      if (end >= 0) {
        this.length = end;
        return;
      }
    }
    const n = Buffer.byteLength(s, 'utf8');
    this.varint(n);
    this.length += buf.write(s, this.length, n, 'utf8');
  }

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }
}

function grown(a: Int32Array, atLeast: number): Int32Array {
  let size = Math.max(16, a.length * 2);
  while (size < atLeast) size *= 2;
  const next = new Int32Array(size);
  next.set(a);
  return next;
}
