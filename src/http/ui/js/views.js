/** The dashboard's tables and detail panels, drawn from the API's responses. */
import { swatch } from './colours.js';
import { el, facts, fillTable, num, shortId, when } from './dom.js';

const clusterCell = (clusterId, names) => [swatch(clusterId), clusterId, names?.get(clusterId) ? ` · ${names.get(clusterId)}` : ''];

function distinguishing(list) {
  return list.map((d) => el('span', { class: 'feature' }, el('b', {}, d.feature), ` ${num(d.value)} vs ${num(d.overall)} (${d.z === null ? '–' : `${d.z > 0 ? '+' : ''}${num(d.z, 2)}σ`})`));
}

/**
 * VM clusters: size, name, distinguishing features. With `tenantCounts` (a tenant's view) the size column
 * counts the tenant's VMs in each cluster and only those clusters are listed.
 */
export function renderClusters(table, list, tenantCounts, onCluster) {
  const clusters = tenantCounts === null ? list.clusters : list.clusters.filter((c) => tenantCounts.has(c.cluster_id));
  const columns =
    tenantCounts === null
      ? [{ label: 'cluster', kind: 'id' }, { label: 'name' }, { label: 'VMs', num: true }, { label: 'distinguishing features' }]
      : [{ label: 'cluster', kind: 'id' }, { label: 'name' }, { label: 'tenant VMs', num: true }, { label: 'all VMs', num: true }, { label: 'distinguishing features' }];
  fillTable(
    table,
    columns,
    clusters.map((c) => ({
      dataset: { clusterId: c.cluster_id },
      onclick: () => onCluster(c.cluster_id),
      cells:
        tenantCounts === null
          ? [[swatch(c.cluster_id), c.cluster_id], c.name ?? '', num(c.size), distinguishing(c.distinguishing)]
          : [[swatch(c.cluster_id), c.cluster_id], c.name ?? '', num(tenantCounts.get(c.cluster_id)), num(c.size), distinguishing(c.distinguishing)],
    })),
  );
}

export function renderTenantClusters(table, list, onCluster) {
  fillTable(
    table,
    [{ label: 'cluster', kind: 'id' }, { label: 'name' }, { label: 'tenants', num: true }, { label: 'distinguishing features' }],
    list.clusters.map((c) => ({
      dataset: { clusterId: c.cluster_id },
      onclick: onCluster ? () => onCluster(c.cluster_id) : undefined,
      cells: [c.cluster_id, c.name ?? '', num(c.size), distinguishing(c.distinguishing)],
    })),
  );
}

/** One line per anomaly: ids and the cluster's name are cut to the column (with an ellipsis), whole on hover. */
export function renderAnomalies(table, items, names, selectedVm, onVm) {
  fillTable(
    table,
    [{ label: 'VM' }, { label: 'tenant' }, { label: 'cluster' }, { label: 'score', num: true }],
    items.map((a) => {
      const name = names?.get(a.cluster_id);
      return {
        dataset: { vmId: a.vm_id },
        selected: a.vm_id === selectedVm,
        onclick: () => onVm(a.vm_id),
        cells: [
          el('span', { title: a.vm_id }, a.vm_id),
          a.tenant_id ? el('span', { title: a.tenant_id }, a.tenant_id) : '–',
          el('span', { title: name ? `${a.cluster_id} · ${name}` : a.cluster_id }, swatch(a.cluster_id), a.cluster_id, name ? ` · ${name}` : ''),
          num(a.score),
        ],
      };
    }),
  );
}

/** The VM's place in the run, its attributes and its features over the window (cluster-distinguishing ones first). */
export function renderVmDetail(container, vm, names, clusterDescription, actions) {
  const a = vm.attributes;
  const highlighted = new Set((clusterDescription?.distinguishing ?? []).map((d) => d.feature));
  const features = Object.entries(vm.features ?? {}).sort(([x], [y]) => (highlighted.has(y) ? 1 : 0) - (highlighted.has(x) ? 1 : 0) || x.localeCompare(y));
  const featureTable = el('table', { id: 'vm-features' });
  // Every feature next to its cluster's and the fleet's means in the latest run; the ones that set the
  // cluster apart first, in bold.
  fillTable(
    featureTable,
    [{ label: 'feature (window)' }, { label: 'this VM', num: true }, { label: 'cluster', num: true }, { label: 'fleet', num: true }],
    features.map(([name, value]) => ({
      dataset: { feature: name },
      cells: [highlighted.has(name) ? el('b', {}, name) : name, num(value), num(vm.cluster_means?.[name]), num(vm.fleet_means?.[name])],
    })),
  );
  container.replaceChildren(
    el('h3', { id: 'vm-detail-id' }, vm.vm_id),
    facts([
      ['cluster', vm.cluster_id === null ? 'not in the latest run' : clusterCell(vm.cluster_id, names)],
      ['confidence', num(vm.confidence)],
      ['distance to centroid', num(vm.distance)],
      ['next-closest cluster', vm.next_cluster_id],
      ['anomaly score', num(vm.anomaly_score)],
      [
        'affinity group',
        vm.affinity_group === null ? null : el('button', { class: 'link', type: 'button', onclick: () => actions.onGroup(vm.affinity_group) }, vm.affinity_group),
      ],
      ['tenant', vm.tenant_id === null ? null : el('button', { class: 'link', type: 'button', onclick: () => actions.onTenant(vm.tenant_id) }, vm.tenant_id)],
      ['last seen', when(vm.last_seen)],
    ]),
    el('h3', {}, 'Attributes'),
    a === null
      ? el('p', { class: 'note' }, 'No attributes received yet.')
      : facts([
          ['state', a.state],
          ['vCPUs', a.vcpus],
          ['memory (MB)', a.memory_mb === null ? null : num(a.memory_mb)],
          ['CPU use', a.cpu_util === null ? null : num(a.cpu_util)],
          ['image', a.image],
          ['host', a.host_id],
          ['VPC / subnet', [a.vpc_id, a.subnet_id].filter(Boolean).join(' / ')],
          ['IP', a.ip],
          ['labels', a.labels === null ? null : Object.entries(a.labels).map(([k, v]) => `${k}=${v}`).join(', ')],
          ['as of', when(a.ts)],
        ]),
    el('h3', {}, 'Features over the window', el('small', {}, ' with the means of its cluster and of the fleet')),
    vm.features === null ? el('p', { class: 'note' }, 'No traffic in the window.') : featureTable,
  );
}

export function renderTenantDetail(container, tenant, tenantNames) {
  container.replaceChildren(
    el('h3', { id: 'tenant-detail-id' }, tenant.name ? `${tenant.name} (${tenant.tenant_id})` : tenant.tenant_id),
    facts([
      ['tenant cluster', tenant.cluster_id === null ? 'not in the latest run' : `${tenant.cluster_id}${tenantNames.get(tenant.cluster_id) ? ` · ${tenantNames.get(tenant.cluster_id)}` : ''}`],
      ['VMs in the latest run', num(tenant.vm_count)],
      ['tier', tenant.tier],
      ['deleted', tenant.deleted ? 'yes' : null],
      ['labels', tenant.labels === null ? null : Object.entries(tenant.labels).map(([k, v]) => `${k}=${v}`).join(', ')],
    ]),
  );
}

const changes = (c) => `${c.born} / ${c.died} / ${c.split} / ${c.merged}, ${c.moved} moved`;

export function renderRuns(table, runs, selectedRun, onRun) {
  fillTable(
    table,
    [
      { label: 'run', kind: 'id' },
      { label: 'computed at (event time)' },
      { label: 'reason' },
      { label: 'ms', num: true },
      { label: 'VMs', num: true },
      { label: 'k', num: true },
      { label: 'silhouette', num: true },
      { label: 'VM clusters born/died/split/merged' },
      { label: 'tenant k', num: true },
    ],
    runs.map((r) => ({
      dataset: { runId: r.run_id },
      selected: r.run_id === selectedRun,
      onclick: () => onRun(r.run_id),
      cells: [r.run_id, when(r.computed_at), r.reason, num(Math.round(r.duration_ms)), num(r.vms.count), num(r.vms.k), num(r.vms.silhouette), changes(r.vms.changes), num(r.tenants.k)],
    })),
  );
}

function eventLine(e) {
  switch (e.type) {
    case 'born':
      return `${e.cluster_id} born (${e.size})${e.from.length > 0 ? ` from ${e.from.join(', ')}` : ''}`;
    case 'died':
      return `${e.cluster_id} died${e.into.length > 0 ? `, members went to ${e.into.join(', ')}` : ''}`;
    case 'split':
      return `${e.cluster_id} split into ${e.into.join(', ')}`;
    case 'merged':
      return `${e.cluster_id} (${e.size}) merged ${e.from.join(', ')}`;
    default:
      return `${e.type} ${e.cluster_id}`;
  }
}

export function renderRunEvents(container, vmChanges, tenantChanges) {
  const side = (title, c) => [
    el('h3', {}, `${title} in ${c.run_id}${c.previous_run_id ? ` (against ${c.previous_run_id})` : ''}`),
    c.events.length === 0 ? el('p', { class: 'note' }, 'No clusters born, died, split or merged.') : el('ul', {}, c.events.map((e) => el('li', {}, eventLine(e)))),
    el('p', { class: 'note' }, `${num(c.moved_count)} moved${c.moved.length > 0 ? `, e.g. ${c.moved.slice(0, 5).map((m) => `${shortId(m.id)} ${m.from}→${m.to}`).join('; ')}` : ''}`),
  ];
  container.replaceChildren(...side('VM clusters', vmChanges), ...side('Tenant clusters', tenantChanges));
}

const HOSTS_SHOWN = 20;

/** A host's load as "used / capacity" vCPUs (capacity – when unknown). */
function load(l) {
  return `${num(l.vcpus)} / ${l.vcpus_capacity === null ? '–' : num(l.vcpus_capacity)}`;
}

/** The placement advice: its moves in order, and the hosts with the most cross-host traffic before and after. */
export function renderPlacement(movesTable, hostsTable, advice, onVm) {
  fillTable(
    movesTable,
    [{ label: 'VMs' }, { label: 'from' }, { label: 'to' }, { label: 'saves B/min', num: true }, { label: 'vCPUs on target', num: true }, { label: 'a better move, stopped by' }],
    (advice?.moves ?? []).map((m) => ({
      dataset: { vmId: m.vm_ids[0] },
      onclick: () => onVm(m.vm_ids[0]),
      cells: [
        el('span', { title: m.vm_ids.join(', ') }, m.vm_ids.length === 1 ? m.vm_ids[0] : `${m.vm_ids.length} VMs of ${m.affinity_group}`),
        m.from_host,
        m.to_host,
        num(m.bytes_per_minute_saved),
        load(m.to_load),
        m.better_blocked ? `${m.better_blocked.to_host} (${num(m.better_blocked.bytes_per_minute_saved)}): ${m.better_blocked.constraint.replaceAll('_', ' ')}` : '',
      ],
    })),
  );
  const hosts = [...(advice?.hosts ?? [])]
    .sort((a, b) => b.cross_host_bytes_per_minute_before - a.cross_host_bytes_per_minute_before || a.host_id.localeCompare(b.host_id))
    .slice(0, HOSTS_SHOWN);
  fillTable(
    hostsTable,
    [{ label: 'host' }, { label: 'vCPUs before', num: true }, { label: 'vCPUs after', num: true }, { label: 'cross-host B/min before', num: true }, { label: 'after', num: true }],
    hosts.map((h) => ({
      cells: [h.host_id, load(h.load_before), load(h.load_after), num(h.cross_host_bytes_per_minute_before), num(h.cross_host_bytes_per_minute_after)],
    })),
  );
}
