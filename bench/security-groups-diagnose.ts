/**
 * Security groups (issue 15): why the rules learned from the earlier windows deny normal VM-to-VM traffic
 * of the check window on generated traces, as a table of causes by bytes, flows and services.
 *
 *   npx tsx bench/security-groups-diagnose.ts [--seeds 1,2,3] [--vms 600] [--ports spread] [--security standard|hard] [--json out.json]
 *
 * Each denied connection between two VMs the truth calls normal gets the first cause that fits, in this
 * order (an end's history is its traffic before the check window, with any peer):
 * - `end_ranked_anomalous`: an end is ranked anomalous and probing, so nothing of it was learned;
 * - `server_new` / `client_new`: the end has no history at all (booted in the check window);
 * - `port_moved_next`: the server served this protocol at the port below (or a span's last port, wrapping)
 *   before, never this one: a listener that moved to its next port;
 * - `port_new`: the server never served this port before (a port per session, a new service);
 * - `peer_group_new`: the server served this port before, never to a VM of the client's group;
 * - `other`: all of that seen, still denied (a rare pair, the other end's rule).
 * For `port_moved_next`, also whether the moved port lies inside the ports the server's group served that
 * service at before, across its servers and to the client's group (a cluster's range), and that spread.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PipelineOptions, toPipelineConfig, toRunOptions } from '../src/config/pipeline-options.ts';
import { probesOf, SERVICES, scannersOf, TraceGenerator } from '../src/generator/index.ts';
import type { PortPlan, SecurityPlan } from '../src/generator/types.ts';
import { replayTrace } from '../src/replay/replay.ts';
import { goalFigures } from '../src/security-groups/goal.ts';
import { protocolName } from '../src/security-groups/recommend.ts';

type Cause = 'end_ranked_anomalous' | 'server_new' | 'client_new' | 'port_moved_next' | 'port_new' | 'peer_group_new' | 'other';

interface Tally {
  connections: number;
  flows: number;
  bytes: number;
}

const PROTO_NUMBER: Record<string, number> = { tcp: 6, udp: 17, icmp: 1 };

/** The generator's service a server port belongs to (the first that fits: ports shared by two name both). */
function serviceOf(protocol: number, port: number): string {
  const names: string[] = [];
  for (const [name, s] of Object.entries(SERVICES)) {
    const span = 'portSpan' in s ? s.portSpan : 1;
    if (PROTO_NUMBER[s.proto] === protocol && port >= s.port && port < s.port + span) names.push(name);
  }
  return names.length === 0 ? `${protocolName(protocol)}/${port}` : names.join('|');
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const seeds = arg('seeds', '1,2,3').split(',').map(Number);
const vms = Number(arg('vms', '600'));
const ports = arg('ports', 'spread') as PortPlan;
const security = arg('security', 'standard') as SecurityPlan;
const jsonOut = arg('json', '');
/** Lists the heaviest denied connections of each seed with what the groups learned around them. */
const list = Number(arg('list', '0'));

const defaults = PipelineOptions.parse({});
const options = { pipeline: toPipelineConfig(defaults), run: toRunOptions(defaults) };
const dir = mkdtempSync(join(tmpdir(), 'sg-diagnose-'));
const byCause = new Map<Cause, Tally>();
const byCauseService = new Map<string, Tally>();
const perSeed: Array<Record<string, unknown>> = [];
const moved = { inGroupRange: { connections: 0, bytes: 0 }, outside: { connections: 0, bytes: 0 }, serversOfGroup: [] as number[] };
let normalBytes = 0;
let normalFlows = 0;
const add = (m: Map<string, Tally>, k: string, flows: number, bytes: number): void => {
  const t = m.get(k) ?? { connections: 0, flows: 0, bytes: 0 };
  t.connections++;
  t.flows += flows;
  t.bytes += bytes;
  m.set(k, t);
};

try {
  for (const seed of seeds) {
    const gen = new TraceGenerator({ name: `sg-${seed}`, seed, vms, tenants: Math.round(vms / 12), minutes: 45, ports, security });
    const path = join(dir, `sg-${seed}.jsonl`);
    writeFileSync(path, `${[...gen.lines()].join('\n')}\n`);
    const truth = gen.truth();
    const scanners = scannersOf(truth);
    const out = await replayTrace(path, options);
    rmSync(path);
    const sg = out.securityGroups!;
    const g = goalFigures(sg.connections, sg.document, scanners, probesOf(truth, gen.probes));
    normalBytes += g.normal_vm_to_vm_bytes;
    normalFlows += g.normal_vm_to_vm_flows;
    const groupOf = new Map<string, string>();
    for (const t of sg.document.tenants)
      for (const gr of t.security_groups) for (const v of [...gr.vm_ids, ...(gr.vms_placed_by_peers ?? [])]) groupOf.set(v, gr.id);
    const anomalous = new Set(sg.document.anomalous_vms);
    // History: ends with earlier traffic; (server, protocol, port) served earlier, and to which groups.
    const withHistory = new Set<string>();
    const served = new Map<string, Set<string>>();
    /** Ports each group served per (protocol, service, client group) before, across its servers. */
    const groupPorts = new Map<string, { ports: number[]; servers: Set<string> }>();
    for (const c of sg.connections) {
      if (c.earlierFlows === 0) continue;
      if (c.client.vmId !== null) withHistory.add(c.client.vmId);
      if (c.server.vmId === null) continue;
      withHistory.add(c.server.vmId);
      for (const [server, client, port] of [
        [c.server.vmId, c.client.vmId, c.port],
        ...(c.altPort >= 0 ? [[c.client.vmId, c.server.vmId, c.altPort] as const] : []),
      ] as const) {
        if (server === null) continue;
        const key = `${server}|${c.protocol}|${port}`;
        const s = served.get(key) ?? new Set<string>();
        s.add(client === null ? `ip:${c.client.ip}` : (groupOf.get(client) ?? `vm:${client}`));
        served.set(key, s);
        const sgroup = groupOf.get(server);
        if (sgroup !== undefined && client !== null) {
          const gk = `${sgroup}|${c.protocol}|${serviceOf(c.protocol, port)}|${groupOf.get(client)}`;
          const e = groupPorts.get(gk) ?? { ports: [], servers: new Set<string>() };
          e.ports.push(port);
          e.servers.add(server);
          groupPorts.set(gk, e);
        }
      }
    }
    const seedCauses = new Map<string, Tally>();
    const listed: string[] = [];
    for (const c of sg.connections) {
      const cv = c.client.vmId;
      const sv = c.server.vmId;
      if (c.allowed !== false || cv === null || sv === null || scanners.has(cv) || scanners.has(sv)) continue;
      const service = serviceOf(c.protocol, c.port);
      const servedHere = served.get(`${sv}|${c.protocol}|${c.port}`);
      const span = Object.values(SERVICES).find((s) => 'portSpan' in s && PROTO_NUMBER[s.proto] === c.protocol && c.port >= s.port && c.port < s.port + s.portSpan);
      const below = span !== undefined && c.port === span.port ? span.port + ('portSpan' in span ? span.portSpan : 1) - 1 : c.port - 1;
      let cause: Cause;
      if (anomalous.has(cv) || anomalous.has(sv)) cause = 'end_ranked_anomalous';
      else if (!withHistory.has(sv)) cause = 'server_new';
      else if (!withHistory.has(cv)) cause = 'client_new';
      else if (servedHere === undefined && served.has(`${sv}|${c.protocol}|${below}`)) cause = 'port_moved_next';
      else if (servedHere === undefined) cause = 'port_new';
      else if (!servedHere.has(groupOf.get(cv) ?? `vm:${cv}`)) cause = 'peer_group_new';
      else cause = 'other';
      add(byCause as Map<string, Tally>, cause, c.latestFlows, c.latestBytes);
      add(byCauseService, `${cause}\t${service}`, c.latestFlows, c.latestBytes);
      add(seedCauses, cause, c.latestFlows, c.latestBytes);
      if (list > 0) {
        const sgroup = groupOf.get(sv);
        const cgroup = groupOf.get(cv);
        const gp = groupPorts.get(`${sgroup}|${c.protocol}|${service}|${cgroup}`);
        const rules = sg.document.tenants
          .flatMap((t) => t.security_groups)
          .filter((gr) => gr.id === sgroup || gr.id === cgroup)
          .flatMap((gr) => gr.security_group_rules.filter((r) => r.remote_group_id === (gr.id === sgroup ? cgroup : sgroup) && r.protocol === protocolName(c.protocol)))
          .map((r) => `${r.direction === 'ingress' ? 'in' : 'eg'}:${r.port_range_min}-${r.port_range_max}${r.basis === 'port_range' ? 'R' : ''}`);
        listed.push(
          `${c.latestBytes.toExponential(2)}\t${cause}\t${service}\t${cv}->${sv}:${c.port}${c.altPort >= 0 ? `/${c.altPort}` : ''} earlier ${c.earlierFlows}\t${sgroup === cgroup ? 'same group' : `${cgroup}->${sgroup}`}\tgroup ports ${JSON.stringify([...new Set(gp?.ports ?? [])].sort((a, b) => a - b))} servers ${gp?.servers.size ?? 0}\trules ${rules.join(' ')}`,
        );
      }
      if (cause === 'port_moved_next') {
        const gp = groupPorts.get(`${groupOf.get(sv)}|${c.protocol}|${service}|${groupOf.get(cv)}`);
        const inside = gp !== undefined && c.port >= Math.min(...gp.ports) && c.port <= Math.max(...gp.ports);
        const m = inside ? moved.inGroupRange : moved.outside;
        m.connections++;
        m.bytes += c.latestBytes;
        moved.serversOfGroup.push(gp?.servers.size ?? 0);
      }
    }
    if (list > 0) console.log(listed.sort((a, b) => Number(b.split('\t')[0]) - Number(a.split('\t')[0])).slice(0, list).join('\n'));
    const row = {
      seed,
      // Leaders the generator fails over to their role's next VM inside the check window.
      failovers: truth.injected.failovers ?? 0,
      started_vms: truth.injected.started_vms ?? 0,
      normal_vm_to_vm_bytes: g.normal_vm_to_vm_bytes,
      normal_vm_to_vm_flows: g.normal_vm_to_vm_flows,
      share_normal_bytes_allowed: g.share_normal_bytes_allowed,
      share_normal_flows_allowed: g.share_normal_flows_allowed,
      share_normal_services_allowed: g.share_normal_services_allowed,
      probes: g.probes,
      probes_allowed: g.probes_allowed,
      rules: g.rules,
      denied_bytes_by_cause: Object.fromEntries([...seedCauses].map(([k, t]) => [k, Number((t.bytes / g.normal_vm_to_vm_bytes).toFixed(5))])),
    };
    perSeed.push(row);
    process.stderr.write(`${JSON.stringify(row)}\n`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const pct = (x: number, of: number): string => `${((100 * x) / of).toFixed(2)}%`;
const shares = perSeed.map((r) => r.share_normal_bytes_allowed as number);
console.log(`seeds ${seeds[0]}..${seeds[seeds.length - 1]} (${seeds.length}): bytes allowed mean ${pct(shares.reduce((a, b) => a + b, 0), shares.length)}, worst ${pct(Math.min(...shares), 1)}`);
console.log('\ncause\tconnections\tflows (of normal)\tbytes (of normal)');
for (const [k, t] of [...byCause].sort((a, b) => b[1].bytes - a[1].bytes)) console.log(`${k}\t${t.connections}\t${pct(t.flows, normalFlows)}\t${pct(t.bytes, normalBytes)}`);
console.log('\ncause\tservice\tconnections\tflows\tbytes (of normal)');
for (const [k, t] of [...byCauseService].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, 30)) console.log(`${k}\t${t.connections}\t${pct(t.flows, normalFlows)}\t${pct(t.bytes, normalBytes)}`);
console.log(
  `\nmoved listeners: inside their group's seen ports ${moved.inGroupRange.connections} (${pct(moved.inGroupRange.bytes, normalBytes)}), outside ${moved.outside.connections} (${pct(moved.outside.bytes, normalBytes)}); servers per group ${JSON.stringify(moved.serversOfGroup)}`,
);
if (jsonOut !== '') writeFileSync(jsonOut, `${JSON.stringify({ seeds, normalBytes, normalFlows, perSeed, byCause: Object.fromEntries(byCause), byCauseService: Object.fromEntries(byCauseService), moved }, null, 2)}\n`);
