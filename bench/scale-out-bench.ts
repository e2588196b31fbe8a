/**
 * Scale-out figures measured in one process (`npx tsx bench/scale-out-bench.ts [trace]`): what the repartition
 * hop costs (by-VM bytes and records per input record, CPU of route + window against one pipeline) and the
 * checkpoint bytes per VM that a moved partition restores. Multi-process figures (records/s with 1-3
 * members, failover times) are not measured here: docs/scale-out.md says what is and is not.
 */
import { writeFile, mkdir } from 'node:fs/promises';
import { traceMessages } from '../src/trace/trace-messages.ts';
import { PipelineOptions, toPipelineConfig } from '../src/config/pipeline-options.ts';
import { Pipeline } from '../src/pipeline/pipeline.ts';
import { vmKey } from '../src/topology/by-vm.ts';
import { LocalTopology } from '../src/topology/local-topology.ts';

/** The repartition hop and the checkpoints, measured in this process on `trace` (no broker). */
export async function measureScaleOutInProcess(trace: string, partitions = 12) {
  const config = toPipelineConfig(PipelineOptions.parse({}));
  const input = await traceMessages(trace);
  const inputBytes = input.reduce((n, [, text]) => n + text.length, 0);

  const cpu = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  let c0 = cpu();
  const pipeline = new Pipeline(config);
  for (const [i, [topic, text]] of input.entries()) pipeline.ingestMessage(topic, text, `m${i}`);
  const onePipelineCpuS = cpu() - c0;
  const records = pipeline.recordsIn.flows + pipeline.recordsIn.vmAttributes + pipeline.recordsIn.tenantAttributes;

  c0 = cpu();
  const topology = new LocalTopology(config, partitions, () => {}, (key) => vmKey(key));
  input.forEach(([topic, text], i) => {
    topology.ingest(topic, text, `m${i}`);
    if (i % 50 === 49) topology.endOfBatch();
  });
  topology.endOfBatch();
  const topologyCpuS = cpu() - c0;
  let checkpointBytes = 0;
  let vms = 0;
  const perPartition: number[] = [];
  for (const p of topology.partitions) {
    checkpointBytes += p.encodeFleet().byteLength;
    vms += p.fleet.vms.size;
    perPartition.push(p.fleet.vms.size);
  }
  return {
    trace,
    input_records: records,
    flow_records: pipeline.recordsIn.flows,
    input_bytes_per_record: +(inputBytes / records).toFixed(1),
    partitions,
    by_vm_records_per_input_record: +(topology.byVmRecords / records).toFixed(3),
    by_vm_bytes_per_input_record: +(topology.byVmBytes / records).toFixed(1),
    cpu_s_per_million_records: { one_pipeline: +((onePipelineCpuS / records) * 1e6).toFixed(2), route_and_window_in_one_process: +((topologyCpuS / records) * 1e6).toFixed(2) },
    vms_held: vms,
    vms_per_partition: { min: Math.min(...perPartition), max: Math.max(...perPartition) },
    checkpoint_bytes_per_vm: Math.round(checkpointBytes / Math.max(1, vms)),
  };
}

async function main(): Promise<void> {
  const figures = await measureScaleOutInProcess(process.argv[2] ?? 'fixtures/medium.jsonl.gz');
  await mkdir('bench/results', { recursive: true });
  await writeFile('bench/results/scale-out.json', `${JSON.stringify(figures, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
}

// Run directly (npx tsx bench/scale-out-bench.ts), not when `npm run bench -- scale-out` imports it.
if (import.meta.url === `file://${process.argv[1]}`)
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
