/**
 * The dashboard: loads the latest run's views from /v1, redraws them when a new run lands (polls /v1/runs),
 * and follows the user's selection (a VM, an affinity group, a tenant, a run). Every view loads on its own;
 * a failure shows one message at the top and leaves the other views as they were.
 */
import { apiKey, explain, get, getAll, setApiKey } from './api.js';
import { clearChart, drawAffinity, drawRuns, drawScatter } from './charts.js';
import { useClusters } from './colours.js';
import { el, num, when } from './dom.js';
import { renderSecurityGroups } from './security-groups.js';
import { renderAnomalies, renderClusters, renderPlacement, renderRunEvents, renderRuns, renderTenantClusters, renderTenantDetail, renderVmDetail } from './views.js';

const params = new URLSearchParams(location.search);
// `?poll=<ms>` (at least 500) lets a test see a new run land without waiting the default 5 s.
const POLL_MS = Math.max(500, Number(params.get('poll')) || 5000);
const SCATTER_POINTS = 5000;
const ANOMALIES_SHOWN = 20;

const $ = (id) => document.getElementById(id);

const state = {
  tenant: params.get('tenant') ?? '',
  // `?vm=<vm_id>` opens the page on that VM: a selection can be linked to.
  vmId: params.get('vm') || null,
  groupId: '',
  runId: null,
  selectedRun: null,
  vmClusters: null,
  vmNames: new Map(),
  tenantNames: new Map(),
  projection: null,
};

// ---- messages ---------------------------------------------------------------------------------------------

function showMessage(text) {
  const box = $('message');
  box.textContent = text;
  box.hidden = text === '';
}

/** Runs the loaders side by side; the first failure (if any) is what the user is told. */
async function settle(...loaders) {
  const results = await Promise.allSettled(loaders.map((load) => load()));
  const failed = results.find((r) => r.status === 'rejected');
  showMessage(failed ? explain(failed.reason) : '');
  return failed === undefined;
}

// ---- loaders, one per view --------------------------------------------------------------------------------

async function loadClusters() {
  const [vms, tenants] = await Promise.all([get('/v1/clusters/vms'), get('/v1/clusters/tenants')]);
  state.vmClusters = vms;
  useClusters(vms.clusters.map((c) => c.cluster_id));
  state.vmNames = new Map(vms.clusters.filter((c) => c.name).map((c) => [c.cluster_id, c.name]));
  state.tenantNames = new Map(tenants.clusters.filter((c) => c.name).map((c) => [c.cluster_id, c.name]));
  let counts = null;
  if (state.tenant !== '') {
    const { items, complete } = await getAll('/v1/vms', { tenant_id: state.tenant });
    counts = new Map();
    for (const v of items) counts.set(v.cluster_id, (counts.get(v.cluster_id) ?? 0) + 1);
    $('clusters-note').textContent = `${items.length} VMs of tenant ${state.tenant}${complete ? '' : ' (first pages only)'} by VM cluster.`;
  } else {
    const q = vms.quality;
    $('clusters-note').textContent = `${vms.algorithm}, k = ${q.k}, silhouette ${q.silhouette === null ? '–' : q.silhouette.toFixed(3)}${q.noise > 0 ? `, ${q.noise} noise` : ''}.`;
  }
  $('clusters-title').textContent = state.tenant === '' ? 'VM clusters' : `VM clusters of tenant ${state.tenant}`;
  renderClusters($('clusters'), vms, counts, selectCluster);
  renderTenantClusters($('tenant-clusters'), tenants, null);
}

async function loadScatter() {
  const projection = await get('/v1/vm-projection', { limit: SCATTER_POINTS, tenant_id: state.tenant });
  state.projection = projection;
  const shown = projection.vm_id.length;
  $('scatter-note').textContent =
    shown === 0 && projection.total > 0
      ? 'This run has no projection (it was restored from a saved model); the next run will have one.'
      : `${shown.toLocaleString('en')} of ${projection.total.toLocaleString('en')} VMs${projection.sampled ? ' (a fixed sample)' : ''}; PC1 and PC2 explain ${Math.round((projection.explained[0] + projection.explained[1]) * 100)}% of the variance.`;
  const outside = drawScatter($('scatter'), projection, state.vmNames, state.vmId, selectVm);
  if (outside > 0) {
    $('scatter-note').textContent += ` The axes span the 1st to 99th percentiles: ${outside.toLocaleString('en')} VM${outside === 1 ? ' lies' : 's lie'} beyond, drawn outlined on the edge.`;
  }
  $('scatter').dataset.points = String(shown);
}

async function loadAnomalies() {
  // The API ranks the whole fleet; a tenant's view keeps its own VMs of the top 1000.
  const list = await get('/v1/anomalies', { limit: state.tenant === '' ? ANOMALIES_SHOWN : 1000 });
  const items = state.tenant === '' ? list.items : list.items.filter((a) => a.tenant_id === state.tenant).slice(0, ANOMALIES_SHOWN);
  $('anomalies-note').textContent = state.tenant === '' ? '' : `Tenant ${state.tenant}'s VMs among the fleet's 1,000 most anomalous.`;
  renderAnomalies($('anomalies'), items, state.vmNames, state.vmId, selectVm);
}

async function loadPlacement() {
  const advice = await get('/v1/placement').catch((err) => {
    if (err.code === 'no_placement') return null;
    throw err;
  });
  if (advice === null) {
    $('placement-note').textContent = 'This run has no placement advice (it was not computed from traffic).';
    renderPlacement($('placement-moves'), $('placement-hosts'), null, selectVm);
    return;
  }
  const { before, after } = advice.cross_host_bytes_per_minute;
  const share = before > 0 ? ` (${(((before - after) / before) * 100).toFixed(1)}% less)` : '';
  $('placement-note').textContent =
    advice.moves.length === 0
      ? `No moves: ${advice.no_moves_reason.replaceAll('_', ' ')}. Cross-host traffic ${num(before)} B/min.`
      : `${advice.migrations} of at most ${advice.max_moves} migrations cut cross-host traffic from ${num(before)} to ${num(after)} B/min${share}.${state.tenant !== '' && apiKey() === '' ? ' Fleet-wide: a tenant key shows only its own VMs.' : ''}`;
  renderPlacement($('placement-moves'), $('placement-hosts'), advice, selectVm);
}

async function loadSecurityGroups() {
  const doc = await get('/v1/security-groups', { tenant_id: state.tenant });
  renderSecurityGroups($('security-groups'), $('security-groups-note'), doc, state.tenant);
}

async function loadGroups() {
  const list = await get('/v1/affinity-groups', { limit: 200 }).catch((err) => {
    if (err.code === 'no_affinity') return { groups: [] };
    throw err;
  });
  const select = $('group-select');
  select.replaceChildren(
    el('option', { value: '' }, "(the selected VM's peers)"),
    ...list.groups.map((g) => el('option', { value: g.group_id, selected: g.group_id === state.groupId }, `${g.group_id} (${g.size} VMs)`)),
  );
}

async function loadVm() {
  if (state.vmId === null) return;
  const vm = await get(`/v1/vms/${encodeURIComponent(state.vmId)}`);
  const description = state.vmClusters?.clusters.find((c) => c.cluster_id === vm.cluster_id) ?? null;
  renderVmDetail($('vm-detail'), vm, state.vmNames, description, { onGroup: selectGroup, onTenant: selectTenant });
}

async function loadAffinity() {
  const query = state.groupId !== '' ? { group_id: state.groupId } : state.vmId !== null ? { vm_id: state.vmId } : null;
  if (query === null) {
    clearChart($('affinity'));
    $('affinity-note').textContent = 'Select a VM or a group.';
    return;
  }
  const graph = await get('/v1/affinity-graph', { ...query, limit: 80 });
  const focus = graph.focus.group_id ?? `VM ${graph.focus.vm_id}`;
  $('affinity-note').textContent = `${focus}: ${graph.nodes.length} of ${graph.total_nodes} VMs, ${graph.edges.length} traffic links (thicker: more bytes). Click a node for its detail.`;
  drawAffinity($('affinity'), graph, selectVm);
}

async function loadTenant() {
  const panel = $('tenant-panel');
  panel.hidden = state.tenant === '';
  if (state.tenant === '') return;
  const tenant = await get(`/v1/tenants/${encodeURIComponent(state.tenant)}`);
  renderTenantDetail($('tenant-detail'), tenant, state.tenantNames);
}

async function loadTenantPicker() {
  const { items } = await getAll('/v1/tenants', {});
  const select = $('tenant-select');
  select.replaceChildren(
    el('option', { value: '' }, 'All tenants'),
    ...items
      .map((t) => ({ ...t, label: t.name ? `${t.name} (${t.vm_count} VMs)` : `${t.tenant_id} (${t.vm_count} VMs)` }))
      .sort((a, b) => a.label.localeCompare(b.label, 'en', { numeric: true }))
      .map((t) => el('option', { value: t.tenant_id, selected: t.tenant_id === state.tenant, title: t.tenant_id }, t.label)),
  );
}

async function loadRunEvents() {
  if (state.selectedRun === null) return;
  const path = `/v1/runs/${encodeURIComponent(state.selectedRun)}/changes`;
  const [vms, tenants] = await Promise.all([get(path, { side: 'vms', limit: 5 }), get(path, { side: 'tenants', limit: 5 })]);
  renderRunEvents($('run-events'), vms, tenants);
}

function renderRunList(runs) {
  renderRuns($('runs'), runs, state.selectedRun, selectRun);
  drawRuns($('runs-chart'), runs);
}

// ---- refresh ----------------------------------------------------------------------------------------------

async function refreshAll() {
  const ok = await settle(async () => {
    const { runs } = await get('/v1/runs');
    renderRunList(runs);
    state.runId = runs[0]?.run_id ?? null;
    const r = runs[0];
    $('run-status').textContent = r ? `${r.run_id} · ${when(r.computed_at)} · ${r.vms.count} VMs · ${r.tenants.count} tenants` : 'no run yet';
  });
  if (!ok) {
    $('run-status').textContent = 'not loaded';
    return;
  }
  // The cluster names colour the other views' labels: they load first.
  const clustersOk = await settle(loadClusters);
  if (!clustersOk) return;
  const allOk = await settle(loadScatter, loadAnomalies, loadPlacement, loadSecurityGroups, loadGroups, loadVm, loadAffinity, loadTenant, loadTenantPicker, loadRunEvents);
  if (allOk && state.runId !== null) document.body.dataset.runId = state.runId;
}

/** Cheap check for a new run; everything is reloaded only when one has landed. */
async function poll() {
  try {
    const { runs } = await get('/v1/runs');
    const newest = runs[0]?.run_id ?? null;
    if (newest !== state.runId || document.body.dataset.runId !== newest) await refreshAll();
    else renderRunList(runs);
  } catch (err) {
    showMessage(explain(err));
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

// ---- selection --------------------------------------------------------------------------------------------

/** Keeps the page's address in step with the selection, so that it can be linked to or reloaded. */
function setParam(name, value) {
  const url = new URL(location.href);
  if (value === '' || value === null) url.searchParams.delete(name);
  else url.searchParams.set(name, value);
  history.replaceState(null, '', url);
}

function selectVm(vmId) {
  state.vmId = vmId;
  state.groupId = '';
  $('group-select').value = '';
  setParam('vm', vmId);
  settle(
    async () => {
      await loadVm();
      // The detail may be far from what was clicked (an anomaly, a table row): bring it into view, at its top.
      const panel = $('detail-panel');
      panel.scrollTop = 0;
      panel.scrollIntoView({ block: 'nearest' });
    },
    loadAffinity,
    loadAnomalies,
    async () => {
      if (state.projection !== null) drawScatter($('scatter'), state.projection, state.vmNames, state.vmId, selectVm);
    },
  );
}

function selectGroup(groupId) {
  state.groupId = groupId;
  $('group-select').value = groupId;
  settle(loadAffinity);
}

function selectTenant(tenantId) {
  state.tenant = tenantId;
  $('tenant-select').value = tenantId;
  setParam('tenant', tenantId);
  refreshAll();
}

function selectCluster(clusterId) {
  // A cluster row picks its first member shown in the scatter, so its detail and peers are one click away.
  const i = state.projection?.cluster_id.indexOf(clusterId) ?? -1;
  if (i >= 0) selectVm(state.projection.vm_id[i]);
}

function selectRun(runId) {
  state.selectedRun = runId;
  settle(loadRunEvents, async () => {
    const { runs } = await get('/v1/runs');
    renderRunList(runs);
  });
}

// ---- start ------------------------------------------------------------------------------------------------

$('api-key').value = apiKey();
$('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  setApiKey($('api-key').value.trim());
  refreshAll();
});
$('key-forget').addEventListener('click', () => {
  $('api-key').value = '';
  setApiKey('');
  refreshAll();
});
$('tenant-select').addEventListener('change', (event) => selectTenant(event.target.value));
$('group-select').addEventListener('change', (event) => selectGroup(event.target.value));

refreshAll().finally(() => setTimeout(poll, POLL_MS));
