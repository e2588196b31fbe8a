/**
 * The records of the by-VM topic, the repartition hop between route and window: what each member's router
 * writes and each partition's owner reads back. Every record carries the router's watermark and its last
 * sweep point, so that a partition moves through event time exactly as one process holding every VM would.
 */
import { z } from 'zod';
import { fmix32 } from '../core/hash.ts';
import type { FlowRecord, VmAttributes } from '../contract/records.ts';

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

const time = { w: z.number().nullable(), sa: z.number().nullable() };
const str = z.string();
const nstr = z.string().nullable();
const Flow = z.object({
  ts: z.number(),
  startTs: z.number().nullable(),
  srcVm: nstr,
  dstVm: nstr,
  srcIp: str,
  dstIp: str,
  srcPort: z.number(),
  dstPort: z.number(),
  protocol: z.number(),
  bytes: z.number(),
  packets: z.number(),
  vni: z.number().nullable(),
  srcHost: nstr,
  dstHost: nstr,
});
// The attributes were validated at the route against the wire contract; here only their shape is checked.
const Vm = z.looseObject({ ts: z.number(), vmId: str, state: str });

const Schema = z.discriminatedUnion('k', [
  z.object({ k: z.literal('f'), o: z.boolean(), r: Flow, ...time }),
  z.object({ k: z.literal('v'), r: Vm, ...time }),
  z.object({ k: z.literal('m'), ...time }),
  z.object({ k: z.literal('t'), tick: z.number(), ...time }),
  z.object({ k: z.literal('q'), req: z.string().max(200), w: z.null(), sa: z.null() }),
]);

/** A by-VM record, or null when it is not one of ours (counted by the caller, never applied). */
export function decodeByVm(text: string): ByVmRecord | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  const parsed = Schema.safeParse(value);
  return parsed.success ? (parsed.data as ByVmRecord) : null;
}

export function encodeByVm(r: ByVmRecord): string {
  return JSON.stringify(r);
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
