import { describe, expect, it } from 'vitest';
import type { FlowRecord } from '../../src/contract/records.ts';
import { ConnectionLog } from '../../src/security-groups/connection-log.ts';
import { type Membership, recommendSecurityGroups } from '../../src/security-groups/recommend.ts';
import type { SecurityGroupRule } from '../../src/security-groups/types.ts';
import { flowBetween } from '../helpers/records.ts';

const T0 = Date.UTC(2026, 10, 1);
const MIN = 60_000;
const WINDOW = 15 * MIN;
/** The watermark: the check window is [45, 60) minutes; what is earlier is learned from. */
const END = T0 + 60 * MIN - 1;

interface Vm {
  id: string;
  tenant: string;
  cluster: string;
  ip: string;
}

const vm = (id: string, cluster: string, n: number): Vm => ({ id, tenant: 't1', cluster, ip: `10.0.0.${n}` });
// A client group (app) with a compromised client (a4) that keeps its role, a database group, a web group
// and a relay serving a port per session.
const a1 = vm('a1', 'vm-app', 1);
const a2 = vm('a2', 'vm-app', 2);
const a3 = vm('a3', 'vm-app', 3);
const a4 = vm('a4', 'vm-app', 4);
const d1 = vm('d1', 'vm-db', 11);
const d2 = vm('d2', 'vm-db', 12);
const d3 = vm('d3', 'vm-db', 13);
const w1 = vm('w1', 'vm-web', 21);
const w2 = vm('w2', 'vm-web', 22);
const r1 = vm('r1', 'vm-relay', 31);
const VMS = [a1, a2, a3, a4, d1, d2, d3, w1, w2, r1];

function flow(ts: number, src: Vm, dst: Vm, sp: number, dp: number, bytes: number): FlowRecord {
  return flowBetween(ts, src, dst, sp, dp, 6, bytes);
}

/** A request and its reply, once a minute for `minutes` minutes from `from`. */
function talk(log: ConnectionLog, client: Vm, server: Vm, port: number, from: number, minutes: number): void {
  for (let m = 0; m < minutes; m++) {
    const ts = from + m * MIN;
    const ephemeral = 32_768 + ((port * 7 + m * 131 + (from / MIN) * 17) % 28_000);
    log.add(flow(ts, client, server, ephemeral, port, 200));
    log.add(flow(ts, server, client, port, ephemeral, 5000));
  }
}

/** One unanswered packet (with `bytes` of payload) from a fresh ephemeral port. */
function probe(log: ConnectionLog, client: Vm, server: Vm, port: number, at: number, bytes = 60): void {
  log.add(flow(at, client, server, 40_000 + ((at - T0) / MIN) * 7 + port, port, bytes));
}

/** Every scan scores 1: the run ranks none of them anomalous, as it did most compromised clients of the hard plan. */
function membership(): Membership {
  return {
    runId: 'run-1',
    computedAt: END,
    vmIds: VMS.map((v) => v.id),
    clusterIds: VMS.map((v) => v.cluster),
    vmTenants: VMS.map((v) => v.tenant),
    anomalyScores: Float64Array.from(VMS, () => 1),
    clusterNames: new Map(),
  };
}

/** The log of the hand-built fleet: the app's clients use the database, a4 also probes, web uses the relay. */
function fleetLog(): ConnectionLog {
  const log = new ConnectionLog(WINDOW);
  for (const [client, server] of [
    [a1, d1],
    [a2, d2],
    [a3, d3],
    [a4, d1],
  ] as const)
    talk(log, client, server, 5432, T0, 10);
  // a4 probes telnet on three fellow clients, once each: 3 flows at one port of its own group.
  probe(log, a4, a1, 23, T0 + 2 * MIN);
  probe(log, a4, a2, 23, T0 + 9 * MIN);
  probe(log, a4, a3, 23, T0 + 17 * MIN);
  // And MySQL on two database VMs that serve only PostgreSQL, with payloads (an exploit attempt), d3 twice.
  probe(log, a4, d2, 3306, T0 + 4 * MIN, 3_000);
  probe(log, a4, d3, 3306, T0 + 12 * MIN, 2_400);
  probe(log, a4, d3, 3306, T0 + 25 * MIN, 5_000);
  // A legitimate client of a port per session: one-offs at seven ports of one relay, each served to no one else.
  for (let k = 0; k < 7; k++) talk(log, w1, r1, 16_400 + 37 * k, T0 + (3 + 4 * k) * MIN, 1);
  // A legitimate new client at a served port: one-offs to two database VMs that serve 5432 to others.
  talk(log, w2, d1, 5432, T0 + 30 * MIN, 1);
  probe(log, w2, d2, 5432, T0 + 31 * MIN, 2_000);
  // The check window: the probes again, and the normal traffic.
  probe(log, a4, a2, 23, T0 + 50 * MIN);
  probe(log, a4, d3, 3306, T0 + 51 * MIN, 1_000);
  talk(log, a1, d1, 5432, T0 + 46 * MIN, 3);
  talk(log, w1, r1, 16_450, T0 + 47 * MIN, 1);
  return log;
}

function rulesOf(doc: ReturnType<typeof recommendSecurityGroups>['document'], groupId: string): string[] {
  for (const t of doc.tenants)
    for (const g of t.security_groups)
      if (g.id === groupId)
        return g.security_group_rules.map(
          (r: SecurityGroupRule) =>
            `${r.direction} ${r.protocol} ${r.port_range_min}-${r.port_range_max} ${r.remote_group_id ?? r.remote_ip_prefix} ${r.basis} vms ${r.learned_from.vms} flows ${r.learned_from.flows}`,
        );
  throw new Error(`no group ${groupId}`);
}

describe('probes of clients the run does not rank anomalous', () => {
  it('a prober inside a client group teaches no rule; a session-port client and a new client of a served port still do', () => {
    const { document, connections } = recommendSecurityGroups(membership(), fleetLog());
    expect(document.anomalous_vms).toEqual([]);
    // Five probe connections (three at 23, two at 3306), each of the earlier windows.
    expect(document.summary.not_learned.probes).toBe(5);
    expect(rulesOf(document, 't1:vm-app')).toEqual(['egress tcp 5432-5432 t1:vm-db exact vms 4 flows 80']);
    expect(rulesOf(document, 't1:vm-db')).toEqual([
      'ingress tcp 5432-5432 t1:vm-app exact vms 3 flows 80',
      'ingress tcp 5432-5432 t1:vm-web exact vms 2 flows 3',
    ]);
    expect(rulesOf(document, 't1:vm-web')).toEqual([
      'egress tcp 5432-5432 t1:vm-db exact vms 1 flows 3',
      'egress tcp 16400-16622 t1:vm-relay port_range vms 1 flows 14',
    ]);
    expect(rulesOf(document, 't1:vm-relay')).toEqual(['ingress tcp 16400-16622 t1:vm-web port_range vms 1 flows 14']);
    const verdicts = connections
      .filter((c) => c.latestFlows > 0)
      .map((c) => `${c.client.vmId}->${c.server.vmId}:${c.port} ${c.allowed}`)
      .sort();
    expect(verdicts).toEqual(['a1->d1:5432 true', 'a4->a2:23 false', 'a4->d3:3306 false', 'w1->r1:16450 true']);
  });

  it('without the criterion (probeMinServers 0) the same probes are learned: the rules the test above holds back', () => {
    const { document, connections } = recommendSecurityGroups(membership(), fleetLog(), { probeMinServers: 0 });
    expect(document.summary.not_learned.probes).toBe(0);
    expect(rulesOf(document, 't1:vm-app')).toEqual([
      'egress tcp 23-23 t1:vm-app exact vms 1 flows 3',
      'egress tcp 3306-3306 t1:vm-db exact vms 1 flows 3',
      'egress tcp 5432-5432 t1:vm-db exact vms 4 flows 80',
      'ingress tcp 23-23 t1:vm-app exact vms 3 flows 3',
    ]);
    const allowed = connections.filter((c) => c.latestFlows > 0 && c.client.vmId === 'a4').map((c) => `${c.server.vmId}:${c.port} ${c.allowed}`);
    expect(allowed.sort()).toEqual(['a2:23 true', 'd3:3306 true']);
  });

  it('one server per port is no probe: a client whose one-offs reach one server at each of its ports is learned as before', () => {
    const log = new ConnectionLog(WINDOW);
    talk(log, a1, d1, 5432, T0, 10);
    // Three one-offs at 23 to one server: a rule of 3 flows (not a one-off once added up), learned from.
    probe(log, a4, a1, 23, T0 + 2 * MIN);
    probe(log, a4, a1, 23, T0 + 9 * MIN);
    probe(log, a4, a1, 23, T0 + 17 * MIN);
    const { document } = recommendSecurityGroups(membership(), log);
    expect(document.summary.not_learned.probes).toBe(0);
    expect(rulesOf(document, 't1:vm-app')).toEqual([
      'egress tcp 23-23 t1:vm-app exact vms 1 flows 3',
      'egress tcp 5432-5432 t1:vm-db exact vms 1 flows 20',
      'ingress tcp 23-23 t1:vm-app exact vms 1 flows 3',
    ]);
  });
});
