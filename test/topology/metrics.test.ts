/**
 * The per-member metrics read the member's status once per scrape (it was built once per metric, 11 times a
 * scrape), and a scrape still reports what the member counted since the one before.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { MemberStatus } from '../../src/topology/member.ts';
import { oncePerScrape, registerScaleOutMetrics, SCALE_OUT_METRICS } from '../../src/topology/metrics.ts';
import { memberStatus as statusWith } from '../helpers/member-status.ts';

function memberStatus(routedMessages: number, appliedRecords: number): MemberStatus {
  return statusWith({
    routedMessages,
    appliedRecords,
    // Seconds that grow with the messages, as a member's do: each scrape adds what was spent since the last.
    stageSeconds: { route: { fetch_wait: routedMessages / 10, route: 0, dead_letters: 0, send: 0, offsets: 0, commit: 0 }, window: { fetch_wait: 0, apply: appliedRecords / 10, publish: 0 } },
  });
}

const value = (text: string, name: string): number => Number(text.split('\n').find((l) => l.startsWith(`${name} `))?.split(' ')[1]);

describe('registerScaleOutMetrics', () => {
  it('builds the status once per scrape, and each scrape reads the member anew', async () => {
    const registry = new Registry();
    const reads: MemberStatus[] = [memberStatus(10, 30), memberStatus(25, 70)];
    let built = 0;
    registerScaleOutMetrics(registry, () => reads[built++]!);

    const first = await registry.metrics();
    expect(built).toBe(1);
    expect(value(first, 'alcor_scale_out_routed_messages_total')).toBe(10);
    expect(value(first, 'alcor_scale_out_applied_records_total')).toBe(30);
    expect(value(first, 'alcor_scale_out_partitions_owned')).toBe(2);
    expect(value(first, 'alcor_scale_out_changelog_lag')).toBe(4);

    const second = await registry.metrics();
    expect(built).toBe(2);
    expect(value(second, 'alcor_scale_out_routed_messages_total')).toBe(25);
    expect(value(second, 'alcor_scale_out_applied_records_total')).toBe(70);
    expect(second).toContain('alcor_scale_out_restores_total{from="changelog"} 2');
    expect(second).toContain('alcor_scale_out_stage_seconds_total{stage="route",phase="fetch_wait"} 2.5');
    expect(second).toContain('alcor_scale_out_stage_seconds_total{stage="window",phase="apply"} 7');
    for (const name of SCALE_OUT_METRICS) expect(second).toContain(`# TYPE ${name} `);
  });

  it('oncePerScrape keeps a value for the synchronous pass only', async () => {
    let n = 0;
    const read = oncePerScrape(() => ++n);
    expect([read(), read(), read()]).toEqual([1, 1, 1]);
    await Promise.resolve();
    expect([read(), read()]).toEqual([2, 2]);
  });
});
