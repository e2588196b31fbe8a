/** One colour per cluster id, the same in every view (scatter, tables, graph). */

const PALETTE = [
  '#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#79706e',
  '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#aec7e8',
  '#ffbb78', '#98df8a', '#ff9896', '#c5b0d5', '#c49c94', '#f7b6d2', '#9edae5', '#dbdb8d', '#393b79', '#637939',
];
const NOISE = '#b8b8b8';

export function clusterColour(clusterId) {
  const n = Number(/(\d+)$/.exec(clusterId ?? '')?.[1]);
  return Number.isInteger(n) ? PALETTE[n % PALETTE.length] : NOISE;
}
