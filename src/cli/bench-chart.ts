/**
 * The chart of a benchmark results document (bench/results/latest.json): records/s of each ingest path,
 * and every stage time (`*_ms`) of the scale section against the number of VMs. Sections that are missing
 * (a partial or failed run) are left out of the chart.
 */
import { z } from 'zod';
import { type BarValue, benchSpec, type SeriesPoint } from './plots.ts';
import type { TopLevelSpec } from 'vega-lite';

const Rate = z.object({ records_per_s: z.number() });
const Figures = z.object({
  started: z.string().optional(),
  replay: z
    .object({
      json_parse_records_per_s: z.number().optional(),
      ingest_records_per_s: z.number().optional(),
      replay_end_to_end: Rate.optional(),
    })
    .optional()
    .catch(undefined),
  kafka_ingest: z.object({ single_record_messages: Rate.optional(), arrays_of_100: Rate.optional() }).optional().catch(undefined),
  scale: z
    .object({ sizes: z.array(z.record(z.string(), z.unknown())) })
    .optional()
    .catch(undefined),
});

export function benchThroughput(figures: unknown): BarValue[] {
  const f = Figures.parse(figures);
  const bars: Array<[string, number | undefined]> = [
    ['read + gunzip + JSON.parse (bare)', f.replay?.json_parse_records_per_s],
    ['pipeline ingest', f.replay?.ingest_records_per_s],
    ['replay end to end, with clustering', f.replay?.replay_end_to_end?.records_per_s],
    ['Kafka ingest, single-record messages', f.kafka_ingest?.single_record_messages?.records_per_s],
    ['Kafka ingest, arrays of 100', f.kafka_ingest?.arrays_of_100?.records_per_s],
  ];
  return bars.filter((b): b is [string, number] => b[1] !== undefined).map(([label, value]) => ({ label, value }));
}

export function benchStages(figures: unknown): SeriesPoint[] {
  const f = Figures.parse(figures);
  const points: SeriesPoint[] = [];
  for (const size of f.scale?.sizes ?? []) {
    const vms = size.vms;
    if (typeof vms !== 'number') continue;
    for (const [key, value] of Object.entries(size)) {
      // Zero or negative times cannot sit on a log scale (and mean "not measured" here).
      if (key.endsWith('_ms') && typeof value === 'number' && value > 0) points.push({ series: key.slice(0, -3), x: vms, y: value });
    }
  }
  return points;
}

export function benchChartSpec(figures: unknown): TopLevelSpec {
  const f = Figures.parse(figures);
  return benchSpec(benchThroughput(figures), benchStages(figures), `npm run bench${f.started ? `, ${f.started.slice(0, 10)}` : ''}`);
}
