/**
 * `npx tsx bench/member-profile.ts [DIR]`: one member's ingest of 200k single-record flow messages (as
 * benchMemberIngest, runs off: the same build, started the same way with the same members' environment)
 * under `node --cpu-prof`, on a broker started here; the member stops with SIGTERM so that every thread
 * writes its profile to DIR (default /tmp/member-profile). Then each profile's busy share per second and its
 * top functions by self time, over the seconds the thread was busy: the main thread (windows, API) and the
 * route worker each get a file.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type ServiceProcess, startServiceProcess } from '../test/helpers/service-process.ts';
import { getFreePorts, startKafkaBroker } from '../tools/kafka-broker/index.ts';
import { benchKafkaClient, buildMessages, createBenchTopics, produceTexts } from './kafka-ingest.ts';
import { membersEnv, metric } from './scale-out-members-bench.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
}

/** Busy share per second, and self time by function over the samples that were not idle. */
function summarise(file: string, top: number): string {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const perSecond = new Map<number, { busy: number; all: number }>();
  const self = new Map<string, number>();
  let busy = 0;
  let t = p.startTime;
  p.samples.forEach((id, i) => {
    const d = p.timeDeltas[i] ?? 0;
    t += d;
    const sec = Math.floor(t / 1e6);
    const s = perSecond.get(sec) ?? { busy: 0, all: 0 };
    s.all += d;
    const f = byId.get(id)?.callFrame;
    if (f !== undefined && f.functionName !== '(idle)') {
      s.busy += d;
      busy += d;
      const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/.*\/(node_modules|src|dist)\//, '$1/')}:${f.lineNumber}`;
      self.set(key, (self.get(key) ?? 0) + d);
    }
    perSecond.set(sec, s);
  });
  const first = Math.min(...perSecond.keys());
  const lines = [`${file}: busy ${(busy / 1e6).toFixed(2)} s; busy % per second: ${[...perSecond.entries()].map(([s, v]) => `${s - first}:${Math.round((100 * v.busy) / Math.max(1, v.all))}`).join(' ')}`];
  for (const [k, v] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${((100 * v) / Math.max(1, busy)).toFixed(1).padStart(5)}%  ${k}`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const dir = process.argv[2] ?? '/tmp/member-profile';
  await rm(dir, { recursive: true, force: true });
  const [port, controllerPort] = await getFreePorts(2);
  const dataDir = `.cache/kafka/profile-data-${port}`;
  const broker = await startKafkaBroker({ port: port!, controllerPort: controllerPort!, dataDir, logDir: `.cache/kafka/profile-logs-${port}`, detached: false });
  let member: ServiceProcess | null = null;
  try {
    const client = benchKafkaClient(broker.brokers);
    const texts = buildMessages(200_000, 1);
    const topics = await createBenchTopics(client, `profile-${port}`, 1);
    await produceTexts(client, topics.flows, texts);
    // --cpu-prof is refused in NODE_OPTIONS: startServiceProcess passes it as a node argument.
    member = await startServiceProcess(
      {
        ...membersEnv(broker.brokers),
        KAFKA_TOPIC_FLOWS: topics.flows,
        KAFKA_TOPIC_VM_ATTRIBUTES: topics.vmAttributes,
        KAFKA_TOPIC_TENANT_ATTRIBUTES: topics.tenantAttributes,
        SCALE_OUT_APP_ID: `profile-${port}`,
        RECLUSTER_MINUTES: '0',
      },
      ['--cpu-prof', `--cpu-prof-dir=${dir}`],
    );
    const url = member.url;
    let first = 0;
    // Polled every 200 ms: the metrics' own cost stays small in the main thread's profile.
    for (;;) {
      const routed = await metric(url, 'alcor_scale_out_routed_messages_total').catch(() => 0);
      if (routed > 0 && first === 0) first = performance.now();
      const records = await metric(url, 'alcor_scale_out_routed_records_total').catch(() => 0);
      const applied = await metric(url, 'alcor_scale_out_applied_records_total').catch(() => 0);
      if (routed >= texts.length && applied >= records) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const seconds = (performance.now() - first) / 1000;
    process.stdout.write(`${Math.round(texts.length / seconds)} records/s (${seconds.toFixed(2)} s from the first routed batch), load average ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}\n`);
    const code = await member.stop('SIGTERM');
    member = null;
    if (code !== 0) throw new Error(`the member exited with ${code} on SIGTERM: its profiles may be missing`);
  } catch (err) {
    if (member !== null) process.stderr.write(member.output());
    throw err;
  } finally {
    await member?.stop('SIGKILL');
    await broker.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
  for (const f of readdirSync(dir).sort()) process.stdout.write(`${summarise(join(dir, f), 25)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`member-profile: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
