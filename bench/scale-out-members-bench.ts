/**
 * `npm run bench -- scale-out`: members of one scale-out application as real processes on a broker started
 * here. The small fixture is produced once into input topics of three partitions (so the route stage can
 * spread), then today's single process and applications of 1, 2 and 3 members each consume it from the start
 * (the members under a fresh app id).
 * With 3 members it also measures partition balance, a kill -9 of a member and of the leader, and reads
 * during a run. The single-process figures (repartition bytes, checkpoint bytes per VM) come from
 * bench/scale-out-bench.ts's in-process topology on the same trace.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { produceTrace } from '../src/kafka/produce-trace.ts';
import { defaultTopics } from '../src/contract/topics.ts';
import { topologyTopics } from '../src/topology/config.ts';
import { createTopics, testKafkaClient, uniqueTopic } from '../test/helpers/kafka.ts';
import { getJson, type ServiceProcess, startServiceProcess, waitFor } from '../test/helpers/service-process.ts';
import { getFreePorts, runConsumerPerformance, startKafkaBroker } from '../tools/kafka-broker/index.ts';
import { measureScaleOutInProcess } from './scale-out-bench.ts';

const TRACE = 'fixtures/small.jsonl.gz';
const PARTITIONS = 6;
const INPUT_PARTITIONS = 3;

interface Stats {
  records: { flows: number; vm_attributes: number; tenant_attributes: number };
  latest_run_id: string | null;
}

const routed = async (url: string): Promise<number> => {
  const { records } = (await getJson<Stats>(`${url}/v1/stats`)).body;
  return records.flows + records.vm_attributes + records.tenant_attributes;
};

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.split(' ')[1]);
}

/** User + system CPU seconds of a live process, from /proc (Linux): the member's own, not this process's. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

/** Bytes of a partition's log segments; its index files are preallocated (10 MB each) and say nothing. */
function segmentBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isFile() && e.name.endsWith('.log')) n += statSync(join(dir, e.name)).size;
  return n;
}

const percentile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const round = (x: number, digits = 1): number => Number(x.toFixed(digits));

/** A failure with the members' last output, the only record of why a member died. */
function withLogs(members: ServiceProcess[]): (err: unknown) => never {
  return (err) => {
    throw new Error(`${String(err)}\n${members.map((m, i) => `--- member ${i} (exit ${m.child.exitCode})\n${m.output().slice(-3000)}`).join('\n')}`);
  };
}

export async function benchScaleOut(): Promise<Record<string, unknown>> {
  const inProcess = await measureScaleOutInProcess(TRACE, PARTITIONS);
  const [port, controllerPort] = await getFreePorts(2);
  const dataDir = `.cache/kafka/bench-data-${port}`;
  const broker = await startKafkaBroker({ port: port!, controllerPort: controllerPort!, dataDir, logDir: `.cache/kafka/bench-logs-${port}`, detached: false });
  const running: ServiceProcess[] = [];
  try {
    const prefix = uniqueTopic('scaleout-bench');
    const topics = { flows: `${prefix}.flows`, vm: `${prefix}.vms`, tenant: `${prefix}.tenants` };
    await createTopics(broker.brokers, Object.values(topics), INPUT_PARTITIONS);
    const produced = await produceTrace(
      TRACE,
      { topicMap: { [defaultTopics.flows]: topics.flows, [defaultTopics.vmAttributes]: topics.vm, [defaultTopics.tenantAttributes]: topics.tenant } },
      testKafkaClient(broker.brokers, 'scaleout-bench-producer'),
    );
    const total = inProcess.input_records;
    const inputs = {
      KAFKA_BROKERS: broker.brokers,
      KAFKA_TOPIC_FLOWS: topics.flows,
      KAFKA_TOPIC_VM_ATTRIBUTES: topics.vm,
      KAFKA_TOPIC_TENANT_ATTRIBUTES: topics.tenant,
      RECLUSTER_WALLCLOCK_SECONDS: '0',
      SCALE_OUT_PARTITIONS: String(PARTITIONS),
      SCALE_OUT_SESSION_TIMEOUT_MS: '10000',
    };
    const throughput: Record<string, unknown> = {};
    {
      // Today's single process (no SCALE_OUT_APP_ID) on the same topics, measured the same way: what one
      // member is held against. Done when every record is counted and its runs have stopped for 2 s.
      const single = await startServiceProcess(inputs);
      running.push(single);
      const cpu0 = cpuSeconds(single.child.pid!);
      const first = await waitFor(async () => ((await routed(single.url)) > 0 ? performance.now() : undefined), 120_000, 'the first record (one process)');
      let last = '';
      let lastChange = performance.now();
      await waitFor(
        async () => {
          const { body } = await getJson<Stats>(`${single.url}/v1/stats`);
          const now = `${body.records.flows + body.records.vm_attributes + body.records.tenant_attributes},${body.latest_run_id}`;
          if (now !== last) {
            last = now;
            lastChange = performance.now();
          }
          return (await routed(single.url)) >= total && performance.now() - lastChange > 2000 ? true : undefined;
        },
        300_000,
        `${total} records in one process`,
      ).catch(withLogs([single]));
      const cpu = cpuSeconds(single.child.pid!) - cpu0;
      const seconds = (lastChange - first) / 1000;
      throughput.single_process = {
        load_average_1min: Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]),
        records_per_s: Math.round(total / seconds),
        seconds: round(seconds, 2),
        cpu_s_per_million_records: round((cpu / total) * 1e6),
      };
      await single.stop('SIGKILL');
    }
    let three: { members: ServiceProcess[]; appId: string } | null = null;
    for (const n of [1, 2, 3]) {
      const appId = uniqueTopic(`bench${n}`);
      const started = performance.now();
      const members = await Promise.all(Array.from({ length: n }, () => startServiceProcess({ ...inputs, SCALE_OUT_APP_ID: appId })));
      running.push(...members);
      const cpu0 = members.map((m) => cpuSeconds(m.child.pid!));
      // The clock starts at the first routed record: process start-up and group joins are not ingest.
      const first = await waitFor(async () => ((await routed(members[0]!.url)) > 0 ? performance.now() : undefined), 120_000, 'the first routed record');
      await waitFor(async () => ((await routed(members[0]!.url)) >= total ? true : undefined), 300_000, `${total} records routed by ${n} members`).catch(withLogs(members));
      // Applied by the window owners too. Checkpoints are written at run ticks, so the lag does not fall to
      // 0 at the end of the input: the windows are done when it has stopped moving for 2 s.
      let lastLag = '';
      let lastChange = performance.now();
      await waitFor(
        async () => {
          const lag = (await Promise.all(members.map((m) => metric(m.url, 'alcor_scale_out_changelog_lag')))).join(',');
          if (lag !== lastLag) {
            lastLag = lag;
            lastChange = performance.now();
          }
          return performance.now() - lastChange > 2000 ? true : undefined;
        },
        120_000,
        'the windows applied',
      );
      const seconds = (lastChange - first) / 1000;
      const cpu = members.map((m, i) => cpuSeconds(m.child.pid!) - cpu0[i]!);
      throughput[`members_${n}`] = {
        load_average_1min: Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]),
        records_per_s: Math.round(total / seconds),
        seconds: round(seconds, 2),
        start_to_first_record_s: round((first - started) / 1000, 2),
        cpu_s_per_million_records_per_member: cpu.map((c) => round((c / total) * 1e6)),
        cpu_s_per_million_records_total: round((cpu.reduce((a, b) => a + b, 0) / total) * 1e6),
      };
      if (n === 1) {
        // The hop as the broker stores it (record batches, headers, transaction markers included).
        const byVm = `${topologyTopics(appId).byVm}-`;
        const logDirs = join(dataDir, 'kraft');
        const bytes = readdirSync(logDirs)
          .filter((d) => d.startsWith(byVm))
          .reduce((sum, d) => sum + segmentBytes(join(logDirs, d)), 0);
        (throughput.members_1 as Record<string, unknown>).by_vm_log_bytes_per_input_record = round(bytes / total);
      }
      if (n === 3) three = { members, appId };
      else for (const m of members) await m.stop('SIGKILL');
    }
    const { members, appId } = three!;
    const owned = await Promise.all(members.map((m) => metric(m.url, 'alcor_scale_out_partitions_owned')));
    const vms = await Promise.all(members.map((m) => metric(m.url, 'alcor_scale_out_vms_owned')));
    const changelog = topologyTopics(appId);
    // The broker's log.dirs is dataDir/kraft (tools/kafka-broker/broker.ts); a partition is `<topic>-<n>`.
    const logDirs = join(dataDir, 'kraft');
    const changelogDirs = readdirSync(logDirs).filter((d) => d.startsWith(`${changelog.changelog}-`));
    const state = {
      rss_mb_per_member: members.map((m) => round(rssBytes(m.child.pid!) / 2 ** 20)),
      checkpoint_bytes_per_member: vms.map((v) => Math.round(v * inProcess.checkpoint_bytes_per_vm)),
      changelog_segment_bytes_on_broker: changelogDirs.reduce((s, d) => s + segmentBytes(join(logDirs, d)), 0),
    };

    // Reads on a member that is not the leader while the leader computes and publishes a requested run.
    const leaderOf = async (alive: ServiceProcess[]): Promise<ServiceProcess | undefined> => {
      for (const m of alive) if ((await metric(m.url, 'alcor_scale_out_leader')) === 1) return m;
      return undefined;
    };
    const leader = await waitFor(() => leaderOf(members), 60_000, 'a leader');
    const reader = members.find((m) => m !== leader)!;
    const before = (await getJson<Stats>(`${reader.url}/v1/stats`)).body.latest_run_id;
    const { body: assigned } = await getJson<{ vm_clusters: Record<string, string> }>(`${reader.url}/v1/assignments`);
    const vmIds = Object.keys(assigned.vm_clusters ?? {});
    const res = await fetch(`${leader.url}/v1/recluster`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ search: true }) });
    if (res.status !== 202) throw new Error(`POST /v1/recluster: ${res.status}`);
    // prom-client's event-loop delay histogram restarts at every scrape: this one opens the run's.
    await metric(reader.url, 'alcor_nodejs_eventloop_lag_max_seconds');
    const latencies: number[] = [];
    const readStart = performance.now();
    for (let i = 0; ; i++) {
      const t = performance.now();
      const r = await fetch(`${reader.url}/v1/vms/${encodeURIComponent(vmIds[i % Math.max(1, vmIds.length)] ?? 'none')}`);
      await r.arrayBuffer();
      latencies.push(performance.now() - t);
      if (i % 50 === 49 && (await getJson<Stats>(`${reader.url}/v1/stats`)).body.latest_run_id !== before) break;
      if (performance.now() - readStart > 120_000) break;
    }
    const runSeconds = (performance.now() - readStart) / 1000;
    // How long the reader's event loop was held at once during the run (its own work, or no CPU for it): a
    // request's latency beyond that is the machine's load.
    const loopText = await (await fetch(`${reader.url}/metrics`)).text();
    const loop = (name: string): number => Number(/^\S+ (\S+)$/.exec(loopText.split('\n').find((l) => l.startsWith(`${name} `)) ?? '')?.[1] ?? Number.NaN) * 1000;
    latencies.sort((a, b) => a - b);
    const reads = {
      requests: latencies.length,
      p50_ms: round(percentile(latencies, 0.5), 2),
      p99_ms: round(percentile(latencies, 0.99), 2),
      run_seconds: round(runSeconds, 1),
      reader_event_loop_delay_p99_ms: round(loop('alcor_nodejs_eventloop_lag_p99_seconds'), 1),
      reader_event_loop_delay_max_ms: round(loop('alcor_nodejs_eventloop_lag_max_seconds'), 1),
      load_average_1min: Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]),
    };

    // kill -9 of a member that does not lead: until the survivors own every partition again.
    const victim = reader;
    let t0 = performance.now();
    await victim.stop('SIGKILL');
    let alive = members.filter((m) => m !== victim);
    await waitFor(async () => ((await Promise.all(alive.map((m) => metric(m.url, 'alcor_scale_out_partitions_owned')))).reduce((a, b) => a + b, 0) === PARTITIONS ? true : undefined), 120_000, 'partitions served again');
    const partitionsServedAgainS = (performance.now() - t0) / 1000;
    t0 = performance.now();
    await leader.stop('SIGKILL');
    alive = alive.filter((m) => m !== leader);
    await waitFor(() => leaderOf(alive), 120_000, 'a new leader');
    const leaderFailoverS = (performance.now() - t0) / 1000;

    // Messages, not records: the tool must stop at the topic's end, not wait for its idle timeout.
    const flowMessages = produced.byTopic[topics.flows] ?? 0;
    // The trace packs many flow records into one message: the tool counts messages, the members records.
    const flowRecords = (await getJson<Stats>(`${alive[0]!.url}/v1/stats`)).body.records.flows;
    const perf = await runConsumerPerformance({ brokers: broker.brokers, topic: topics.flows, messages: flowMessages });
    const one = throughput.members_1 as { records_per_s: number };
    return {
      trace: TRACE,
      input_records: total,
      input_partitions: INPUT_PARTITIONS,
      by_vm_partitions: PARTITIONS,
      session_timeout_ms: 10_000,
      throughput,
      repartition: { by_vm_records_per_input_record: inProcess.by_vm_records_per_input_record, by_vm_bytes_per_input_record: inProcess.by_vm_bytes_per_input_record, input_bytes_per_record: inProcess.input_bytes_per_record },
      balance_3_members: { partitions_owned: owned, vms_owned: vms },
      state_3_members: state,
      kill9_to_partitions_served_again_s: round(partitionsServedAgainS, 2),
      leader_failover_s: round(leaderFailoverS, 2),
      get_vm_during_run: reads,
      kafka_tool_flows_messages: flowMessages,
      kafka_tool_flows_messages_per_s: Math.round(perf.recordsPerSec),
      kafka_tool_flows_fetch_messages_per_s: Math.round(perf.fetchRecordsPerSec),
      kafka_tool_flows_fetch_records_per_s: Math.round((perf.fetchRecordsPerSec * flowRecords) / Math.max(1, flowMessages)),
      ratio_1_member_to_kafka_tool_fetch_records: round((one.records_per_s * flowMessages) / (perf.fetchRecordsPerSec * flowRecords), 4),
    };
  } finally {
    for (const m of running) await m.stop('SIGKILL');
    await broker.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}
