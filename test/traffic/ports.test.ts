import { describe, expect, it } from 'vitest';
import { isInfraPort, LOCAL_SERVICE, NO_SERVICE, PORT_CLASSES, portClass, REMOTE_SERVICE, serviceEnd } from '../../src/traffic/ports.ts';
import { S_SERVED_BASE, S_USED_BASE, STAT_COUNT } from '../../src/traffic/vm-stats.ts';

describe('service-port knowledge', () => {
  it('classes ports by the service they name, unknown ones by range', () => {
    expect(PORT_CLASSES[portClass(443)]).toBe('web');
    expect(PORT_CLASSES[portClass(5432)]).toBe('database');
    expect(PORT_CLASSES[portClass(999)]).toBe('other_well_known');
    expect(PORT_CLASSES[portClass(40_000)]).toBe('unassigned');
    expect([isInfraPort(53), isInfraPort(80)]).toEqual([true, false]);
  });

  it('tells which end serves, or that one record cannot tell', () => {
    expect(serviceEnd(443, 51_000)).toBe(LOCAL_SERVICE);
    expect(serviceEnd(51_000, 6379)).toBe(REMOTE_SERVICE);
    expect(serviceEnd(20_000, 40_000)).toBe(LOCAL_SERVICE);
    expect(serviceEnd(40_000, 40_001)).toBe(NO_SERVICE);
    expect(serviceEnd(8080, 8080)).toBe(NO_SERVICE);
  });

  it('lays out one served and one used counter per port class after the fixed counters', () => {
    expect([S_SERVED_BASE, S_USED_BASE, STAT_COUNT]).toEqual([20, 20 + PORT_CLASSES.length, 20 + 2 * PORT_CLASSES.length]);
  });
});
