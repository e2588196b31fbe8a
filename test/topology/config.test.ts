/** The scale-out settings: the session timeout (the client's floor of 1 s, below Kafka's default broker floor of 6 s), the route worker, the route transactions' size. */
import { describe, expect, it } from 'vitest';
import { MIN_SESSION_TIMEOUT_MS, parseTopologyEnv, TopologyEnvError } from '../../src/topology/config.ts';

describe('SCALE_OUT_SESSION_TIMEOUT_MS', () => {
  it('keeps 30 s by default and takes values down to 1 s (a broker must allow them: group.min.session.timeout.ms)', () => {
    expect(parseTopologyEnv({ SCALE_OUT_APP_ID: 'app' })?.sessionTimeoutMs).toBe(30_000);
    expect(MIN_SESSION_TIMEOUT_MS).toBe(1000);
    expect(parseTopologyEnv({ SCALE_OUT_APP_ID: 'app', SCALE_OUT_SESSION_TIMEOUT_MS: '1000' })?.sessionTimeoutMs).toBe(1000);
    expect(parseTopologyEnv({ SCALE_OUT_APP_ID: 'app', SCALE_OUT_SESSION_TIMEOUT_MS: '5000' })?.sessionTimeoutMs).toBe(5000);
  });
  it('refuses less, naming the setting', () => {
    expect(() => parseTopologyEnv({ SCALE_OUT_APP_ID: 'app', SCALE_OUT_SESSION_TIMEOUT_MS: '999' })).toThrow(TopologyEnvError);
    expect(() => parseTopologyEnv({ SCALE_OUT_APP_ID: 'app', SCALE_OUT_SESSION_TIMEOUT_MS: '999' })).toThrow(/SCALE_OUT_SESSION_TIMEOUT_MS/);
  });
});

describe('SCALE_OUT_ROUTE_WORKER', () => {
  it('runs the route in a worker thread by default, in the main thread when false, and refuses what is no boolean', () => {
    expect(parseTopologyEnv({ SCALE_OUT_APP_ID: 'app' })?.routeWorker).toBe(true);
    expect(parseTopologyEnv({ SCALE_OUT_APP_ID: 'app', SCALE_OUT_ROUTE_WORKER: 'false' })?.routeWorker).toBe(false);
    expect(() => parseTopologyEnv({ SCALE_OUT_APP_ID: 'app', SCALE_OUT_ROUTE_WORKER: 'maybe' })).toThrow(/SCALE_OUT_ROUTE_WORKER/);
  });
});

describe('SCALE_OUT_ROUTE_COMMIT_MESSAGES and SCALE_OUT_ROUTE_COMMIT_MS', () => {
  it('leave the route stage its defaults when unset, and take whole numbers within bounds', () => {
    const t = parseTopologyEnv({ SCALE_OUT_APP_ID: 'app' });
    expect(t?.routeCommitMessages).toBeUndefined();
    expect(t?.routeCommitMs).toBeUndefined();
    const set = parseTopologyEnv({ SCALE_OUT_APP_ID: 'app', SCALE_OUT_ROUTE_COMMIT_MESSAGES: '1', SCALE_OUT_ROUTE_COMMIT_MS: '5000' });
    expect([set?.routeCommitMessages, set?.routeCommitMs]).toEqual([1, 5000]);
  });
  it('refuses a transaction age the broker\'s 15 s transaction timeout would cut short, and none at all', () => {
    expect(() => parseTopologyEnv({ SCALE_OUT_APP_ID: 'app', SCALE_OUT_ROUTE_COMMIT_MS: '5001' })).toThrow(/SCALE_OUT_ROUTE_COMMIT_MS/);
    expect(() => parseTopologyEnv({ SCALE_OUT_APP_ID: 'app', SCALE_OUT_ROUTE_COMMIT_MESSAGES: '0' })).toThrow(/SCALE_OUT_ROUTE_COMMIT_MESSAGES/);
  });
});

describe('SCALE_OUT_READER_WAIT_MS', () => {
  it('leaves the table readers kafkajs\' fetch wait when unset, and takes whole numbers within bounds', () => {
    expect(parseTopologyEnv({ SCALE_OUT_APP_ID: 'app' })?.readerWaitMs).toBeUndefined();
    expect(parseTopologyEnv({ SCALE_OUT_APP_ID: 'app', SCALE_OUT_READER_WAIT_MS: '500' })?.readerWaitMs).toBe(500);
    expect(() => parseTopologyEnv({ SCALE_OUT_APP_ID: 'app', SCALE_OUT_READER_WAIT_MS: '9' })).toThrow(/SCALE_OUT_READER_WAIT_MS/);
    expect(() => parseTopologyEnv({ SCALE_OUT_APP_ID: 'app', SCALE_OUT_READER_WAIT_MS: '10001' })).toThrow(/SCALE_OUT_READER_WAIT_MS/);
  });
});
