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

describe('attribution in /metrics', () => {
  it('reports flow ends by how they were attributed and unattributed ones by reason, adding what happened since the last scrape', async () => {
    const metrics = new ServiceMetrics(new Registry(), { defaultMetrics: false });
    const counters = {
      endsNamed: 10,
      endsOutside: 4,
      endsByAddress: 6,
      unattributed: { unknown_address: 2, ambiguous_no_vni: 1, conflicting_claims: 0 },
      claimsRefused: 0,
      claimsForgotten: 3,
    };
    metrics.attribution({ ...counters, claims: 7 });
    metrics.attribution({ ...counters, endsByAddress: 9, unattributed: { ...counters.unattributed, conflicting_claims: 2 }, claimsRefused: 1, claims: 8 });
    const { body } = await metrics.exposition();
    const lines = body.split('\n').filter((l) => /^alcor_(flow_ends|address_claims)/.test(l));
    expect(lines).toEqual([
      'alcor_flow_ends_attributed_total{how="named"} 10',
      'alcor_flow_ends_attributed_total{how="by_address"} 9',
      'alcor_flow_ends_unattributed_total{reason="outside"} 4',
      'alcor_flow_ends_unattributed_total{reason="unknown_address"} 2',
      'alcor_flow_ends_unattributed_total{reason="ambiguous_no_vni"} 1',
      'alcor_flow_ends_unattributed_total{reason="conflicting_claims"} 2',
      'alcor_address_claims 8',
      'alcor_address_claims_refused_total 1',
    ]);
  });
});

describe('the hold for late attributes in /metrics', () => {
  it('reports the flows held now and what the hold did since the last scrape', async () => {
    const metrics = new ServiceMetrics(new Registry(), { defaultMetrics: false });
    metrics.heldFlows({ held: 4, refused: 0, expired: 1, endsAttributedLate: 2, flows: 3, bytes: 2100 });
    metrics.heldFlows({ held: 6, refused: 1, expired: 5, endsAttributedLate: 2, flows: 0, bytes: 0 });
    const { body } = await metrics.exposition();
    expect(body.split('\n').filter((l) => /^alcor_held_flow/.test(l))).toEqual([
      'alcor_held_flows 0',
      'alcor_held_flow_bytes 0',
      'alcor_held_flows_total{event="held"} 6',
      'alcor_held_flows_total{event="expired"} 5',
      'alcor_held_flows_total{event="refused"} 1',
      'alcor_held_flow_ends_attributed_total 2',
    ]);
  });
});
