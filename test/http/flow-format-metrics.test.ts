import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ServiceMetrics } from '../../src/observability/service-metrics.ts';

const formatLines = (body: string): string[] => body.split('\n').filter((l) => l.startsWith('alcor_flow_records_in_total'));

describe('flow records by format in /metrics', () => {
  it('shows the configured format from the start, then counts the flows decoded in it', async () => {
    const metrics = new ServiceMetrics(new Registry(), { defaultMetrics: false });
    metrics.flowRecordsIn('goflow2', 0);
    expect(formatLines((await metrics.exposition()).body)).toEqual(['alcor_flow_records_in_total{format="goflow2"} 0']);
    metrics.flowRecordsIn('goflow2', 40);
    metrics.flowRecordsIn('goflow2', 2);
    expect(formatLines((await metrics.exposition()).body)).toEqual(['alcor_flow_records_in_total{format="goflow2"} 42']);
  });
});
