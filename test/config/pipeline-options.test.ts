import { describe, expect, it } from 'vitest';
import { PipelineOptions, toPipelineConfig } from '../../src/config/pipeline-options.ts';
import { loadServiceConfig } from '../../src/config/service-config.ts';

describe('pipeline options: bounded resources', () => {
  it('defaults to caps the fixtures never reach, and an idle time of twice the window', () => {
    const c = toPipelineConfig(PipelineOptions.parse({}));
    expect(c.window).toMatchObject({ maxVms: 250_000, maxPeersPerVm: 4096, maxVmPairs: 2_000_000, deletedRetentionMs: 24 * 3_600_000 });
    expect(c.window.idleMs).toBeUndefined();
    expect(c.limits).toMatchObject({ maxMessageBytes: 4 * 1024 * 1024, maxBatchRecords: 100_000 });
    expect(c.maxSecurityGroupConnections).toBe(1_000_000);
  });

  it('carries every cap from flags or the environment into the configuration', () => {
    const o = PipelineOptions.parse({
      maxVms: '1000',
      maxPeersPerVm: '64',
      maxVmPairs: '5000',
      idleMinutes: '45',
      deletedRetentionHours: '2',
      maxMessageBytes: '65536',
      maxBatchRecords: '500',
      maxSecurityGroupConnections: '7000',
    });
    const c = toPipelineConfig(o);
    expect(c.window).toMatchObject({ maxVms: 1000, maxPeersPerVm: 64, maxVmPairs: 5000, idleMs: 45 * 60_000, deletedRetentionMs: 2 * 3_600_000 });
    expect(c.limits).toMatchObject({ maxMessageBytes: 65_536, maxBatchRecords: 500 });
    expect(c.maxSecurityGroupConnections).toBe(7000);
  });

  it('refuses an idle time shorter than the window, and caps that are not positive', () => {
    const short = PipelineOptions.safeParse({ windowMinutes: '15', idleMinutes: '10' });
    expect(short.success).toBe(false);
    expect(short.error?.issues[0]?.path).toEqual(['idleMinutes']);
    expect(PipelineOptions.safeParse({ maxVms: '0' }).success).toBe(false);
    expect(PipelineOptions.safeParse({ maxPeersPerVm: '-1' }).success).toBe(false);
  });
});

describe('pipeline options: the bound on future event times', () => {
  it('defaults to a 300 s skew and a quorum of 3, without a wall clock (a replay has none)', () => {
    expect(toPipelineConfig(PipelineOptions.parse({})).future).toEqual({ maxSkewMs: 300_000, quorum: 3, wallClock: null });
  });

  it('reads MAX_FUTURE_SKEW_SECONDS and FUTURE_QUORUM from the environment and names them when they are bad', () => {
    const c = loadServiceConfig({ MAX_FUTURE_SKEW_SECONDS: '90', FUTURE_QUORUM: '5' });
    expect(toPipelineConfig(c.pipeline).future).toEqual({ maxSkewMs: 90_000, quorum: 5, wallClock: null });
    expect(() => loadServiceConfig({ MAX_FUTURE_SKEW_SECONDS: '-1', FUTURE_QUORUM: '0' })).toThrow(
      /^invalid configuration:\n {2}MAX_FUTURE_SKEW_SECONDS: .+\n {2}FUTURE_QUORUM: .+$/,
    );
  });
});
