/**
 * Charts for reports, described in Vega-Lite and rendered by Vega in Node (no canvas: View.toSVG with the
 * 'none' renderer); PNG is the same SVG rasterised by resvg. The file name's extension picks the format.
 */
import { writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';

export type PlotFormat = 'svg' | 'png';

/** The format named by a file's extension, null when it names none. */
export function plotFormatOf(path: string): PlotFormat | null {
  const ext = extname(path).toLowerCase();
  return ext === '.svg' ? 'svg' : ext === '.png' ? 'png' : null;
}

// Vega takes seconds to load on a busy machine: only a command that draws pays for it, not `--help`.
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const [{ parse, View }, { compile }] = await Promise.all([import('vega'), import('vega-lite')]);
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Renders the chart to `path` (.svg or .png). */
export async function writePlot(spec: TopLevelSpec, path: string): Promise<void> {
  const format = plotFormatOf(path);
  if (format === null) throw new Error(`cannot tell the plot format from "${path}": name it .svg or .png`);
  const svg = await renderSvg(spec);
  if (format === 'svg') {
    await writeFile(path, svg);
    return;
  }
  const { Resvg } = await import('@resvg/resvg-js');
  // Twice the SVG's size: sharp enough to read in a report.
  const png = new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } })
    .render()
    .asPng();
  await writeFile(path, png);
}

export interface ScatterPoint {
  vm_id: string;
  x: number;
  y: number;
  truth: string;
  cluster: string;
}

const COLOURS = { scheme: 'tableau20' } as const;

/** vm-2 before vm-10: legends list ids in natural order. */
const naturalOrder = (values: Iterable<string>): string[] => [...new Set(values)].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));

/**
 * The VMs on their first two principal components, twice side by side: coloured by the truth's role, then
 * by the cluster the run gave them. A good clustering paints both panels in the same patches.
 */
export function pcaScatterSpec(points: readonly ScatterPoint[], explained: readonly [number, number], title: string): TopLevelSpec {
  const axis = (i: 0 | 1): string => `PC${i + 1} (${(explained[i] * 100).toFixed(1)}% of variance)`;
  const panel = (field: 'truth' | 'cluster', heading: string) => ({
    title: heading,
    width: 420,
    height: 420,
    mark: { type: 'point' as const, filled: true, size: 28, opacity: 0.8 },
    encoding: {
      x: { field: 'x', type: 'quantitative' as const, title: axis(0), scale: { zero: false } },
      y: { field: 'y', type: 'quantitative' as const, title: axis(1), scale: { zero: false } },
      color: {
        field,
        type: 'nominal' as const,
        scale: { ...COLOURS, domain: naturalOrder(points.map((p) => p[field])) },
        legend: { columns: 2, symbolLimit: 0 },
      },
      description: { field: 'vm_id', type: 'nominal' as const },
    },
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    data: { values: points.map((p) => ({ ...p })) },
    hconcat: [panel('truth', 'coloured by truth (role)'), panel('cluster', 'coloured by cluster')],
    resolve: { scale: { color: 'independent' } },
    background: 'white',
  };
}

export interface ThroughputSample {
  /** Seconds since the start. */
  seconds: number;
  recordsPerSec: number;
}

/** Records per second over the run of a command, with the clustering runs as vertical rules. */
export function throughputSpec(samples: readonly ThroughputSample[], runsAt: readonly number[], title: string): TopLevelSpec {
  const line = {
    data: { values: samples.map((s) => ({ seconds: s.seconds, records_per_s: s.recordsPerSec })) },
    mark: { type: 'line' as const, point: true },
    encoding: {
      x: { field: 'seconds', type: 'quantitative' as const, title: 'seconds since start' },
      y: { field: 'records_per_s', type: 'quantitative' as const, title: 'records/s' },
    },
  };
  const rules = {
    data: { values: runsAt.map((seconds) => ({ seconds })) },
    mark: { type: 'rule' as const, color: '#d62728', strokeDash: [4, 3] },
    encoding: { x: { field: 'seconds', type: 'quantitative' as const } },
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, subtitle: runsAt.length > 0 ? 'dashed: a clustering run ended' : '' },
    width: 640,
    height: 280,
    layer: runsAt.length > 0 ? [line, rules] : [line],
    background: 'white',
  };
}

export interface BarValue {
  label: string;
  value: number;
}

export interface SeriesPoint {
  series: string;
  x: number;
  y: number;
}

/**
 * The benchmark's figures at a glance: throughput of each ingest path as bars, and each stage's time
 * against the number of VMs (log scale: the stages span four orders of magnitude). Either part may be empty.
 */
export function benchSpec(throughput: readonly BarValue[], stages: readonly SeriesPoint[], title: string): TopLevelSpec {
  const parts: object[] = [];
  if (throughput.length > 0) {
    parts.push({
      title: 'throughput (records/s)',
      width: 520,
      data: { values: throughput.map((t) => ({ ...t })) },
      mark: { type: 'bar' as const },
      encoding: {
        y: { field: 'label', type: 'nominal' as const, sort: null, title: null, axis: { labelLimit: 320 } },
        x: { field: 'value', type: 'quantitative' as const, title: 'records/s' },
      },
    });
  }
  if (stages.length > 0) {
    parts.push({
      title: 'clustering run stages by fleet size (ms, log scale)',
      width: 520,
      height: 300,
      data: { values: stages.map((s) => ({ ...s })) },
      mark: { type: 'line' as const, point: true },
      encoding: {
        x: { field: 'x', type: 'quantitative' as const, title: 'VMs' },
        y: { field: 'y', type: 'quantitative' as const, title: 'ms', scale: { type: 'log' as const } },
        color: { field: 'series', type: 'nominal' as const, scale: COLOURS, title: 'stage', legend: { labelLimit: 320 } },
      },
    });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    vconcat: parts,
    background: 'white',
  } as TopLevelSpec;
}
