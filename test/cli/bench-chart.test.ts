import { describe, expect, it } from 'vitest';
import { benchChartSpec, benchStages, benchThroughput } from '../../src/cli/bench-chart.ts';
import { renderSvg } from '../../src/cli/plots.ts';

const figures = {
  started: '2026-11-25T13:46:31.885Z',
  replay: { json_parse_records_per_s: 759887, ingest_records_per_s: 260090, replay_end_to_end: { seconds: 22.7, records_per_s: 44057 } },
  kafka_ingest: { arrays_of_100: { records_per_s: 342280 } },
  scale: {
    sizes: [
      { vms: 10000, pca_ms: 78, kmeans_auto_k_stages_ms: { kmeans: 1 }, dbscan_clusters: 42, identity_match_ms: 0 },
      { vms: 50000, pca_ms: 210 },
    ],
  },
};

describe('the bench chart', () => {
  it('takes the records/s of each ingest path that was measured, in a fixed order', () => {
    expect(benchThroughput(figures)).toEqual([
      { label: 'read + gunzip + JSON.parse (bare)', value: 759887 },
      { label: 'pipeline ingest', value: 260090 },
      { label: 'replay end to end, with clustering', value: 44057 },
      { label: 'Kafka ingest, arrays of 100', value: 342280 },
    ]);
  });

  it('takes every positive *_ms figure of the scale section against the VMs', () => {
    expect(benchStages(figures)).toEqual([
      { series: 'pca', x: 10000, y: 78 },
      { series: 'pca', x: 50000, y: 210 },
    ]);
  });

  it('renders one bar per ingest path and one point per stage figure, and copes with an empty document', async () => {
    const svg = await renderSvg(benchChartSpec(figures));
    const marks = (role: string) => [...svg.matchAll(new RegExp(`<g class="mark-${role} role-mark[^"]*"[^>]*>(.*?)</g>`, 'g'))].map((m) => m[1]!.match(/<path /g)?.length ?? 0);
    expect(marks('rect')).toEqual([4]);
    expect(marks('symbol')).toEqual([2]);
    expect(await renderSvg(benchChartSpec({}))).toMatch(/^<svg /);
  });
});
