/**
 * IP addresses as the contract keeps them: one text per address, so that attribution and every count by
 * address see `2001:db8::1`, `2001:0DB8:0:0::1` and `2001:db8:0::1` as the same address, and an IPv4-mapped
 * IPv6 address (`::ffff:10.0.0.1`, as dual-stack sockets and some exporters write IPv4) as its IPv4
 * address. node:net does the parsing (isIPv4, isIPv6) and the canonical IPv6 text (SocketAddress, RFC 5952:
 * lower case, no leading zeros, the longest run of zero groups as `::`).
 *
 * Hot path: an IPv4 address accepted by isIPv4 is already canonical (it refuses leading zeros) and is
 * returned as it is, with no allocation. SocketAddress costs about 15 µs, so IPv6 canonical forms are
 * remembered (bounded): a fleet's flows name the same addresses over and over.
 */
import { isIPv4, isIPv6, SocketAddress } from 'node:net';

/** IPv6 texts remembered with their canonical form; the memory starts over when full. */
const MAX_REMEMBERED = 16_384;
const canonicalV6 = new Map<string, string>();

const MAPPED_V4_PREFIX = '::ffff:';

/** The canonical text of `value`, or null when it is not an IPv4 or IPv6 address (`ipAddressProblem` says why). */
export function canonicalIp(value: string): string | null {
  if (isIPv4(value)) return value;
  const known = canonicalV6.get(value);
  if (known !== undefined) return known;
  // A zone index (fe80::1%eth0) names an interface of one host: meaningless in a flow or a VM's address.
  if (value.includes('%') || !isIPv6(value)) return null;
  let canonical = new SocketAddress({ address: value, family: 'ipv6' }).address;
  if (canonical.startsWith(MAPPED_V4_PREFIX)) {
    const v4 = canonical.slice(MAPPED_V4_PREFIX.length);
    if (isIPv4(v4)) canonical = v4;
  }
  if (canonicalV6.size >= MAX_REMEMBERED) canonicalV6.clear();
  canonicalV6.set(value, canonical);
  return canonical;
}

/** Why `value` (a string canonicalIp refused) is not an address, for the rejection's message. */
export function ipAddressProblem(value: string): string {
  const shown = JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
  if (value.includes('%')) return `${shown} has a zone index (%…), which an overlay address cannot have`;
  if (/^[\d.]+$/.test(value)) return `${shown} is not an IPv4 address (four numbers 0-255 without leading zeros)`;
  return `${shown} is not an IPv4 or IPv6 address`;
}
