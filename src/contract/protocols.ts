/** IANA protocol numbers for the names the contract accepts. */
// A Map, not an object literal: a name like "constructor" or "__proto__" must not find an inherited property.
const PROTOCOL_NUMBERS: ReadonlyMap<string, number> = new Map([
  ['icmp', 1],
  ['tcp', 6],
  ['udp', 17],
  ['icmpv6', 58],
  ['sctp', 132],
]);

export const TCP = 6;
export const UDP = 17;
export const ICMP = 1;
export const ICMPV6 = 58;
export const SCTP = 132;

/** Protocols whose records must carry ports. */
export function protocolHasPorts(protocol: number): boolean {
  return protocol === TCP || protocol === UDP || protocol === SCTP;
}

/** Name (any case) or number to IANA number; undefined when neither. */
export function protocolNumber(value: unknown): number | undefined {
  if (typeof value === 'number') {
    return Number.isInteger(value) && value >= 0 && value <= 255 ? value : undefined;
  }
  if (typeof value === 'string') {
    return PROTOCOL_NUMBERS.get(value.toLowerCase());
  }
  return undefined;
}
