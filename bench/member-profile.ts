/**
 * `npx tsx bench/member-profile.ts [DIR]`: one member's ingest of 200k single-record flow messages (as
 * benchMemberIngest, runs off) under `node --cpu-prof`, on a broker started here; the member stops with
 * SIGTERM so that every thread writes its profile to DIR (default /tmp/member-profile). Then each profile's
 * busy share per second and its top functions by self time, over the seconds the thread was busy: the main
 * thread (windows, API) and the route worker each get a file; the two others are tsx's loader threads.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getFreePort, getFreePorts, startKafkaBroker } from '../tools/kafka-broker/index.ts';
import { benchKafkaClient, buildMessages, createBenchTopics, produceTexts } from './kafka-ingest.ts';

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

const metric = async (url: string, name: string): Promise<number> => {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.split(' ').pop());
};

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
      const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/.*\/(node_modules|src)\//, '$1/')}:${f.lineNumber}`;
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
  try {
    const client = benchKafkaClient(broker.brokers);
    const texts = buildMessages(200_000, 1);
    const topics = await createBenchTopics(client, `profile-${port}`, 1);
    await produceTexts(client, topics.flows, texts);
    const httpPort = await getFreePort();
    // --cpu-prof is refused in NODE_OPTIONS: the member is started here rather than by startServiceProcess.
    const child = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--import', 'tsx', 'src/main.ts'], {
      stdio: 'inherit',
      env: {
        ...process.env,
        HOST: '127.0.0.1',
        PORT: String(httpPort),
        LOG_LEVEL: 'warn',
        STATE_DIR: mkdtempSync(join(tmpdir(), 'state-')),
        MODELS_DIR: mkdtempSync(join(tmpdir(), 'models-')),
        KAFKA_BROKERS: broker.brokers,
        KAFKA_TOPIC_FLOWS: topics.flows,
        KAFKA_TOPIC_VM_ATTRIBUTES: topics.vmAttributes,
        KAFKA_TOPIC_TENANT_ATTRIBUTES: topics.tenantAttributes,
        SCALE_OUT_APP_ID: `profile-${port}`,
        SCALE_OUT_PARTITIONS: '6',
        SCALE_OUT_SESSION_TIMEOUT_MS: '10000',
        RECLUSTER_MINUTES: '0',
        RECLUSTER_WALLCLOCK_SECONDS: '0',
      },
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const url = `http://127.0.0.1:${httpPort}`;
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
    child.kill('SIGTERM');
    await exited;
  } finally {
    await broker.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
  for (const f of readdirSync(dir).sort()) process.stdout.write(`${summarise(join(dir, f), 25)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`member-profile: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
