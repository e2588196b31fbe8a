/** Small DOM helpers: elements from data (text only, never HTML strings, so ids cannot inject markup). */

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'onclick') node.addEventListener('click', value);
    else if (name === 'dataset') Object.assign(node.dataset, value);
    else if (name === 'style') Object.assign(node.style, value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const columnClass = (c) => [c?.num ? 'num' : '', c?.kind ?? ''].join(' ').trim() || undefined;

/**
 * Replace a table's content: `columns` are `{ label, num?, kind? }` (`kind`: a class for the column's cells,
 * e.g. `id` for ids that stay whole), each row `{ cells, onclick?, selected?, dataset? }`.
 */
export function fillTable(table, columns, rows) {
  table.replaceChildren(
    el('thead', {}, el('tr', {}, columns.map((c) => el('th', { class: columnClass(c) }, c.label)))),
    el(
      'tbody',
      {},
      rows.map((r) =>
        el(
          'tr',
          { class: [r.onclick ? 'clickable' : '', r.selected ? 'selected' : ''].join(' ').trim() || undefined, onclick: r.onclick, dataset: r.dataset },
          r.cells.map((cell, i) => el('td', { class: columnClass(columns[i]) }, cell)),
        ),
      ),
    ),
  );
}

/** A definition list of label/value pairs, skipping empty values. */
export function facts(pairs) {
  return el(
    'dl',
    { class: 'facts' },
    pairs.filter(([, v]) => v !== undefined && v !== null && v !== '').flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]),
  );
}

export function num(value, digits = 3) {
  if (value === null || value === undefined) return '–';
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return value.toLocaleString('en');
  // 4.81e-8 rather than 0.0000000481: a figure keeps to its column.
  if (Math.abs(value) < 1e-3) return Number(value.toPrecision(digits)).toExponential();
  return Number(value.toPrecision(digits)).toLocaleString('en', { maximumSignificantDigits: digits });
}

export function when(iso) {
  return iso === null || iso === undefined ? '–' : iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC');
}

export function shortId(id, length = 13) {
  return id.length > length ? `${id.slice(0, length)}…` : id;
}
