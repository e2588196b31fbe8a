/**
 * Security groups (issue 15): why the rules learned from the earlier windows deny normal VM-to-VM traffic
 * of the check window on generated traces, as a table of causes by bytes, flows and services.
 *
 *   npx tsx bench/security-groups-diagnose.ts [--seeds 1,2,3] [--vms 600] [--ports spread] [--security standard|hard] [--json out.json] [--probes]
 *
 * `--probes` lists every probe the rules allowed, the rules that allowed it and what its prober did before.
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
import type { CheckedConnection } from '../src/security-groups/check.ts';
import { replayTrace } from '../src/replay/replay.ts';
import { goalFigures } from '../src/security-groups/goal.ts';
import { protocolName, recommendSecurityGroups } from '../src/security-groups/recommend.ts';
import { membershipOf } from '../src/runs/membership.ts';
import type { SecurityGroupRule, SecurityGroupsDocument } from '../src/security-groups/types.ts';

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
/** Lists every probe the rules allowed, with the rules that allowed it and what its prober did before. */
const listProbes = process.argv.includes('--probes');
/**
 * Also learns the rules without the probes' criterion (probeMinServers 0, the learner before it) from the
 * same run and connections: both goal figures per seed, and the normal connections only the criterion denies.
 */
const before = process.argv.includes('--before');

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
    const groupOf = new Map<string, string>();
    for (const t of sg.document.tenants)
      for (const gr of t.security_groups) for (const v of [...gr.vm_ids, ...(gr.vms_placed_by_peers ?? [])]) groupOf.set(v, gr.id);
    let beforeFigures: Record<string, number | null> = {};
    if (before && out.lastRun !== null) {
      const b = recommendSecurityGroups(membershipOf(out.lastRun), out.pipeline.connections, { probeMinServers: 0 });
      const bg = goalFigures(b.connections, b.document, scanners, probesOf(truth, gen.probes));
      // Rows are the log's in both: the same connection at the same index.
      let lostBytes = 0;
      let lost = 0;
      let gainedProbes = 0;
      for (let i = 0; i < sg.connections.length; i++) {
        const now = sg.connections[i]!;
        const then = b.connections[i]!;
        if (now.client.vmId === null || now.server.vmId === null) continue;
        if (then.allowed === true && now.allowed === false && !scanners.has(now.client.vmId) && !scanners.has(now.server.vmId)) {
          lost++;
          lostBytes += now.latestBytes;
          if (listProbes)
            console.log(
              `seed ${seed} denied only now\t${now.client.vmId}->${now.server.vmId} ${protocolName(now.protocol)}/${now.port} earlier flows ${now.earlierFlows} bytes ${now.earlierBytes}, latest flows ${now.latestFlows} bytes ${now.latestBytes}\t${groupOf.get(now.client.vmId)}->${groupOf.get(now.server.vmId)}`,
            );
        }
        if (then.allowed === false && now.allowed === true) gainedProbes++;
      }
      beforeFigures = {
        before_share_normal_bytes_allowed: bg.share_normal_bytes_allowed,
        before_probes_allowed: bg.probes_allowed,
        before_rules: bg.rules,
        normal_connections_denied_only_now: lost,
        normal_bytes_denied_only_now: lostBytes,
        connections_allowed_only_now: gainedProbes,
        not_learned_probes: sg.document.summary.not_learned.probes ?? 0,
      };
      if (listProbes) for (const line of allowedProbes(b.connections, b.document, scanners, probesOf(truth, gen.probes), groupOf)) console.log(`seed ${seed} before\t${line}`);
      b.release();
    }
    normalBytes += g.normal_vm_to_vm_bytes;
    normalFlows += g.normal_vm_to_vm_flows;
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
    if (listProbes) for (const line of allowedProbes(sg.connections, sg.document, scanners, probesOf(truth, gen.probes), groupOf)) console.log(`seed ${seed}\t${line}`);
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
      ...beforeFigures,
      denied_bytes_by_cause: Object.fromEntries([...seedCauses].map(([k, t]) => [k, Number((t.bytes / g.normal_vm_to_vm_bytes).toFixed(5))])),
    };
    perSeed.push(row);
    process.stderr.write(`${JSON.stringify(row)}\n`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Each allowed probe (a scanner's connection to a port its target serves no normal client, as goalFigures
 * counts them) with the egress and ingress rules that match it (their learned_from), and its prober's
 * earlier connections at that protocol and port beside its group's other clients' (servers, flows, bytes).
 */
function allowedProbes(
  connections: readonly CheckedConnection[],
  document: SecurityGroupsDocument,
  scanners: ReadonlySet<string>,
  isProbe: (c: CheckedConnection) => boolean,
  groupOf: ReadonlyMap<string, string>,
): string[] {
  const served = new Set<string>();
  for (const c of connections)
    if (c.client.vmId !== null && c.server.vmId !== null && !scanners.has(c.client.vmId) && !scanners.has(c.server.vmId)) served.add(`${c.server.vmId}|${c.protocol}|${c.port}`);
  const rulesOf = new Map<string, SecurityGroupRule[]>();
  for (const t of document.tenants) for (const gr of t.security_groups) rulesOf.set(gr.id, gr.security_group_rules);
  const matching = (group: string | undefined, direction: string, remote: string | undefined, c: CheckedConnection): string =>
    (rulesOf.get(group ?? '') ?? [])
      .filter(
        (r) =>
          r.direction === direction &&
          r.protocol === protocolName(c.protocol) &&
          (r.port_range_min ?? 0) <= c.port &&
          c.port <= (r.port_range_max ?? 65535) &&
          (r.remote_group_id === undefined || r.remote_group_id === null || r.remote_group_id === remote),
      )
      .map((r) => `${r.port_range_min}-${r.port_range_max} ${r.basis} vms ${r.learned_from.vms} flows ${r.learned_from.flows} bytes ${r.learned_from.bytes}`)
      .join('; ');
  /** Earlier connections at (client group, protocol, port): per client VM, servers, flows, bytes. */
  const earlier = (group: string | undefined, protocol: number, port: number): Map<string, { servers: number; flows: number; bytes: number }> => {
    const out = new Map<string, { servers: number; flows: number; bytes: number }>();
    for (const c of connections) {
      if (c.earlierFlows === 0 || c.protocol !== protocol || c.port !== port || c.client.vmId === null || groupOf.get(c.client.vmId) !== group) continue;
      const t = out.get(c.client.vmId) ?? { servers: 0, flows: 0, bytes: 0 };
      t.servers++;
      t.flows += c.earlierFlows;
      t.bytes += c.earlierBytes;
      out.set(c.client.vmId, t);
    }
    return out;
  };
  const lines: string[] = [];
  for (const c of connections) {
    const cv = c.client.vmId;
    const sv = c.server.vmId;
    if (c.allowed !== true || cv === null || sv === null || !scanners.has(cv) || scanners.has(sv) || served.has(`${sv}|${c.protocol}|${c.port}`) || !isProbe(c)) continue;
    const cg = groupOf.get(cv);
    const sg = groupOf.get(sv);
    const byClient = earlier(cg, c.protocol, c.port);
    const prober = byClient.get(cv);
    const others = [...byClient].filter(([vm]) => vm !== cv).map(([, t]) => `${t.servers}/${t.flows}/${t.bytes}`);
    lines.push(
      `${cv}->${sv} ${protocolName(c.protocol)}/${c.port} flows ${c.latestFlows} bytes ${c.latestBytes}\t${cg === sg ? 'same group' : `${cg}->${sg}`}\tegress [${matching(cg, 'egress', sg, c)}] ingress [${matching(sg, 'ingress', cg, c)}]\tprober earlier servers/flows/bytes ${prober === undefined ? 'none' : `${prober.servers}/${prober.flows}/${prober.bytes}`}; other clients of its group ${others.length} [${others.slice(0, 8).join(' ')}]`,
    );
  }
  return lines;
}

const pct = (x: number, of: number): string => `${((100 * x) / of).toFixed(2)}%`;
const shares = perSeed.map((r) => r.share_normal_bytes_allowed as number);
console.log(`seeds ${seeds[0]}..${seeds[seeds.length - 1]} (${seeds.length}): bytes allowed mean ${pct(shares.reduce((a, b) => a + b, 0), shares.length)}, worst ${pct(Math.min(...shares), 1)}`);
const sum = (k: string): number => perSeed.reduce((n, r) => n + Number(r[k] ?? 0), 0);
console.log(`probes allowed ${sum('probes_allowed')} of ${sum('probes')}, rules ${sum('rules')}`);
if (before) {
  const was = perSeed.map((r) => r.before_share_normal_bytes_allowed as number);
  console.log(
    `without the probes' criterion: bytes allowed mean ${pct(was.reduce((a, b) => a + b, 0), was.length)}, worst ${pct(Math.min(...was), 1)}, probes allowed ${sum('before_probes_allowed')}, rules ${sum('before_rules')}; normal connections denied only with it ${sum('normal_connections_denied_only_now')} (${sum('normal_bytes_denied_only_now')} bytes)`,
  );
}
console.log('\ncause\tconnections\tflows (of normal)\tbytes (of normal)');
for (const [k, t] of [...byCause].sort((a, b) => b[1].bytes - a[1].bytes)) console.log(`${k}\t${t.connections}\t${pct(t.flows, normalFlows)}\t${pct(t.bytes, normalBytes)}`);
console.log('\ncause\tservice\tconnections\tflows\tbytes (of normal)');
for (const [k, t] of [...byCauseService].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, 30)) console.log(`${k}\t${t.connections}\t${pct(t.flows, normalFlows)}\t${pct(t.bytes, normalBytes)}`);
console.log(
  `\nmoved listeners: inside their group's seen ports ${moved.inGroupRange.connections} (${pct(moved.inGroupRange.bytes, normalBytes)}), outside ${moved.outside.connections} (${pct(moved.outside.bytes, normalBytes)}); servers per group ${JSON.stringify(moved.serversOfGroup)}`,
);
if (jsonOut !== '') writeFileSync(jsonOut, `${JSON.stringify({ seeds, normalBytes, normalFlows, perSeed, byCause: Object.fromEntries(byCause), byCauseService: Object.fromEntries(byCauseService), moved }, null, 2)}\n`);
