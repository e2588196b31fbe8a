/**
 * The three charts (echarts, vendored from node_modules by the service): the VMs' scatter in PCA space, the
 * affinity graph and the runs' quality over time. Each is drawn into its element and redrawn in place.
 */
import * as echarts from '../vendor/echarts.esm.min.mjs';
import { clusterStyle } from './colours.js';
import { shortId } from './dom.js';

/** Tooltips are HTML: ids and names come from the fleet's records, so they are escaped. */
const esc = (text) => echarts.format.encodeHTML(String(text ?? ''));

function chartIn(element) {
  return echarts.getInstanceByDom(element) ?? echarts.init(element, null, { renderer: 'canvas' });
}

addEventListener('resize', () => {
  for (const element of document.querySelectorAll('.chart')) echarts.getInstanceByDom(element)?.resize();
});

/** Share of the points left out of each axis range at either end: one far outlier must not squash the rest. */
const TAIL = 0.01;
/** Room around the range, as a share of it. */
const PAD = 0.08;

/**
 * An axis range from the 1st to the 99th percentile, padded, but never wider than the data itself (plus a
 * little room): an outlier is drawn on the edge instead of stretching the axis a hundred times.
 */
export function robustRange(values) {
  const sorted = Float64Array.from(values).sort();
  if (sorted.length === 0) return { min: -1, max: 1 };
  const at = (q) => sorted[Math.round(q * (sorted.length - 1))];
  const lo = at(TAIL);
  const hi = at(1 - TAIL);
  const span = hi - lo || Math.abs(hi) || 1;
  const min = Math.max(lo - PAD * span, sorted[0] - (PAD / 2) * span);
  const max = Math.min(hi + PAD * span, sorted[sorted.length - 1] + (PAD / 2) * span);
  return { min, max };
}

const clamp = (v, range) => Math.min(range.max, Math.max(range.min, v));
const axisLabel = { formatter: (v) => String(Number(v.toPrecision(3))) };

/**
 * `projection` as /v1/vm-projection sends it; `names` maps cluster ids to names; clicks call onVm(vmId).
 * Returns how many VMs lie beyond the axes' ranges (drawn on the edge, outlined).
 */
export function drawScatter(element, projection, names, selectedVm, onVm) {
  const xRange = robustRange(projection.x);
  const yRange = robustRange(projection.y);
  const byCluster = new Map();
  let outside = 0;
  projection.vm_id.forEach((vmId, i) => {
    const clusterId = projection.cluster_id[i];
    if (!byCluster.has(clusterId)) byCluster.set(clusterId, []);
    const x = clamp(projection.x[i], xRange);
    const y = clamp(projection.y[i], yRange);
    const beyond = x !== projection.x[i] || y !== projection.y[i];
    if (beyond) outside++;
    byCluster.get(clusterId).push({ name: vmId, value: [x, y], itemStyle: beyond ? { borderColor: '#111', borderWidth: 1.5, opacity: 1 } : undefined });
  });
  const order = [...byCluster.keys()].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const series = order.map((clusterId) => {
    const style = clusterStyle(clusterId);
    return {
      type: 'scatter',
      name: clusterId,
      data: byCluster.get(clusterId),
      symbol: style.marker,
      symbolSize: 8,
      itemStyle: { color: style.colour, opacity: 0.8 },
      emphasis: { focus: 'series' },
    };
  });
  const selected = projection.vm_id.indexOf(selectedVm);
  if (selected >= 0) {
    series.push({
      type: 'scatter',
      name: 'selected',
      data: [{ name: selectedVm, value: [clamp(projection.x[selected], xRange), clamp(projection.y[selected], yRange)] }],
      symbolSize: 18,
      itemStyle: { color: 'rgba(0,0,0,0)', borderColor: '#111', borderWidth: 2.5 },
      z: 10,
      tooltip: { show: false },
    });
  }
  const chart = chartIn(element);
  chart.setOption(
    {
      animation: false,
      grid: { left: 50, right: 20, top: 40, bottom: 40 },
      // Square icons, so that each legend entry shows its cluster's marker undistorted.
      legend: { type: 'scroll', top: 0, data: order, itemWidth: 12, itemHeight: 12 },
      tooltip: {
        trigger: 'item',
        formatter: (p) => `<b>${esc(p.name)}</b><br>${esc(p.seriesName)}${names.get(p.seriesName) ? ` · ${esc(names.get(p.seriesName))}` : ''}`,
      },
      xAxis: { type: 'value', name: `PC1 (${Math.round(projection.explained[0] * 100)}%)`, nameLocation: 'middle', nameGap: 25, ...xRange, axisLabel },
      yAxis: { type: 'value', name: `PC2 (${Math.round(projection.explained[1] * 100)}%)`, nameLocation: 'middle', nameGap: 35, ...yRange, axisLabel },
      series,
    },
    { notMerge: true },
  );
  chart.off('click');
  chart.on('click', (p) => {
    if (p.componentType === 'series' && p.seriesName !== 'selected') onVm(p.name);
  });
  return outside;
}

/** `graph` as /v1/affinity-graph sends it; clicks on a node call onVm(vmId). */
export function drawAffinity(element, graph, onVm) {
  const clusters = [...new Set(graph.nodes.map((n) => n.cluster_id))].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const degree = new Map();
  for (const e of graph.edges) {
    degree.set(e.source, (degree.get(e.source) ?? 0) + 1);
    degree.set(e.target, (degree.get(e.target) ?? 0) + 1);
  }
  const heaviest = Math.max(1, ...graph.edges.map((e) => Math.log1p(e.bytes)));
  const chart = chartIn(element);
  chart.setOption(
    {
      animation: false,
      legend: { type: 'scroll', top: 0, data: clusters, itemWidth: 12, itemHeight: 12 },
      tooltip: {
        formatter: (p) =>
          p.dataType === 'edge'
            ? `${esc(shortId(p.data.source))} ↔ ${esc(shortId(p.data.target))}<br>${Math.round(p.data.value).toLocaleString('en')} bytes`
            : `<b>${esc(p.data.id)}</b><br>${esc(p.data.cluster)} · ${esc(p.data.group)}${p.data.tenant ? `<br>tenant ${esc(p.data.tenant)}` : ''}`,
      },
      series: [
        {
          type: 'graph',
          layout: 'force',
          roam: true,
          draggable: true,
          force: { repulsion: 120, edgeLength: [30, 120], gravity: 0.08, layoutAnimation: false },
          categories: clusters.map((c) => ({ name: c, symbol: clusterStyle(c).marker, itemStyle: { color: clusterStyle(c).colour } })),
          data: graph.nodes.map((n) => {
            const focus = n.vm_id === graph.focus.vm_id;
            return {
              id: n.vm_id,
              name: shortId(n.vm_id, 8),
              category: clusters.indexOf(n.cluster_id),
              cluster: n.cluster_id,
              group: n.group_id,
              tenant: n.tenant_id,
              symbolSize: focus ? 22 : 8 + Math.min(12, 2 * Math.sqrt(degree.get(n.vm_id) ?? 0)),
              itemStyle: focus ? { borderColor: '#111', borderWidth: 2 } : undefined,
              label: { show: focus },
            };
          }),
          links: graph.edges.map((e) => ({
            source: e.source,
            target: e.target,
            value: e.bytes,
            lineStyle: { width: 0.5 + (3 * Math.log1p(e.bytes)) / heaviest, opacity: 0.6 },
          })),
          emphasis: { focus: 'adjacency' },
        },
      ],
    },
    { notMerge: true },
  );
  chart.off('click');
  chart.on('click', (p) => {
    if (p.dataType === 'node') onVm(p.data.id);
  });
}

export function clearChart(element) {
  echarts.getInstanceByDom(element)?.clear();
}

/** k and silhouette of the VM clustering over the recent runs (`runs` newest first, as /v1/runs sends them). */
export function drawRuns(element, runs) {
  const ordered = [...runs].reverse();
  chartIn(element).setOption(
    {
      animation: false,
      grid: { left: 45, right: 50, top: 30, bottom: 25 },
      legend: { top: 0, data: ['VM clusters (k)', 'VM silhouette'] },
      tooltip: { trigger: 'axis' },
      xAxis: { type: 'category', data: ordered.map((r) => r.run_id) },
      yAxis: [
        { type: 'value', name: 'k', minInterval: 1 },
        { type: 'value', name: 'silhouette', min: 0, max: 1 },
      ],
      series: [
        { type: 'line', name: 'VM clusters (k)', data: ordered.map((r) => r.vms.k), step: 'middle' },
        { type: 'line', name: 'VM silhouette', yAxisIndex: 1, data: ordered.map((r) => r.vms.silhouette) },
      ],
    },
    { notMerge: true },
  );
}
