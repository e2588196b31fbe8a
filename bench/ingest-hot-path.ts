/**
 * `npx tsx bench/ingest-hot-path.ts [ROUNDS]`: one member's per-record work without Kafka, on the messages of
 * the `scale-out-ingest` bench (200k single-record flow messages as Buffers, 2,000 VMs): the route (each
 * value's text, decode, validate, judge, route) and its packing into by-VM messages of 6 partitions (and the
 * connections message), a route batch of 3,000 messages at a time as a member packs one fetched batch; then the window (decode the
 * by-VM messages, apply them to their partitions). CPU-µs per record by phase, best of ROUNDS (default 3):
 * on a shared 2-core machine the wall time moves with the load, the best CPU per record much less.
 * Under `node --cpu-prof` (`node --import tsx --cpu-prof bench/ingest-hot-path.ts`) it gives the profile of
 * the same work without the broker's noise.
 */
import { PipelineOptions, toPipelineConfig } from '../src/config/pipeline-options.ts';
import { defaultDecodeLimits } from '../src/contract/message-decoder.ts';
import { ByVmDecoder, type ByVmRecord, encodeByVm, partitionOfMemo } from '../src/topology/by-vm.ts';
import { type ByVmMessage, packRoute } from '../src/topology/by-vm-pack.ts';
import { PartitionState } from '../src/topology/partition-state.ts';
import { type Routed, Router } from '../src/topology/router.ts';
import { buildMessages } from './kafka-ingest.ts';

const PARTITIONS = 6;
const BATCH_MESSAGES = 3_000;

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

interface Round {
  route: number;
  pack: number;
  packRecords: number;
  decode: number;
  apply: number;
  byVmBytes: number;
  byVmRecords: number;
  connectionBytes: number;
  rejected: number;
}

function round(values: readonly Buffer[]): Round {
  const config = { ...toPipelineConfig(PipelineOptions.parse({})), limits: defaultDecodeLimits };
  let rejected = 0;
  const router = new Router(config, () => void rejected++);
  const topic = config.topics.flows;
  const partitionOf = partitionOfMemo(PARTITIONS);
  const r: Round = { route: 0, pack: 0, packRecords: 0, decode: 0, apply: 0, byVmBytes: 0, byVmRecords: 0, connectionBytes: 0, rejected: 0 };
  const messages: ByVmMessage[] = [];
  for (let start = 0; start < values.length; start += BATCH_MESSAGES) {
    const out: Routed[] = [];
    let t = cpuUs();
    const end = Math.min(values.length, start + BATCH_MESSAGES);
    for (let i = start; i < end; i++) router.route(topic, values[i]!.toString(), `${topic}/0@${i}`, out);
    router.endOfBatch(out);
    r.route += cpuUs() - t;
    // The same batch packed by encodeByVm of each stretch's records (the format's reference, the route's
    // pack before by-vm-pack.ts), then as the route packs it: the two alternate in every round.
    t = cpuUs();
    const reference = packByRecords(out, PARTITIONS, partitionOf);
    r.packRecords += cpuUs() - t;
    t = cpuUs();
    const packed = packRoute(out, PARTITIONS, partitionOf);
    r.pack += cpuUs() - t;
    for (const m of packed.byVm) messages.push(m);
    r.connectionBytes += packed.connections?.length ?? 0;
    const written = [...packed.byVm.map((m) => m.value), ...(packed.connections === null ? [] : [packed.connections])];
    if (written.length !== reference.length || written.some((v, i) => !v.equals(reference[i]!))) throw new Error('the two packs differ');
  }
  const states = Array.from({ length: PARTITIONS }, (_, p) => new PartitionState(p, config.window));
  const byVm = new ByVmDecoder();
  for (const m of messages) {
    r.byVmBytes += m.value.length;
    let t = cpuUs();
    const records = byVm.decode(m.value);
    r.decode += cpuUs() - t;
    if (records === null) throw new Error('undecodable by-VM message');
    r.byVmRecords += records.length;
    t = cpuUs();
    const state = states[m.partition]!;
    for (const record of records) state.apply(record);
    r.apply += cpuUs() - t;
  }
  r.rejected = rejected;
  return r;
}

/** The batch's messages as encodeByVm writes each stretch's records (by-VM ones, then the connections one). */
function packByRecords(out: readonly Routed[], partitions: number, partitionOf: (vmId: string) => number): Buffer[] {
  const values: Buffer[] = [];
  let pending: ByVmRecord[][] = Array.from({ length: partitions }, () => []);
  const connections: ByVmRecord[] = [];
  for (const x of out) {
    if (x.to === 'by-vm') pending[partitionOf(x.key)]!.push(x.record);
    else if (x.to === 'connections') connections.push({ k: 'f', o: true, r: x.flow, w: null, sa: null });
    else if (x.to === 'by-vm-all') {
      for (const records of pending) values.push(encodeByVm([...records, x.record]));
      pending = Array.from({ length: partitions }, () => []);
    }
  }
  for (const records of pending) if (records.length > 0) values.push(encodeByVm(records));
  if (connections.length > 0) values.push(encodeByVm(connections));
  return values;
}

function main(): void {
  const rounds = Number(process.argv[2] ?? 3);
  const values = buildMessages(200_000, 1).map((t) => Buffer.from(t));
  const n = values.length;
  const best: Round = { route: Infinity, pack: Infinity, packRecords: Infinity, decode: Infinity, apply: Infinity, byVmBytes: 0, byVmRecords: 0, connectionBytes: 0, rejected: 0 };
  for (let i = 0; i < rounds; i++) {
    const r = round(values);
    const line = (['route', 'pack', 'packRecords', 'decode', 'apply'] as const).map((k) => `${k} ${(r[k] / n).toFixed(2)}`).join(', ');
    console.log(`round ${i + 1}: µs per input record: ${line}; by-VM ${(r.byVmBytes / n).toFixed(1)} B and ${(r.byVmRecords / n).toFixed(3)} records, connections ${(r.connectionBytes / n).toFixed(1)} B per input record; rejected ${r.rejected}`);
    for (const k of ['route', 'pack', 'packRecords', 'decode', 'apply'] as const) best[k] = Math.min(best[k], r[k]);
    best.byVmBytes = r.byVmBytes;
  }
  const total = best.route + best.pack + best.decode + best.apply;
  console.log(`best: route ${(best.route / n).toFixed(2)} + pack ${(best.pack / n).toFixed(2)} (route thread ${((best.route + best.pack) / n).toFixed(2)}), decode ${(best.decode / n).toFixed(2)} + apply ${(best.apply / n).toFixed(2)} (window ${((best.decode + best.apply) / n).toFixed(2)}): ${(total / n).toFixed(2)} µs per record (CPU-s per million); the same pack by encodeByVm of each stretch's records ${(best.packRecords / n).toFixed(2)}`);
}

main();
