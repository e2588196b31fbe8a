import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ServiceMetrics } from '../../src/observability/service-metrics.ts';

const eventLines = (body: string): string[] => body.split('\n').filter((l) => l.startsWith('alcor_fleet_events_total{'));

describe('fleet events in /metrics', () => {
  it('reports each fleet counter as an event count in snake_case, adding only what happened since the last scrape', async () => {
    const metrics = new ServiceMetrics(new Registry(), { defaultMetrics: false });
    metrics.fleetCounters({ vmsExpired: 3, vmsRefused: 0, peerSetsSketched: 1 });
    metrics.fleetCounters({ vmsExpired: 5, vmsRefused: 2, peerSetsSketched: 1 });
    const { body } = await metrics.exposition();
    expect(eventLines(body)).toEqual([
      'alcor_fleet_events_total{event="vms_expired"} 5',
      'alcor_fleet_events_total{event="peer_sets_sketched"} 1',
      'alcor_fleet_events_total{event="vms_refused"} 2',
    ]);
  });
});
