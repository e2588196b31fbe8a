/**
 * A packet capture of VM traffic, written from a generated trace so that a real flow exporter (softflowd)
 * can read it as if it had sniffed an overlay port: classic libpcap format, Ethernet II, IPv4, TCP or UDP,
 * zero payload. Optionally VXLAN-encapsulated (outer IPv4/UDP 4789 between the two hosts), so an exporter
 * that decodes tunnels can report the VNI. The exporter counts IP-layer bytes, so `ipBytes` is what a flow
 * record of the packet must report.
 */
import { Random } from '../../src/core/random.ts';

export interface TracePacket {
  /** Capture time, epoch ms (whole microseconds are kept). */
  ts: number;
  srcIp: string;
  dstIp: string;
  protocol: 6 | 17;
  srcPort: number;
  dstPort: number;
  /** The inner IPv4 packet's total length (header included), 40..1500. */
  ipBytes: number;
  vni?: number;
  /** Outer addresses of the VXLAN tunnel (the compute hosts), when `vni` is set. */
  outerSrcIp?: string;
  outerDstIp?: string;
}

const PCAP_MAGIC = 0xa1b2c3d4;
const LINKTYPE_ETHERNET = 1;
const ETHERTYPE_IPV4 = 0x0800;
const VXLAN_PORT = 4789;

function ipv4Bytes(ip: string): number[] {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !(Number.isInteger(p) && p >= 0 && p <= 255))) throw new Error(`not an IPv4 address: ${ip}`);
  return parts;
}

/** A locally administered MAC derived from the address, so each VM keeps one. */
function macOf(ip: string): number[] {
  return [0x02, 0x00, ...ipv4Bytes(ip)];
}

function checksum(buf: Buffer, start: number, length: number): number {
  let sum = 0;
  for (let i = 0; i < length; i += 2) sum += (buf[start + i]! << 8) | (buf[start + i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ipv4Header(buf: Buffer, at: number, totalLength: number, protocol: number, src: string, dst: string, id: number): void {
  buf[at] = 0x45;
  buf[at + 1] = 0;
  buf.writeUInt16BE(totalLength, at + 2);
  buf.writeUInt16BE(id & 0xffff, at + 4);
  buf.writeUInt16BE(0x4000, at + 6); // don't fragment
  buf[at + 8] = 64;
  buf[at + 9] = protocol;
  Buffer.from(ipv4Bytes(src)).copy(buf, at + 12);
  Buffer.from(ipv4Bytes(dst)).copy(buf, at + 16);
  buf.writeUInt16BE(checksum(buf, at, 20), at + 10);
}

function ethernet(buf: Buffer, at: number, srcIp: string, dstIp: string): void {
  Buffer.from(macOf(dstIp)).copy(buf, at);
  Buffer.from(macOf(srcIp)).copy(buf, at + 6);
  buf.writeUInt16BE(ETHERTYPE_IPV4, at + 12);
}

/** The inner frame: Ethernet, IPv4, TCP or UDP header, zero payload up to `ipBytes`. */
function innerFrame(p: TracePacket, id: number): Buffer {
  const l4 = p.protocol === 6 ? 20 : 8;
  if (p.ipBytes < 20 + l4 || p.ipBytes > 1500) throw new Error(`ipBytes ${p.ipBytes} out of range`);
  const buf = Buffer.alloc(14 + p.ipBytes);
  ethernet(buf, 0, p.srcIp, p.dstIp);
  ipv4Header(buf, 14, p.ipBytes, p.protocol, p.srcIp, p.dstIp, id);
  const t = 34;
  buf.writeUInt16BE(p.srcPort, t);
  buf.writeUInt16BE(p.dstPort, t + 2);
  if (p.protocol === 6) {
    buf[t + 12] = 0x50; // data offset: 5 words
    buf[t + 13] = 0x18; // PSH, ACK: a segment of an established connection
    buf.writeUInt16BE(65_535, t + 14);
  } else {
    buf.writeUInt16BE(p.ipBytes - 20, t + 4);
  }
  return buf;
}

/** Wraps an inner frame in outer Ethernet, IPv4, UDP 4789 and the VXLAN header carrying the VNI. */
function vxlanFrame(inner: Buffer, p: TracePacket, id: number): Buffer {
  const outerSrc = p.outerSrcIp ?? '192.0.2.1';
  const outerDst = p.outerDstIp ?? '192.0.2.2';
  const udpLength = 8 + 8 + inner.length;
  const buf = Buffer.alloc(14 + 20 + udpLength);
  ethernet(buf, 0, outerSrc, outerDst);
  ipv4Header(buf, 14, 20 + udpLength, 17, outerSrc, outerDst, id);
  // The source port spreads tunnels over ECMP paths; any stable value does here.
  buf.writeUInt16BE(49_152 + (p.srcPort % 16_384), 34);
  buf.writeUInt16BE(VXLAN_PORT, 36);
  buf.writeUInt16BE(udpLength, 38);
  buf[42] = 0x08; // the VNI is valid
  buf.writeUIntBE(p.vni ?? 0, 46, 3);
  inner.copy(buf, 50);
  return buf;
}

/** The whole capture file for the packets, in the order given. */
export function writePcap(packets: readonly TracePacket[]): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(PCAP_MAGIC, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65_535, 16);
  header.writeUInt32LE(LINKTYPE_ETHERNET, 20);
  const parts: Buffer[] = [header];
  packets.forEach((p, i) => {
    const inner = innerFrame(p, i);
    const frame = p.vni === undefined ? inner : vxlanFrame(inner, p, i);
    const rec = Buffer.alloc(16);
    const micros = Math.round(p.ts * 1000);
    rec.writeUInt32LE(Math.floor(micros / 1e6), 0);
    rec.writeUInt32LE(micros % 1e6, 4);
    rec.writeUInt32LE(frame.length, 8);
    rec.writeUInt32LE(frame.length, 12);
    parts.push(rec, frame);
  });
  return Buffer.concat(parts);
}

export interface VmTrafficOptions {
  seed: number;
  /** Capture start, epoch ms. */
  start: number;
  /** VMs as `10.0.<i / 250>.<i % 250 + 1>`. */
  vms: number;
  /** Conversations (client VM, server VM, service port), each a connection with traffic both ways. */
  conversations: number;
  packetsPerConversation: number;
  /** The capture's span: packets are spread evenly over it. */
  durationMs: number;
  vni?: number;
}

export function vmAddress(i: number): string {
  return `10.0.${Math.floor(i / 250)}.${(i % 250) + 1}`;
}

const SERVICE_PORTS = [22, 80, 443, 5432, 6379, 8080, 9092] as const;

/**
 * Seeded VM traffic: each conversation a client and a server VM, a service port, requests one way and
 * larger answers back, interleaved in time order. Deterministic for a seed.
 */
export function generateVmTraffic(o: VmTrafficOptions): TracePacket[] {
  const rng = new Random(o.seed);
  const packets: TracePacket[] = [];
  const total = o.conversations * o.packetsPerConversation;
  const step = o.durationMs / Math.max(1, total);
  let n = 0;
  const conversations = Array.from({ length: o.conversations }, (_, c) => {
    const client = rng.int(0, o.vms - 1);
    let server = rng.int(0, o.vms - 2);
    if (server >= client) server++;
    const udp = rng.next() < 0.25;
    return {
      client: vmAddress(client),
      server: vmAddress(server),
      protocol: (udp ? 17 : 6) as 6 | 17,
      servicePort: udp ? 53 : rng.pick(SERVICE_PORTS),
      clientPort: 32_768 + c,
    };
  });
  for (let k = 0; k < o.packetsPerConversation; k++) {
    for (const c of conversations) {
      const request = k % 2 === 0;
      const ts = o.start + Math.round(n * step);
      n++;
      packets.push({
        ts,
        srcIp: request ? c.client : c.server,
        dstIp: request ? c.server : c.client,
        protocol: c.protocol,
        srcPort: request ? c.clientPort : c.servicePort,
        dstPort: request ? c.servicePort : c.clientPort,
        ipBytes: request ? rng.int(40, 240) : rng.int(200, 1400),
        ...(o.vni === undefined ? {} : { vni: o.vni, outerSrcIp: '192.0.2.1', outerDstIp: '192.0.2.2' }),
      });
    }
  }
  return packets;
}

/** The flow records an exporter must report for the packets: bytes and packets per direction of each 5-tuple. */
export function expectedFlows(packets: readonly TracePacket[]): Map<string, { bytes: number; packets: number }> {
  const out = new Map<string, { bytes: number; packets: number }>();
  for (const p of packets) {
    const key = flowKey(p.srcIp, p.dstIp, p.protocol, p.srcPort, p.dstPort);
    const e = out.get(key) ?? { bytes: 0, packets: 0 };
    e.bytes += p.ipBytes;
    e.packets += 1;
    out.set(key, e);
  }
  return out;
}

export function flowKey(srcIp: string, dstIp: string, protocol: number, srcPort: number, dstPort: number): string {
  return `${protocol} ${srcIp}:${srcPort} > ${dstIp}:${dstPort}`;
}
