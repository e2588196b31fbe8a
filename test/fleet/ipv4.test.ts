import { describe, expect, it } from 'vitest';
import { ipv4Number } from '../../src/fleet/fleet-state.ts';

describe('ipv4Number', () => {
  it('maps dotted IPv4 addresses to unsigned 32-bit numbers and anything else to -1', () => {
    expect(ipv4Number('0.0.0.0')).toBe(0);
    expect(ipv4Number('10.1.2.3')).toBe(10 * 2 ** 24 + 1 * 2 ** 16 + 2 * 256 + 3);
    expect(ipv4Number('255.255.255.255')).toBe(2 ** 32 - 1);
    expect(ipv4Number('2001:db8::1')).toBe(-1);
    expect(ipv4Number('1.2.3')).toBe(-1);
  });
});
