/**
 * One colour and one marker per cluster id, the same in every view (scatter, tables, graph). Twelve colours
 * far apart (no two closer than ΔE 29) and six marker shapes make 72 styles: a cluster's id number picks
 * its style, and when two clusters of the run would share one, the later id takes the next free style, so
 * no two clusters on screen share both colour and marker, whatever their id numbers.
 */

export const PALETTE = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#9a6324', '#000075', '#808000', '#ffe119', '#469990'];
/** echarts symbols; the swatches draw the same shapes. */
export const MARKERS = ['circle', 'rect', 'triangle', 'diamond', 'path://M0,0L10,0L5,10Z', 'path://M3.5,0H6.5V3.5H10V6.5H6.5V10H3.5V6.5H0V3.5H3.5Z'];
const NOISE = { colour: '#b8b8b8', marker: 'circle' };
const STYLES = PALETTE.length * MARKERS.length;

const idNumber = (clusterId) => Number(/(\d+)$/.exec(clusterId ?? '')?.[1]);
const styleOf = (slot) => ({ colour: PALETTE[slot % PALETTE.length], marker: MARKERS[Math.floor(slot / PALETTE.length) % MARKERS.length] });
const byId = (a, b) => a.localeCompare(b, 'en', { numeric: true });

/** Styles of a run's clusters: `clusterIds` all at once, so that they can be told apart. */
export function clusterStyles(clusterIds) {
  const styles = new Map();
  const taken = new Set();
  for (const id of [...new Set(clusterIds)].sort(byId)) {
    const n = idNumber(id);
    if (!Number.isInteger(n)) {
      styles.set(id, NOISE);
      continue;
    }
    let slot = n % STYLES;
    while (taken.has(slot) && taken.size < STYLES) slot = (slot + 1) % STYLES;
    taken.add(slot);
    styles.set(id, styleOf(slot));
  }
  return styles;
}

let current = new Map();

/** The clusters of the run on screen: every view styles them from here. */
export function useClusters(clusterIds) {
  current = clusterStyles(clusterIds);
}

export function clusterStyle(clusterId) {
  const known = current.get(clusterId);
  if (known !== undefined) return known;
  const n = idNumber(clusterId);
  return Number.isInteger(n) ? styleOf(n % STYLES) : NOISE;
}

export function clusterColour(clusterId) {
  return clusterStyle(clusterId).colour;
}

const SVG = 'http://www.w3.org/2000/svg';
/** The markers' shapes in a 10 x 10 box, for the swatches next to cluster ids in tables. */
const SHAPES = {
  circle: ['circle', { cx: 5, cy: 5, r: 5 }],
  rect: ['rect', { x: 0.5, y: 0.5, width: 9, height: 9 }],
  triangle: ['path', { d: 'M5,0L10,10L0,10Z' }],
  diamond: ['path', { d: 'M5,0L10,5L5,10L0,5Z' }],
};

/** A small picture of the cluster's marker in its colour. */
export function swatch(clusterId) {
  const { colour, marker } = clusterStyle(clusterId);
  const [tag, attributes] = SHAPES[marker] ?? ['path', { d: marker.slice('path://'.length) }];
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', 'swatch');
  svg.setAttribute('viewBox', '0 0 10 10');
  svg.setAttribute('aria-hidden', 'true');
  svg.dataset.marker = marker;
  const shape = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) shape.setAttribute(name, String(value));
  shape.setAttribute('fill', colour);
  svg.append(shape);
  return svg;
}
