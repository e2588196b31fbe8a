/**
 * The security groups view: for one tenant (the one selected, or a tenant key's own), its recommended groups
 * with their rules, and what the check against the latest window would deny. Without a tenant, the fleet's
 * figures and a hint to pick one.
 */
import { el, fillTable } from './dom.js';

const pct = (share) => (share === null || share === undefined ? '–' : `${(100 * share).toFixed(2)} %`);
const int = (n) => Number(n).toLocaleString('en-US');

function ports(r) {
  if (r.port_range_min === null) return 'any';
  return r.port_range_min === r.port_range_max ? String(r.port_range_min) : `${r.port_range_min}-${r.port_range_max}`;
}

function checkLine(check) {
  return `Latest window: ${pct(check.all.share_bytes_allowed)} of bytes and ${pct(check.all.share_flows_allowed)} of flows allowed; normal VM-to-VM ${pct(check.normal_vm_to_vm.share_bytes_allowed)} of bytes; ${int(check.all.flows_denied)} flows denied (${int(check.from_anomalous.flows_denied)} from anomalous VMs).`;
}

/** `doc`: the body of GET /v1/security-groups; `tenant`: the tenant to show ('' for none selected). */
export function renderSecurityGroups(container, note, doc, tenant) {
  const t = tenant === '' ? (doc.summary === null ? doc.tenants[0] : undefined) : doc.tenants.find((x) => x.tenant_id === tenant);
  if (t === undefined) {
    const s = doc.summary;
    note.textContent = s
      ? `${int(s.groups)} groups, ${int(s.rules)} rules over ${int(s.tenants)} tenants. Latest window: ${pct(s.check.share_bytes_allowed)} of bytes allowed (normal VM-to-VM ${pct(s.check_normal_vm_to_vm.share_bytes_allowed)}). Select a tenant to see its groups.`
      : 'No security groups for this tenant.';
    container.replaceChildren();
    return;
  }
  note.textContent = `${t.security_groups.length} groups, ${t.rule_count} rules. ${checkLine(t.check)} ${t.notes.join(' ')}`;
  const rules = el('table', { class: 'sg-rules' });
  fillTable(
    rules,
    [{ label: 'group' }, { label: 'VMs', num: true }, { label: 'direction' }, { label: 'protocol' }, { label: 'ports' }, { label: 'remote' }, { label: 'learned from (VMs · flows · bytes)', num: true }],
    t.security_groups.flatMap((g) =>
      g.security_group_rules.length === 0
        ? [{ cells: [g.name, int(g.vm_ids.length), '–', '–', '–', g.note ?? 'no rules', '–'] }]
        : g.security_group_rules.map((r) => ({
            cells: [
              el('span', { title: g.description }, g.name),
              int(g.vm_ids.length),
              r.direction,
              `${r.protocol} ${r.ethertype}`,
              r.basis === 'port_range' || r.basis === 'port_spread' ? `${ports(r)} (range)` : ports(r),
              r.remote_group_id ?? r.remote_ip_prefix,
              `${int(r.learned_from.vms)} · ${int(r.learned_from.flows)} · ${int(r.learned_from.bytes)}`,
            ],
          })),
    ),
  );
  const denied = el('table', { class: 'sg-denied' });
  fillTable(
    denied,
    [{ label: 'would deny: client' }, { label: 'server' }, { label: 'protocol' }, { label: 'port', num: true }, { label: 'flows', num: true }, { label: 'bytes', num: true }, { label: 'why' }],
    t.check.denied.map((d) => ({
      cells: [d.client, d.server, d.protocol, d.port ?? '–', int(d.flows), int(d.bytes), `${d.reason}${d.anomalous ? ' · anomalous' : ''}`],
    })),
  );
  container.replaceChildren(rules, t.check.denied.length > 0 ? denied : el('p', { class: 'note' }, 'The rules would deny nothing of the latest window.'));
}
