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
/** Bytes exchanged with VMs of the same tenant (as known when the record arrived). */
export const S_BYTES_SAME_TENANT = 7;
/** Bytes exchanged with any VM peer. */
export const S_BYTES_VM_PEER = 8;
export const S_BYTES_CROSS_HOST = 9;
/** Bytes for which both hosts were known, the denominator of the cross-host share. */
export const S_BYTES_HOST_KNOWN = 10;
export const S_BYTES_TCP = 11;
export const S_BYTES_UDP = 12;
export const S_BYTES_ICMP = 13;
/** Bytes and flows where this VM is the service end. */
export const S_BYTES_SERVER = 14;
export const S_BYTES_CLIENT = 15;
export const S_FLOWS_SERVER = 16;
export const S_FLOWS_CLIENT = 17;
export const S_BYTES_INFRA = 18;
export const S_FLOWS_INFRA = 19;
/** Bytes of peer-to-peer traffic, where neither end is the service (cluster interconnects). */
export const S_BYTES_PEER = 20;
/** First of PORT_CLASSES.length counters of bytes served by this VM, by port class of its service port. */
export const S_SERVED_BASE = 21;
/** First of PORT_CLASSES.length counters of bytes this VM exchanged as a client, by the remote port's class. */
export const S_USED_BASE = S_SERVED_BASE + PORT_CLASSES.length;

export const STAT_COUNT = S_USED_BASE + PORT_CLASSES.length;
