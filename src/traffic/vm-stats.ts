/**
 * The counters kept per VM per time bucket. Everything a feature needs is a sum of these over the window's
 * buckets, so expiry is just a bucket leaving the ring. Service counters exclude infrastructure traffic
 * (DNS, NTP, DHCP, the metadata service), which is kept apart: every VM makes it, whatever its role.
 * Plain numeric constants rather than an enum: they index typed arrays on the hot path.
 */
import { PORT_CLASSES } from './ports.ts';

export const S_BYTES_OUT = 0;
export const S_BYTES_IN = 1;
export const S_PACKETS_OUT = 2;
export const S_PACKETS_IN = 3;
export const S_FLOWS_OUT = 4;
export const S_FLOWS_IN = 5;
/** Bytes exchanged with peers outside the overlay. */
export const S_BYTES_EXTERNAL = 6;
/** Bytes exchanged with any VM peer. */
export const S_BYTES_VM_PEER = 7;
export const S_BYTES_CROSS_HOST = 8;
/** Bytes for which both hosts were known, the denominator of the cross-host share. */
export const S_BYTES_HOST_KNOWN = 9;
export const S_BYTES_TCP = 10;
export const S_BYTES_UDP = 11;
export const S_BYTES_ICMP = 12;
/** Bytes and flows where this VM is the service end. */
export const S_BYTES_SERVER = 13;
export const S_BYTES_CLIENT = 14;
export const S_FLOWS_SERVER = 15;
export const S_FLOWS_CLIENT = 16;
export const S_BYTES_INFRA = 17;
export const S_FLOWS_INFRA = 18;
/** Bytes of peer-to-peer traffic, where neither end is the service (cluster interconnects). */
export const S_BYTES_PEER = 19;
/** First of PORT_CLASSES.length counters of bytes served by this VM, by port class of its service port. */
export const S_SERVED_BASE = 20;
/** First of PORT_CLASSES.length counters of bytes this VM exchanged as a client, by the remote port's class. */
export const S_USED_BASE = S_SERVED_BASE + PORT_CLASSES.length;

export const STAT_COUNT = S_USED_BASE + PORT_CLASSES.length;
