import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FlowRecord } from '../../src/contract/records.ts';
import { ruleMatches } from '../../src/security-groups/check.ts';
import { ConnectionLog } from '../../src/security-groups/connection-log.ts';
import { defaultSecurityGroupOptions, type Membership, protocolName, recommendInSlices, recommendSecurityGroups, SLICE_ROWS } from '../../src/security-groups/recommend.ts';
import type { SecurityGroupRule } from '../../src/security-groups/types.ts';
import { flowBetween } from '../helpers/records.ts';

const T0 = Date.UTC(2026, 10, 1);
const MIN = 60_000;
const WINDOW = 15 * MIN;
/** The watermark: the check window is [45, 60) minutes; what is earlier is learned from. */
const END = T0 + 60 * MIN - 1;

interface Vm {
  id: string;
  tenant: string | null;
  cluster: string;
  ip: string;
  score?: number;
}

function flow(ts: number, src: Vm | string, dst: Vm | string, sp: number, dp: number, protocol = 6, bytes = 1000): FlowRecord {
  return flowBetween(ts, src, dst, sp, dp, protocol, bytes);
}

/** A request and its reply, once a minute for `minutes` minutes from `from`, from a new ephemeral port each time. */
function talk(log: ConnectionLog, client: Vm | string, server: Vm | string, port: number, from: number, minutes: number, protocol = 6): void {
  for (let m = 0; m < minutes; m++) {
    const ts = from + m * MIN;
    const ephemeral = 32_768 + ((port * 7 + m * 131 + (from / MIN) * 17) % 28_000);
    log.add(flow(ts, client, server, ephemeral, port, protocol, 200));
    log.add(flow(ts, server, client, port, ephemeral, protocol, 5000));
  }
}

function membership(vms: readonly Vm[]): Membership {
  return {
    runId: 'run-1',
    computedAt: END,
    vmIds: vms.map((v) => v.id),
    clusterIds: vms.map((v) => v.cluster),
    vmTenants: vms.map((v) => v.tenant),
    anomalyScores: Float64Array.from(vms, (v) => v.score ?? 1),
    clusterNames: new Map(),
  };
}

const vm = (id: string, tenant: string | null, cluster: string, n: number, score?: number): Vm => ({ id, tenant, cluster, ip: `10.0.0.${n}`, score });
const a1 = vm('a1', 't1', 'vm-app', 1);
const a2 = vm('a2', 't1', 'vm-app', 2);
const a3 = vm('a3', 't1', 'vm-app', 3);
const w1 = vm('w1', 't1', 'vm-web', 11);
const w2 = vm('w2', 't1', 'vm-web', 12);

function rulesOf(doc: ReturnType<typeof recommendSecurityGroups>['document'], groupId: string): SecurityGroupRule[] {
  for (const t of doc.tenants) for (const g of t.security_groups) if (g.id === groupId) return g.security_group_rules;
  throw new Error(`no group ${groupId}`);
}

const brief = (r: SecurityGroupRule) =>
  `${r.direction} ${r.ethertype} ${r.protocol} ${r.port_range_min}-${r.port_range_max} ${r.remote_group_id ?? r.remote_ip_prefix} ${r.remote_basis === 'any_address' ? 'any_address' : r.basis}`;

describe('security groups learned from connections', () => {
  it('one group per tenant and cluster, with ingress and egress rules in the OpenStack shape and what they were learned from', () => {
    const log = new ConnectionLog(WINDOW);
    talk(log, a1, w1, 443, T0, 10);
    talk(log, a2, w2, 443, T0 + 5 * MIN, 10);
    const { document } = recommendSecurityGroups(membership([a1, a2, w1, w2]), log);
    expect(document.tenants.map((t) => [t.tenant_id, t.project_id, t.rule_count])).toEqual([['t1', 't1', 2]]);
    const web = document.tenants[0]!.security_groups.find((g) => g.id === 't1:vm-web')!;
    expect(web.vm_ids).toEqual(['w1', 'w2']);
    expect(web.security_group_id).toBe('t1:vm-web');
    expect(web.security_group_rules).toEqual([
      {
        id: 't1:vm-web/ingress/0',
        security_group_id: 't1:vm-web',
        direction: 'ingress',
        ethertype: 'IPv4',
        protocol: 'tcp',
        port_range_min: 443,
        port_range_max: 443,
        remote_group_id: 't1:vm-app',
        remote_ip_prefix: null,
        project_id: 't1',
        tenant_id: 't1',
        // 20 minutes of request and reply before the check window.
        learned_from: { vms: 2, flows: 40, bytes: 20 * 5200, ports: 1 },
        basis: 'exact',
        remote_basis: 'seen',
      },
    ]);
    expect(rulesOf(document, 't1:vm-app').map(brief)).toEqual(['egress IPv4 tcp 443-443 t1:vm-web exact']);
  });

  it('a one-off flow widens nothing; many close ports above 1024 become a range, few stay exact; well-known ports never range', () => {
    const log = new ConnectionLog(WINDOW);
    talk(log, a1, w1, 443, T0, 5);
    log.add(flow(T0 + 3 * MIN, a1, w1, 50_000, 8080));
    for (const p of [40_010, 40_100, 40_250, 40_400]) talk(log, a1, w1, p, T0, 3);
    for (const p of [50_000, 50_300, 50_600]) talk(log, a2, w2, p, T0, 3);
    for (const p of [21, 22, 23, 25]) talk(log, a2, w2, p, T0, 3);
    const { document } = recommendSecurityGroups(membership([a1, a2, w1, w2]), log);
    expect(rulesOf(document, 't1:vm-web').map(brief)).toEqual([
      'ingress IPv4 tcp 21-23 t1:vm-app exact',
      'ingress IPv4 tcp 25-25 t1:vm-app exact',
      'ingress IPv4 tcp 443-443 t1:vm-app exact',
      'ingress IPv4 tcp 40010-40400 t1:vm-app port_range',
      'ingress IPv4 tcp 50000-50000 t1:vm-app exact',
      'ingress IPv4 tcp 50300-50300 t1:vm-app exact',
      'ingress IPv4 tcp 50600-50600 t1:vm-app exact',
    ]);
    // The one-off would have been an ingress rule of the web group and an egress rule of the app group.
    expect(document.summary.not_learned.rare_rules).toBe(2);
  });

  it('listeners in the ephemeral range farther apart than one gap become one range when close on average; below it, or sparse, they stay exact', () => {
    const log = new ConnectionLog(WINDOW);
    // A collective's four listeners (one per worker) with a gap of 416 among them: 157 apart on average.
    for (const p of [50_159, 50_253, 50_669, 50_789]) talk(log, a1, w1, p, T0, 3);
    // The same spacing below the ephemeral range, and four ephemeral listeners 700 apart on average.
    for (const p of [20_159, 20_253, 20_669, 20_789, 33_000, 33_700, 34_400, 35_100]) talk(log, a2, w2, p, T0, 3);
    const { document } = recommendSecurityGroups(membership([a1, a2, w1, w2]), log);
    expect(rulesOf(document, 't1:vm-web').map(brief)).toEqual([
      'ingress IPv4 tcp 20159-20159 t1:vm-app exact',
      'ingress IPv4 tcp 20253-20253 t1:vm-app exact',
      'ingress IPv4 tcp 20669-20669 t1:vm-app exact',
      'ingress IPv4 tcp 20789-20789 t1:vm-app exact',
      'ingress IPv4 tcp 33000-33000 t1:vm-app exact',
      'ingress IPv4 tcp 33700-33700 t1:vm-app exact',
      'ingress IPv4 tcp 34400-34400 t1:vm-app exact',
      'ingress IPv4 tcp 35100-35100 t1:vm-app exact',
      'ingress IPv4 tcp 50159-50789 t1:vm-app port_spread',
    ]);
    expect(rulesOf(document, 't1:vm-app').map(brief)).toContain('egress IPv4 tcp 50159-50789 t1:vm-web port_spread');
  });

  it('a VM ranked anomalous that probes is not learned from; one ranked anomalous with ordinary traffic is', () => {
    const log = new ConnectionLog(WINDOW);
    const scanner = vm('s1', 't1', 'vm-app', 9, 12);
    const busy = vm('a2', 't1', 'vm-app', 2, 12);
    talk(log, a1, w1, 443, T0, 10);
    talk(log, busy, w2, 5432, T0, 10);
    for (let i = 0; i < 30; i++) log.add(flow(T0 + (i % 20) * MIN, scanner, i % 2 === 0 ? w1 : w2, 50_000 + i, 1000 + i * 7));
    // The scanner's probes to 22 add up to a rule's worth at the group level; they still widen nothing.
    for (let i = 0; i < 6; i++) log.add(flow(T0 + i * MIN, scanner, w1, 33_000 + i, 22));
    const { document } = recommendSecurityGroups(membership([a1, busy, scanner, w1, w2]), log);
    expect(document.anomalous_vms).toEqual(['s1']);
    expect(rulesOf(document, 't1:vm-web').map(brief)).toEqual([
      'ingress IPv4 tcp 443-443 t1:vm-app exact',
      'ingress IPv4 tcp 5432-5432 t1:vm-app exact',
    ]);
    expect(document.summary.not_learned.anomalous).toBe(31);
  });

  it('bad input gets clear answers: no tenant, one VM, a cluster that talks to nothing, outside addresses, ports out of range', () => {
    const log = new ConnectionLog(WINDOW);
    const orphan = vm('o1', null, 'vm-app', 50);
    const lone = vm('l1', 't2', 'vm-db', 60);
    const quiet = vm('q1', 't1', 'vm-idle', 70);
    talk(log, orphan, w1, 443, T0, 5);
    talk(log, '203.0.113.7', w1, 443, T0, 5);
    talk(log, '2001:db8::7', w1, 443, T0, 5);
    talk(log, a1, lone, 5432, T0, 5);
    for (let i = 0; i < 20; i++) talk(log, `198.51.100.${i}`, w2, 80, T0, 1 + (i % 3));
    expect(log.add(flow(T0, a1, w1, 40_000, 70_000))).toBe(false);
    expect(log.add(flow(T0, '192.0.2.1', '192.0.2.2', 40_000, 80))).toBe(false);
    const { document } = recommendSecurityGroups(membership([a1, w1, w2, orphan, lone, quiet]), log);
    expect(document.vms_without_tenant).toEqual(['o1']);
    expect(document.summary.connections.bad_port).toBe(1);
    expect(document.summary.connections.no_vm).toBe(1);
    expect(rulesOf(document, 't1:vm-web').map(brief)).toEqual([
      'ingress IPv4 tcp 80-80 0.0.0.0/0 any_address',
      'ingress IPv4 tcp 443-443 10.0.0.50/32 exact',
      'ingress IPv4 tcp 443-443 203.0.113.7/32 exact',
      'ingress IPv6 tcp 443-443 2001:db8::7/128 exact',
    ]);
    // Another tenant's VM is an address, not a group.
    expect(rulesOf(document, 't2:vm-db').map(brief)).toEqual(['ingress IPv4 tcp 5432-5432 10.0.0.1/32 exact']);
    const t1 = document.tenants.find((t) => t.tenant_id === 't1')!;
    expect(t1.security_groups.find((g) => g.id === 't1:vm-idle')!.note).toBe('no normal traffic seen in the earlier windows: the group allows nothing');
    expect(t1.notes).toEqual(['1 of 3 groups talk to nothing in the earlier windows and allow nothing']);
    const t2 = document.tenants.find((t) => t.tenant_id === 't2')!;
    expect(t2.notes).toEqual(['the tenant has one VM: its group is learned only from traffic with outside addresses and other tenants']);
    // No rule anywhere opens all ports.
    for (const t of document.tenants) for (const g of t.security_groups) for (const r of g.security_group_rules) expect(r.port_range_min).not.toBeNull();
  });

  it('checks the rules against the latest window: allowed for a new VM of a known cluster, denied for an unseen port, by VM and by rule', () => {
    const log = new ConnectionLog(WINDOW);
    talk(log, a1, w1, 443, T0, 10);
    talk(log, a2, w2, 443, T0 + 10 * MIN, 10);
    // The check window: a3 is new, w2 already known; 22 was never seen.
    talk(log, a3, w2, 443, T0 + 50 * MIN, 2);
    talk(log, a1, w1, 22, T0 + 52 * MIN, 1);
    const { document } = recommendSecurityGroups(membership([a1, a2, a3, w1, w2]), log);
    expect(document.check_window).toEqual({ from: new Date(T0 + 45 * MIN).toISOString(), to: new Date(END).toISOString() });
    const check = document.tenants[0]!.check;
    expect(check.all).toEqual({
      flows: 6,
      bytes: 3 * 5200,
      flows_allowed: 4,
      bytes_allowed: 2 * 5200,
      flows_denied: 2,
      bytes_denied: 5200,
      share_flows_allowed: 0.666667,
      share_bytes_allowed: 0.666667,
    });
    expect(check.normal_vm_to_vm.bytes_denied).toBe(5200);
    expect(check.by_vm).toEqual([
      { vm_id: 'a1', flows: 2, bytes: 5200, flows_denied: 2, bytes_denied: 5200 },
      { vm_id: 'w1', flows: 2, bytes: 5200, flows_denied: 2, bytes_denied: 5200 },
    ]);
    expect(check.by_rule).toEqual([
      { rule_id: 't1:vm-app/egress/0', flows: 4, bytes: 2 * 5200 },
      { rule_id: 't1:vm-web/ingress/0', flows: 4, bytes: 2 * 5200 },
    ]);
    expect(check.denied).toEqual([{ client: 'a1', server: 'w1', protocol: 'tcp', port: 22, flows: 2, bytes: 5200, reason: 'ingress', anomalous: false }]);
  });
});

describe('generalising to the service a group stands for', () => {
  it('a peer group\'s rule with two ports in a chain of the fleet\'s listeners stands for the chain; one port, or an address, stays exact', () => {
    const log = new ConnectionLog(WINDOW);
    // Another tenant's 16 servers of one service, each at its own port of a configured range, 120 apart.
    const servers = Array.from({ length: 16 }, (_, i) => vm(`s${i}`, 't2', 'vm-shuffle', 100 + i));
    const e1 = vm('e1', 't2', 'vm-exec', 99);
    for (const [i, s] of servers.entries()) talk(log, e1, s, 40_000 + 120 * i, T0, 3);
    // t1's two servers of it, farther apart than a range's gap, and a database with one port in the chain.
    const d1 = vm('d1', 't1', 'vm-db', 21);
    talk(log, a1, w1, 40_400, T0, 3);
    talk(log, a2, w2, 41_100, T0, 3);
    talk(log, a1, d1, 40_500, T0, 3);
    talk(log, '198.51.100.7', w1, 40_130, T0, 3);
    talk(log, '198.51.100.7', w2, 41_200, T0, 3);
    // The check window: a port of the chain w2 never served, and one past the chain.
    talk(log, a2, w2, 41_300, T0 + 50 * MIN, 2);
    talk(log, a1, w1, 41_900, T0 + 50 * MIN, 2);
    const { document } = recommendSecurityGroups(membership([a1, a2, w1, w2, d1, e1, ...servers]), log);
    expect(rulesOf(document, 't1:vm-web').map(brief)).toEqual([
      'ingress IPv4 tcp 40130-40130 198.51.100.7/32 exact',
      'ingress IPv4 tcp 41200-41200 198.51.100.7/32 exact',
      'ingress IPv4 tcp 40000-41800 t1:vm-app service_range',
    ]);
    expect(rulesOf(document, 't1:vm-web')[2]!.learned_from).toEqual({ vms: 2, flows: 12, bytes: 6 * 5200, ports: 2 });
    expect(rulesOf(document, 't1:vm-app').map(brief)).toEqual(['egress IPv4 tcp 40500-40500 t1:vm-db exact', 'egress IPv4 tcp 40000-41800 t1:vm-web service_range']);
    expect(rulesOf(document, 't1:vm-db').map(brief)).toEqual(['ingress IPv4 tcp 40500-40500 t1:vm-app exact']);
    // The chain's own servers: one port each per server, a range of their own.
    expect(rulesOf(document, 't2:vm-shuffle').map(brief)).toEqual(['ingress IPv4 tcp 40000-41800 t2:vm-exec port_range']);
    const denied = document.tenants.find((t) => t.tenant_id === 't1')!.check.denied;
    // 41,300 allowed; 41,900 denied (two connections: both ports lie above 1023, the client's differs each minute).
    expect(denied.map((d) => `${d.client}->${d.server}:${d.port} ${d.reason}`)).toEqual(['a1->w1:41900 ingress', 'a1->w1:41900 ingress']);
  });

  it('a tenant whose listeners lie apart from the others\' in one chain of the fleet gets its own part of it, not the chain', () => {
    const log = new ConnectionLog(WINDOW);
    // t2's 16 servers at 40000-41800 (120 apart); t1's own range just above, its 16 servers at 41900-42650 (50 apart).
    const e2 = vm('e2', 't2', 'vm-exec', 99);
    for (let i = 0; i < 16; i++) talk(log, e2, vm(`s${i}`, 't2', 'vm-shuffle', 100 + i), 40_000 + 120 * i, T0, 3);
    const t1Servers = Array.from({ length: 16 }, (_, i) => vm(`u${i}`, 't1', 'vm-shuffle', 200 + i));
    const e1 = vm('e1', 't1', 'vm-exec', 98);
    for (const [i, u] of t1Servers.entries()) talk(log, e1, u, 41_900 + 50 * i, T0, 3);
    // A t1 group with two servers of that range, and a t2 group with two in t2's.
    talk(log, a1, w1, 42_000, T0, 3);
    talk(log, a2, w2, 42_300, T0, 3);
    const x1 = vm('x1', 't2', 'vm-x', 31);
    const y1 = vm('y1', 't2', 'vm-y', 41);
    const y2 = vm('y2', 't2', 'vm-y', 42);
    talk(log, x1, y1, 40_240, T0, 3);
    talk(log, x1, y2, 41_000, T0, 3);
    const all = [a1, a2, w1, w2, e1, e2, x1, y1, y2, ...t1Servers, ...Array.from({ length: 16 }, (_, i) => vm(`s${i}`, 't2', 'vm-shuffle', 100 + i))];
    const { document } = recommendSecurityGroups(membership(all), log);
    // One fleet chain 40000-42650 (gaps of at most 120); each tenant's rules span only its own part.
    expect(rulesOf(document, 't1:vm-web').map(brief)).toEqual(['ingress IPv4 tcp 41900-42650 t1:vm-app service_range']);
    expect(rulesOf(document, 't2:vm-y').map(brief)).toEqual(['ingress IPv4 tcp 40000-41800 t2:vm-x service_range']);
    // As before the parts: each tenant's rule spans the whole chain, the other tenant's ports included.
    const whole = recommendSecurityGroups(membership(all), log, { serviceRangesPerTenant: false }).document;
    expect(rulesOf(whole, 't1:vm-web').map(brief)).toEqual(['ingress IPv4 tcp 40000-42650 t1:vm-app service_range']);
    expect(rulesOf(whole, 't2:vm-y').map(brief)).toEqual(['ingress IPv4 tcp 40000-42650 t2:vm-x service_range']);
  });

  it('servers fetched from once each (data, under minFlows flows) show a service range; a group with two of them spans it, a lone one and probes stay out', () => {
    const log = new ConnectionLog(WINDOW);
    /** A client's port per minute, blocks apart: the tie of two high ports goes to the end whose cluster listens close by. */
    const clientPort = (minute: number): number => 44_000 + ((minute * 2711) % 20_000);
    /** One exchange (two flows, 5,200 bytes). */
    const fetchOnce = (client: Vm | string, server: Vm, port: number, minute: number, bytes = 5000): void => {
      const ts = T0 + minute * MIN;
      log.add(flow(ts, client, server, clientPort(minute), port, 6, 200));
      log.add(flow(ts, server, client, port, clientPort(minute), 6, bytes));
    };
    // t2's 16 shuffle servers, each fetched once, 120 ports apart: a chain only rare data connections show.
    const e2 = vm('e2', 't2', 'vm-exec', 99);
    const servers = Array.from({ length: 16 }, (_, i) => vm(`s${i}`, 't2', 'vm-shuffle', 100 + i));
    for (const [i, sv] of servers.entries()) fetchOnce(e2, sv, 40_000 + 120 * i, i);
    // t1: two web servers fetched from once each in the range, a database once at a lone port of it, and a
    // prober's packets (no data) at two ports of the range.
    const d1 = vm('d1', 't1', 'vm-db', 21);
    const y1 = vm('y1', 't1', 'vm-probe', 41);
    fetchOnce(a1, w1, 40_400, 20);
    fetchOnce(a2, w2, 41_100, 21);
    fetchOnce(a1, d1, 40_500, 22);
    fetchOnce(y1, w1, 40_700, 23, 40);
    fetchOnce(y1, w2, 41_500, 24, 40);
    // The check window: a port of the range w2 never served, the same from the prober and to the database, one past the range.
    fetchOnce(a2, w2, 41_300, 50);
    fetchOnce(y1, w2, 41_300, 51);
    fetchOnce(a1, d1, 41_300, 52);
    fetchOnce(a1, w1, 41_900, 53);
    const { document } = recommendSecurityGroups(membership([a1, a2, w1, w2, d1, y1, e2, ...servers]), log);
    expect(rulesOf(document, 't1:vm-web').map(brief)).toEqual(['ingress IPv4 tcp 40000-41800 t1:vm-app service_range']);
    expect(rulesOf(document, 't1:vm-web')[0]!.learned_from).toEqual({ vms: 2, flows: 4, bytes: 2 * 5200, ports: 2 });
    expect(rulesOf(document, 't1:vm-app').map(brief)).toEqual(['egress IPv4 tcp 40000-41800 t1:vm-web service_range']);
    expect(rulesOf(document, 't1:vm-db')).toEqual([]);
    expect(rulesOf(document, 't1:vm-probe')).toEqual([]);
    const denied = document.tenants.find((t) => t.tenant_id === 't1')!.check.denied;
    expect(denied.map((d) => `${d.client}->${d.server}:${d.port} ${d.reason}`).sort()).toEqual(['a1->d1:41300 ingress', 'a1->w1:41900 ingress', 'y1->w2:41300 ingress']);
    // Without the data (40 bytes a flow) the rare ports show no listener: t1's web servers learn nothing.
    const thin = new ConnectionLog(WINDOW);
    for (const [i, sv] of servers.entries()) {
      thin.add(flow(T0 + i * MIN, e2, sv, clientPort(i), 40_000 + 120 * i, 6, 40));
      thin.add(flow(T0 + i * MIN, sv, e2, 40_000 + 120 * i, clientPort(i), 6, 40));
    }
    for (const [client, server, port, minute] of [[a1, w1, 40_400, 20], [a2, w2, 41_100, 21]] as const) {
      thin.add(flow(T0 + minute * MIN, client, server, clientPort(minute), port, 6, 40));
      thin.add(flow(T0 + minute * MIN, server, client, port, clientPort(minute), 6, 40));
    }
    // t2's own chain is still a range of its seen ports (step 4: 16 ports, 32 flows), but no listener shows a service range.
    const thinDoc = recommendSecurityGroups(membership([a1, a2, w1, w2, e2, ...servers]), thin).document;
    expect(rulesOf(thinDoc, 't2:vm-shuffle').map(brief)).toEqual(['ingress IPv4 tcp 40000-41800 t2:vm-exec port_range']);
    expect(rulesOf(thinDoc, 't1:vm-web')).toEqual([]);
  });

  it('a rare connection with data from an address to a port its server\'s group serves peers is learned as that host; to another port it is not', () => {
    const log = new ConnectionLog(WINDOW);
    talk(log, a1, w1, 2049, T0, 10);
    // A VM without a tenant (an address to the rules) mounting the share once, then once at a port w1 serves no one.
    const n1 = vm('n1', null, 'vm-x', 51);
    talk(log, n1, w1, 2049, T0 + 20 * MIN, 1);
    talk(log, n1, w1, 2050, T0 + 21 * MIN, 1);
    talk(log, n1, w1, 2049, T0 + 50 * MIN, 1);
    talk(log, n1, w1, 2050, T0 + 51 * MIN, 1);
    const { document } = recommendSecurityGroups(membership([a1, w1, n1]), log);
    expect(rulesOf(document, 't1:vm-web').map(brief)).toEqual(['ingress IPv4 tcp 2049-2049 10.0.0.51/32 exact', 'ingress IPv4 tcp 2049-2049 t1:vm-app exact']);
    expect(rulesOf(document, 't1:vm-web')[0]!.learned_from).toEqual({ vms: 1, flows: 2, bytes: 5200, ports: 1 });
    const denied = document.tenants.find((t) => t.tenant_id === 't1')!.check.denied;
    expect(denied.map((d) => `${d.client}->${d.server}:${d.port} ${d.reason}`)).toEqual(['10.0.0.51->w1:2050 ingress']);
  });

  it('a rare connection with data to a port its server\'s group serves other peers is learned; to another port, or without data, it is not', () => {
    const log = new ConnectionLog(WINDOW);
    const x1 = vm('x1', 't1', 'vm-batch', 31);
    const y1 = vm('y1', 't1', 'vm-probe', 41);
    talk(log, a1, w1, 443, T0, 10);
    // One minute each (two flows): to the served port, to a port w1 serves nobody, and two packets without data.
    talk(log, x1, w1, 443, T0 + 20 * MIN, 1);
    talk(log, x1, w1, 8443, T0 + 20 * MIN, 1);
    log.add(flow(T0 + 21 * MIN, y1, w1, 40_001, 443, 6, 60));
    log.add(flow(T0 + 21 * MIN, w1, y1, 443, 40_001, 6, 40));
    const { document } = recommendSecurityGroups(membership([a1, w1, x1, y1]), log);
    expect(rulesOf(document, 't1:vm-web').map(brief)).toEqual(['ingress IPv4 tcp 443-443 t1:vm-app exact', 'ingress IPv4 tcp 443-443 t1:vm-batch exact']);
    expect(rulesOf(document, 't1:vm-web')[1]!.learned_from).toEqual({ vms: 1, flows: 2, bytes: 5200, ports: 1 });
    expect(rulesOf(document, 't1:vm-batch').map(brief)).toEqual(['egress IPv4 tcp 443-443 t1:vm-web exact']);
    expect(rulesOf(document, 't1:vm-probe')).toEqual([]);
    expect(document.summary.not_learned.rare_rules).toBe(4);
  });
});

describe('which end listens when the records cannot tell', () => {
  it('a collective\'s listeners, one peer each, are the ports its cluster holds in one range, not the clients\' ephemeral ones', () => {
    // A ring of five GPU workers: each listens on its own port above 50000 and calls the next one from a
    // port kept for the connection, lower than the listener's, so the lower port of a tie would be wrong.
    const gpus = Array.from({ length: 5 }, (_, i) => vm(`g${i}`, 't1', 'vm-gpu', 40 + i));
    const listen = (i: number): number => 50_007 + 60 * i;
    const log = new ConnectionLog(WINDOW);
    for (let m = 0; m < 20; m++) {
      for (let i = 0; i < 5; i++) {
        const [c, s] = [gpus[i]!, gpus[(i + 1) % 5]!];
        log.add(flow(T0 + m * MIN, c, s, 33_000 + 1000 * i, listen((i + 1) % 5)));
        log.add(flow(T0 + m * MIN, s, c, listen((i + 1) % 5), 33_000 + 1000 * i));
      }
    }
    // In the check window g2's listener restarts on the next port, and g1 connects to it anew.
    for (let m = 50; m < 53; m++) {
      log.add(flow(T0 + m * MIN, gpus[1]!, gpus[2]!, 45_000, listen(2) + 1));
      log.add(flow(T0 + m * MIN, gpus[2]!, gpus[1]!, listen(2) + 1, 45_000));
    }
    const { document } = recommendSecurityGroups(membership(gpus), log);
    expect(rulesOf(document, 't1:vm-gpu').map(brief)).toEqual(['egress IPv4 tcp 50007-50247 t1:vm-gpu port_range', 'ingress IPv4 tcp 50007-50247 t1:vm-gpu port_range']);
    expect(document.tenants[0]!.check.normal_vm_to_vm).toMatchObject({ flows: 6, flows_allowed: 6 });
  });
});

describe('VMs without history', () => {
  // a4 and a5 boot in the check window and the run puts them in a cluster of their own (vm-new); a4 talks
  // as the app's VMs did, a5 scans ports the web VMs never served (one record each).
  const a4 = vm('a4', 't1', 'vm-new', 4);
  const a5 = vm('a5', 't1', 'vm-new', 5);
  const world = (): ConnectionLog => {
    const log = new ConnectionLog(WINDOW);
    talk(log, a1, w1, 443, T0, 10);
    talk(log, a2, w2, 443, T0 + 10 * MIN, 10);
    talk(log, a4, w1, 443, T0 + 50 * MIN, 3);
    talk(log, a4, w2, 443, T0 + 50 * MIN, 3);
    for (const port of [22, 23, 25, 3306]) talk(log, a5, w1, port, T0 + 50 * MIN, 1);
    talk(log, a5, w2, 443, T0 + 55 * MIN, 1);
    return log;
  };

  it('join the group whose learned traffic they repeat; one that mostly does what no group did stays', () => {
    const { document, places } = recommendSecurityGroups(membership([a1, a2, w1, w2, a4, a5]), world());
    const groups = document.tenants[0]!.security_groups;
    const app = groups.find((g) => g.id === 't1:vm-app')!;
    expect(app.vm_ids).toEqual(['a1', 'a2', 'a4']);
    expect(app.vms_placed_by_peers).toEqual(['a4']);
    expect(groups.find((g) => g.id === 't1:vm-new')!.vm_ids).toEqual(['a5']);
    expect(groups.find((g) => g.id === 't1:vm-web')!.vms_placed_by_peers).toBeUndefined();
    expect(places.get('a4')!.groupId).toBe('t1:vm-app');
    expect(places.get('a5')!.groupId).toBe('t1:vm-new');
    // The rules are those learned from a1 and a2: a4 taught none.
    expect(rulesOf(document, 't1:vm-app').map(brief)).toEqual(['egress IPv4 tcp 443-443 t1:vm-web exact']);
    // a4's twelve records (requests and replies) are allowed; a5's ten (its 443 too: its group has no egress rule) denied.
    expect(document.tenants[0]!.check.normal_vm_to_vm).toMatchObject({ flows: 22, flows_allowed: 12 });
    expect(document.tenants[0]!.check.by_vm.map((v) => v.vm_id)).toEqual(['a5', 'w1', 'w2']);
  });

  it('join the group whose rules allow their ports, not only the group that used those very ports', () => {
    // A relay service on a port per session: r1 and r2 served 20 ports of [16384, 16480) once each (a
    // port_range rule); r3 boots in the check window and serves sessions on 4 ports of the range no VM
    // served before. Voting by exact port left it alone in its run cluster, with no rule.
    const e1 = vm('e1', 't1', 'vm-edge', 21);
    const e2 = vm('e2', 't1', 'vm-edge', 22);
    const r1 = vm('r1', 't1', 'vm-relay', 31);
    const r2 = vm('r2', 't1', 'vm-relay', 32);
    const r3 = vm('r3', 't1', 'vm-late', 33);
    const log = new ConnectionLog(WINDOW);
    for (let k = 0; k < 20; k++) talk(log, k % 2 === 0 ? e1 : e2, k % 3 === 0 ? r1 : r2, 16_384 + 5 * k, T0 + k * MIN, 1, 17);
    for (const [k, port] of [16_387, 16_402, 16_433, 16_461].entries()) talk(log, k % 2 === 0 ? e1 : e2, r3, port, T0 + (50 + k) * MIN, 1, 17);
    const { document } = recommendSecurityGroups(membership([e1, e2, r1, r2, r3]), log);
    const relay = document.tenants[0]!.security_groups.find((g) => g.id === 't1:vm-relay')!;
    expect(rulesOf(document, 't1:vm-relay').map(brief)).toEqual(['ingress IPv4 udp 16384-16479 t1:vm-edge port_range']);
    expect(relay.vm_ids).toEqual(['r1', 'r2', 'r3']);
    expect(relay.vms_placed_by_peers).toEqual(['r3']);
    expect(document.tenants[0]!.security_groups.map((g) => g.id)).toEqual(['t1:vm-edge', 't1:vm-relay']);
    // r3's eight records (four requests, four replies) are allowed.
    expect(document.tenants[0]!.check.normal_vm_to_vm).toMatchObject({ flows: 8, flows_allowed: 8 });
  });

  it('a group left with no VM is not in the document', () => {
    const log = world();
    const { document } = recommendSecurityGroups(membership([a1, a2, w1, w2, a4]), log);
    expect(document.tenants[0]!.security_groups.map((g) => g.id)).toEqual(['t1:vm-app', 't1:vm-web']);
    expect(document.summary.groups).toBe(2);
  });
});

describe('connection log', () => {
  it('keeps a request and its reply as one connection, refuses new ones at its cap (counted) and forgets silent ones', () => {
    const log = new ConnectionLog(WINDOW, 2, 1);
    log.add(flow(T0, a1, w1, 40_000, 443));
    log.add(flow(T0, w1, a1, 443, 40_000));
    log.add(flow(T0, a1, w1, 40_001, 443));
    expect(log.size).toBe(1);
    log.add(flow(T0, a1, w2, 40_000, 443));
    expect(log.add(flow(T0, a2, w2, 40_000, 443))).toBe(false);
    expect(log.counters.refused).toBe(1);
    // One window later (retainWindows 1), the first two are forgotten at the next epoch.
    log.add(flow(T0 + WINDOW + 4 * MIN, a2, w2, 40_000, 443));
    expect(log.size).toBe(1);
    expect(log.counters.forgotten).toBe(2);
  });

  it('forgets the ends and addresses of forgotten connections too: a scan from many sources does not grow it for good', () => {
    const log = new ConnectionLog(WINDOW, 1_000_000, 1);
    for (let i = 0; i < 500; i++) log.add(flow(T0, `198.51.${i >> 8}.${i & 255}`, w1, 40_000, 22));
    log.add(flow(T0, a1, w1, 40_000, 443));
    expect(log.columns(T0).ends).toBe(502);
    // One window later, only the new connection's ends and addresses are left.
    log.add(flow(T0 + WINDOW + 4 * MIN, a2, w2, 40_000, 443));
    const c = log.columns(T0 + WINDOW + 4 * MIN);
    expect([c.count, c.ends, c.ipCount]).toEqual([1, 2, 2]);
    expect(log.traffic(T0 + WINDOW + 4 * MIN).map(([k]) => [k.client, k.server, k.port])).toEqual([[{ vmId: 'a2', ip: a2.ip }, { vmId: 'w2', ip: w2.ip }, 443]]);
    // The same VMs come back as new ends, found again by the next record.
    log.add(flow(T0 + WINDOW + 5 * MIN, w2, a2, 443, 40_001));
    log.add(flow(T0 + WINDOW + 5 * MIN, a1, w1, 40_000, 443));
    expect(log.size).toBe(2);
    expect(log.counters.forgotten).toBe(501);
  });

  it('a document built after the next computation has reused the learner\'s tables is the one built at once', () => {
    const log = new ConnectionLog(WINDOW);
    talk(log, a1, w1, 443, T0, 10);
    talk(log, a2, w2, 443, T0 + 10 * MIN, 10);
    talk(log, a3, w2, 443, T0 + 50 * MIN, 2);
    talk(log, a1, w1, 22, T0 + 52 * MIN, 1);
    const fleet = membership([a1, a2, a3, w1, w2]);
    const atOnce = recommendSecurityGroups(fleet, log).document;
    const pending = recommendSecurityGroups(fleet, log);
    // Another fleet's computation in between, larger: its connections fill the same tables.
    const other = new ConnectionLog(WINDOW);
    const servers = Array.from({ length: 40 }, (_, k) => vm(`s${k}`, 't2', `vm-${k % 4}`, 100 + k));
    for (const s of servers) for (const c of [a1, a2]) talk(other, c, s, 8000 + (s.id.length + Number(s.id.slice(1))), T0, 3);
    const otherDoc = recommendSecurityGroups(membership([a1, a2, ...servers]), other).document;
    expect(otherDoc.summary.rules).toBeGreaterThan(atOnce.summary.rules);
    expect(pending.summary).toEqual(atOnce.summary);
    expect(pending.document).toEqual(atOnce);
    expect(pending.document.tenants[0]!.check.denied).toHaveLength(1);
  });

  it('columns handed on at release give, after the windows roll, what new columns give', () => {
    // An interconnect whose listener (a1, its id first in the ends' order) the log stores as the client:
    // those rows turn round, so the turned rows' copies are handed on too.
    const interconnect = (log: ConnectionLog, from: number, clients: readonly Vm[], minutes: number): void => {
      clients.forEach((c, k) => {
        for (let m = 0; m < minutes; m++) {
          log.add(flow(from + m * MIN, c, a1, 5001 + k, 7000, 6, 300));
          log.add(flow(from + m * MIN, a1, c, 7000, 5001 + k, 6, 900));
        }
      });
    };
    const fleet = [a1, a2, a3, w1, w2];
    const log = new ConnectionLog(WINDOW);
    talk(log, a1, w1, 443, T0, 10);
    talk(log, a2, w2, 443, T0 + 10 * MIN, 10);
    interconnect(log, T0, [w1, w2], 20);
    const first = recommendSecurityGroups(membership(fleet), log);
    expect(first.document.summary.rules).toBeGreaterThan(0);
    first.release();
    expect(() => first.connections).toThrow(/released/);
    // Its document was built before: it stays.
    expect(first.document.summary.rules).toBeGreaterThan(0);
    // Twenty minutes on (the check window and the learned windows move by more than an epoch), with new
    // connections: more rows than the handed-on columns hold, then fewer than they hold.
    for (const [later, grow] of [
      [20, 60],
      [40, 0],
    ] as const) {
      const at = END + later * MIN;
      talk(log, a3, w2, 443, at - 15 * MIN, 12);
      for (let k = 0; k < grow; k++) talk(log, `198.51.100.${k}`, w1, 443, at - 30 * MIN, 4);
      interconnect(log, at - 25 * MIN, [w1, w2, a2], 20);
      const fleetAt = { ...membership(fleet), computedAt: at };
      const handedOn = recommendSecurityGroups(fleetAt, log);
      // Computed while handedOn holds the kept columns: its own, new ones.
      const fresh = recommendSecurityGroups(fleetAt, log);
      expect(handedOn.document).toEqual(fresh.document);
      expect(handedOn.connections).toEqual(fresh.connections);
      expect(fresh.connections.filter((c) => c.server.vmId === 'a1' && c.port === 7000)).toHaveLength(3);
      handedOn.release();
    }
  });

  it('turned rows\' copies handed on put back the rows a later run no longer turns', () => {
    const log = new ConnectionLog(WINDOW);
    const fleet = membership([a1, a2, a3, w1, w2]);
    // Both ports above the well-known range and neither a known service: the records cannot tell which end serves.
    const pair = (from: number, c: Vm, cPort: number, s: Vm, sPort: number): void => {
      for (let m = 0; m < 20; m++) {
        log.add(flow(from + m * MIN, c, s, cPort, sPort, 6, 300));
        log.add(flow(from + m * MIN, s, c, sPort, cPort, 6, 900));
      }
    };
    const served = (o: ReturnType<typeof recommendSecurityGroups>): string[] =>
      o.connections.filter((c) => c.port !== 443).map((c) => `${c.client.vmId}>${c.server.vmId}:${c.port}`).sort();
    // a1 (first in the ends' order, so stored as the client) meets two peers at 7101, each peer one: turned round.
    pair(T0, w1, 5001, a1, 7101);
    pair(T0, w2, 5002, a1, 7101);
    // Rows enough that the copies kept have room for those added below: the later run updates them in place.
    for (let k = 0; k < 40; k++) talk(log, `198.51.100.${k}`, w1, 443, T0, 2);
    const first = recommendSecurityGroups(fleet, log);
    expect(served(first)).toEqual(['w1>a1:7101', 'w2>a1:7101']);
    first.release();
    // w1's port 5001 now meets four peers: it listens, and its row with a1 is no longer turned.
    pair(T0 + 20 * MIN, a2, 7102, w1, 5001);
    pair(T0 + 20 * MIN, a3, 7103, w1, 5001);
    pair(T0 + 20 * MIN, w2, 7104, w1, 5001);
    const handedOn = recommendSecurityGroups(fleet, log);
    const fresh = recommendSecurityGroups(fleet, log);
    expect(served(fresh)).toEqual(['a1>w1:5001', 'a2>w1:5001', 'a3>w1:5001', 'w2>a1:7101', 'w2>w1:5001']);
    expect(handedOn.connections).toEqual(fresh.connections);
    expect(handedOn.document).toEqual(fresh.document);
    handedOn.release();
  });

  it('a split taken in steps over kept columns fills every row again, those filled out of turn before too', () => {
    // More connections than the first step fills (2 * SLICE_ROWS), so that a record arriving between the
    // steps fills its row out of turn.
    const rows = 4 * SLICE_ROWS + 2000;
    const client = (k: number): string => `192.${k >> 16}.${(k >> 8) & 255}.${k & 255}`;
    const log = new ConnectionLog(WINDOW, 1_000_000);
    // From minute 16 on: none is forgotten by the time of the second computation, so rows keep their places.
    for (let k = 0; k < rows; k++) log.add(flow(T0 + (16 + (k % 24)) * MIN, client(k), w1, 40_000, 443, 6, 100 + (k % 7)));
    const fleet = membership([a1, w1]);
    const steps = recommendInSlices(fleet, log);
    steps.next();
    const late = rows - 10;
    log.add(flow(END - MIN, client(late), w1, 40_001, 443, 6, 5000));
    let step = steps.next();
    while (step.done !== true) step = steps.next();
    const first = step.value;
    expect(first.connections[late]!.latestBytes).toBe(0);
    first.release();
    // A window on, the late connection's traffic moves from the check window into the learned ones.
    const at = END + WINDOW;
    log.add(flow(at - MIN, client(late), w1, 40_002, 443, 6, 7000));
    const fleetAt = { ...fleet, computedAt: at };
    const handedOn = recommendSecurityGroups(fleetAt, log);
    const fresh = recommendSecurityGroups(fleetAt, log);
    expect(fresh.connections[late]).toMatchObject({ earlierBytes: 100 + (late % 7) + 5000, latestBytes: 7000 });
    expect(handedOn.connections).toEqual(fresh.connections);
    expect(handedOn.document).toEqual(fresh.document);
    handedOn.release();
  });

  it('splits a connection at the check window, a late record counting as earlier', () => {
    const log = new ConnectionLog(WINDOW);
    log.add(flow(T0, a1, w1, 40_000, 443, 6, 10));
    log.add(flow(T0 + 50 * MIN, a1, w1, 40_000, 443, 6, 20));
    log.add(flow(T0 + 59 * MIN, a1, w1, 40_000, 443, 6, 40));
    log.add(flow(T0 + 1 * MIN, a1, w1, 40_000, 443, 6, 80));
    const [[, t]] = [...log.traffic(END)] as [[unknown, { earlierFlows: number; earlierBytes: number; latestFlows: number; latestBytes: number }]];
    expect(t).toEqual({ earlierFlows: 2, earlierBytes: 90, latestFlows: 2, latestBytes: 60 });
  });
});

describe('property: no recommended rule is wider than the traffic it was learned from', () => {
  const PORTS = [22, 80, 443, 5432, 8080, 8081, 9000, 9100, 9200, 9300, 40_000, 40_050, 40_200, 40_300, 40_310, 41_000, 41_100, 50_500, 33_000];
  const vmArb = fc.record({ tenant: fc.constantFrom('t1', 't2', null), cluster: fc.constantFrom('vm-0', 'vm-1', 'vm-2'), score: fc.constantFrom(1, 1, 1, 9) });
  const flowArb = fc.record({
    // Rows 0-7 are VMs, the rest outside addresses.
    src: fc.oneof({ arbitrary: fc.nat(7), weight: 3 }, { arbitrary: fc.integer({ min: 8, max: 40 }), weight: 1 }),
    dst: fc.oneof({ arbitrary: fc.nat(7), weight: 3 }, { arbitrary: fc.integer({ min: 8, max: 40 }), weight: 1 }),
    sp: fc.oneof({ arbitrary: fc.constantFrom(...PORTS), weight: 1 }, { arbitrary: fc.integer({ min: 45_000, max: 45_100 }), weight: 3 }),
    dp: fc.constantFrom(...PORTS),
    proto: fc.constantFrom(6, 6, 17, 1),
    minute: fc.nat(59),
    bytes: fc.integer({ min: 1, max: 10_000 }),
    repeat: fc.integer({ min: 1, max: 6 }),
  });
  it('holds for random fleets and flows (fixed seed)', () => {
    const bases = { exact: 0, port_range: 0, port_spread: 0, service_range: 0, any_address: 0, seen: 0, rare_peer: 0, rare_host: 0, rare_in_service_range: 0 };
    let probes = 0;
    fc.assert(
      fc.property(fc.array(vmArb, { minLength: 8, maxLength: 8 }), fc.array(flowArb, { minLength: 50, maxLength: 400, size: 'large' }), (vms, flows) => {
        const fleet: Vm[] = vms.map((v, i) => ({ id: `v${i}`, tenant: v.tenant, cluster: v.cluster, ip: `10.1.0.${i}`, score: v.score }));
        const endOf = (i: number): Vm | string => (i < 8 ? fleet[i]! : `198.51.100.${i}`);
        const log = new ConnectionLog(WINDOW);
        for (const f of flows)
          for (let k = 0; k < f.repeat && f.src !== f.dst; k++) log.add(flow(T0 + ((f.minute + k) % 60) * MIN, endOf(f.src), endOf(f.dst), f.sp, f.dp, f.proto, f.bytes));
        // Low thresholds, so that small random worlds give ranges and any-address rules too.
        const o = {
          ...defaultSecurityGroupOptions,
          minFlows: 2,
          minRangePorts: 2,
          maxRangeGap: 400,
          spreadFrom: 40_000,
          maxSpreadGap: 1_000,
          serviceRangeMinPorts: 3,
          maxPrefixesPerRule: 2,
        };
        const { document, connections, places } = recommendSecurityGroups(membership(fleet), log, o);
        const anomalous = new Set(document.anomalous_vms);
        // Probes by their definition (probes.ts), not learned from: a one-off to a VM whose protocol and port
        // no other client reached, from a client with such one-offs there at probeMinServers VMs.
        const endKey = (e: { vmId: string | null; ip: string }): string => e.vmId ?? `ip:${e.ip}`;
        const clientsAt = new Map<string, number>();
        for (const c of connections) if (c.earlierFlows > 0) clientsAt.set(`${endKey(c.server)}|${c.protocol}|${c.port}`, (clientsAt.get(`${endKey(c.server)}|${c.protocol}|${c.port}`) ?? 0) + 1);
        const unservedOneOff = (c: (typeof connections)[number]): boolean =>
          c.earlierFlows > 0 && c.earlierFlows < o.minFlows && c.server.vmId !== null && clientsAt.get(`${endKey(c.server)}|${c.protocol}|${c.port}`) === 1;
        const oneOffsAt = new Map<string, number>();
        for (const c of connections) if (unservedOneOff(c)) oneOffsAt.set(`${endKey(c.client)}|${c.protocol}|${c.port}`, (oneOffsAt.get(`${endKey(c.client)}|${c.protocol}|${c.port}`) ?? 0) + 1);
        const isProbe = (c: (typeof connections)[number]): boolean => unservedOneOff(c) && oneOffsAt.get(`${endKey(c.client)}|${c.protocol}|${c.port}`)! >= o.probeMinServers;
        probes += connections.filter(isProbe).length;
        // The ports VMs served VMs of their tenant's groups at, learned flows per server group and client group:
        // the fleet's listening ports a service range may stand for are those at or above 1024 with minFlows.
        const listening = new Map<string, number>();
        const listeningBytes = new Map<string, number>();
        for (const c of connections) {
          if (c.earlierFlows === 0 || c.port < 0 || c.client.vmId === null || c.server.vmId === null || isProbe(c)) continue;
          if (anomalous.has(c.client.vmId) || anomalous.has(c.server.vmId)) continue;
          const sp = places.get(c.server.vmId);
          const cp = places.get(c.client.vmId);
          if (sp === undefined || cp === undefined || sp.tenant !== cp.tenant) continue;
          const k = `${protocolName(c.protocol)}|${c.port}|${sp.groupId}|${cp.groupId}`;
          listening.set(k, (listening.get(k) ?? 0) + c.earlierFlows);
          listeningBytes.set(k, (listeningBytes.get(k) ?? 0) + c.earlierBytes);
        }
        // A listener shows in minFlows flows, or in fewer that each carried data (a shuffle server fetched from once).
        const listens = (k: string, f: number): boolean => f >= o.minFlows || listeningBytes.get(k)! > o.probeMaxBytes * f;
        const fleetPorts = (protocol: string): number[] =>
          [...new Set([...listening].filter(([k, f]) => k.startsWith(`${protocol}|`) && listens(k, f)).map(([k]) => Number(k.split('|')[1])))]
            .filter((p) => p >= 1024)
            .sort((a, b) => a - b);
        for (const t of document.tenants)
          for (const g of t.security_groups)
            for (const r of g.security_group_rules) {
              // The learned connections this rule allows, in its group and direction.
              const seen = connections.filter((c) => {
                if (c.earlierFlows === 0 || isProbe(c)) return false;
                if ((c.client.vmId && anomalous.has(c.client.vmId)) || (c.server.vmId && anomalous.has(c.server.vmId))) return false;
                const [own, peer] = r.direction === 'ingress' ? [c.server, c.client] : [c.client, c.server];
                const ownPlace = own.vmId === null ? undefined : places.get(own.vmId);
                if (ownPlace?.groupId !== g.id) return false;
                const peerPlace = peer.vmId === null ? undefined : places.get(peer.vmId);
                const peerGroup = peerPlace !== undefined && peerPlace.tenant === ownPlace.tenant ? peerPlace.groupId : null;
                if (r.remote_group_id === null && peerGroup !== null) return false;
                return ruleMatches(r, protocolName(c.protocol), c.port, peerGroup, peer.ip);
              });
              bases[r.basis]++;
              bases[r.remote_basis]++;
              const flowsSeen = seen.reduce((n, c) => n + c.earlierFlows, 0);
              // A range may span a seen port too rare to count (it is seen traffic, not counted as learned).
              expect(r.learned_from.flows).toBeLessThanOrEqual(flowsSeen);
              if (r.basis === 'exact') expect(r.learned_from.flows).toBe(flowsSeen);
              if (r.learned_from.flows < o.minFlows && r.basis !== 'service_range') {
                // A rare peer of a served port: data in every flow, to a port its server's group serves
                // another peer group in minFlows flows or more; a peer group, or a host at the server's ingress.
                expect(r.basis).toBe('exact');
                expect(r.port_range_min).toBe(r.port_range_max);
                expect(r.learned_from.bytes).toBeGreaterThan(o.probeMaxBytes * r.learned_from.flows);
                const [server, client] = r.direction === 'ingress' ? [g.id, r.remote_group_id] : [r.remote_group_id, g.id];
                if (client === null) {
                  expect(r.direction).toBe('ingress');
                  expect(r.remote_ip_prefix).toMatch(/\/(32|128)$/);
                  bases.rare_host++;
                }
                const others = [...listening].filter(
                  ([k, f]) => k.startsWith(`${r.protocol}|${r.port_range_min}|${server}|`) && !k.endsWith(`|${client}`) && f >= o.minFlows,
                );
                expect(others.length).toBeGreaterThan(0);
                bases.rare_peer++;
              }
              const ports = new Set(seen.map((c) => c.port));
              if (r.port_range_min === null) {
                expect(['icmp', 'ipv6-icmp']).toContain(r.protocol);
                continue;
              }
              if (r.basis === 'service_range') {
                // Some of its ports were seen in fewer than minFlows flows (each with data): joined for the range.
                if (r.learned_from.flows < o.minFlows * r.learned_from.ports) bases.rare_in_service_range++;
                // A peer group's rule with two or more of its seen ports in a chain of the fleet's listening
                // ports: the bounds are such ports, the chain between them dense and long enough.
                expect(r.remote_group_id).not.toBeNull();
                expect(ports.size).toBeGreaterThanOrEqual(2);
                const chain = fleetPorts(r.protocol).filter((p) => p >= r.port_range_min! && p <= r.port_range_max!);
                expect(chain[0]).toBe(r.port_range_min);
                expect(chain[chain.length - 1]).toBe(r.port_range_max);
                expect(chain.length).toBeGreaterThanOrEqual(o.serviceRangeMinPorts);
                expect(chain[0]).toBeGreaterThanOrEqual(1024);
                for (let i = 1; i < chain.length; i++) expect(chain[i]! - chain[i - 1]!).toBeLessThanOrEqual(o.maxRangeGap);
                // The part of the whole chain the tenants' own ports overlap in: the rule's tenant listens in
                // it, and a tenant listening in it has all its ports of the chain in it (tenants whose ports
                // lie apart configured ranges of their own).
                const all = fleetPorts(r.protocol);
                let lo = all.indexOf(r.port_range_min!);
                let hi = all.indexOf(r.port_range_max!);
                while (lo > 0 && all[lo]! - all[lo - 1]! <= o.maxRangeGap) lo--;
                while (hi < all.length - 1 && all[hi + 1]! - all[hi]! <= o.maxRangeGap) hi++;
                const byTenant = new Map<string, number[]>();
                for (const [k, f] of listening) {
                  const [protocol, port, serverGroup] = k.split('|') as [string, string, string];
                  const p = Number(port);
                  if (protocol !== r.protocol || !listens(k, f) || p < all[lo]! || p > all[hi]!) continue;
                  const tenant = serverGroup.split(':')[0]!;
                  byTenant.set(tenant, [...(byTenant.get(tenant) ?? []), p]);
                }
                const own = byTenant.get(t.tenant_id) ?? [];
                expect(own.length).toBeGreaterThan(0);
                let part = [Math.min(...own), Math.max(...own)];
                for (let grown = true; grown; ) {
                  grown = false;
                  for (const ports of byTenant.values()) {
                    const [pl, ph] = [Math.min(...ports), Math.max(...ports)];
                    if (pl <= part[1]! && ph >= part[0]! && (pl < part[0]! || ph > part[1]!)) {
                      part = [Math.min(pl, part[0]!), Math.max(ph, part[1]!)];
                      grown = true;
                    }
                  }
                }
                expect([r.port_range_min, r.port_range_max]).toEqual(part);
                continue;
              }
              expect(ports.has(r.port_range_min)).toBe(true);
              expect(ports.has(r.port_range_max!)).toBe(true);
              if (r.basis === 'port_range') {
                const inRange = [...ports].sort((a, b) => a - b);
                expect(inRange.length).toBeGreaterThanOrEqual(o.minRangePorts);
                expect(inRange[0]).toBeGreaterThanOrEqual(1024);
                for (let i = 1; i < inRange.length; i++) expect(inRange[i]! - inRange[i - 1]!).toBeLessThanOrEqual(o.maxRangeGap);
              } else if (r.basis === 'port_spread') {
                // Listeners spread apart: ephemeral ports only, each gap within maxSpreadGap, maxRangeGap apart on average.
                const inRange = [...ports].sort((a, b) => a - b);
                expect(inRange.length).toBeGreaterThanOrEqual(o.minRangePorts);
                expect(inRange[0]).toBeGreaterThanOrEqual(o.spreadFrom);
                for (let i = 1; i < inRange.length; i++) expect(inRange[i]! - inRange[i - 1]!).toBeLessThanOrEqual(o.maxSpreadGap);
                expect(inRange[inRange.length - 1]! - inRange[0]!).toBeLessThanOrEqual(o.maxRangeGap * (inRange.length - 1));
              } else {
                for (let p = r.port_range_min; p <= r.port_range_max!; p++) {
                  expect(ports.has(p)).toBe(true);
                }
              }
              if (r.remote_ip_prefix === '0.0.0.0/0' || r.remote_ip_prefix === '::/0') {
                expect(r.remote_basis).toBe('any_address');
                expect(new Set(seen.map((c) => (r.direction === 'ingress' ? c.client.ip : c.server.ip))).size).toBeGreaterThan(o.maxPrefixesPerRule);
              }
            }
      }),
      { numRuns: 150, seed: 15 },
    );
    // The property was checked on rules of every kind, not vacuously.
    expect(bases.exact).toBeGreaterThan(5000);
    expect(bases.port_range).toBeGreaterThan(100);
    expect(bases.port_spread).toBeGreaterThan(10);
    expect(bases.service_range).toBeGreaterThan(10);
    expect(bases.rare_peer).toBeGreaterThan(10);
    expect(bases.rare_host).toBeGreaterThan(10);
    expect(bases.rare_in_service_range).toBeGreaterThan(5);
    expect(bases.any_address).toBeGreaterThan(100);
    // The random fleets hold probes by that definition too: the rules above were checked without them.
    expect(probes).toBeGreaterThan(20);
  });
});
