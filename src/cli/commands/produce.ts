/**
 * produce <trace.jsonl[.gz]> [--rate N] [--speedup X] [--batch N] [--brokers host:port] [--raw-invalid]
 * Streams a trace into Kafka (CONTRACT.md: `npm run produce -- <trace>`), one message per line.
 */
import { statSync } from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';
import { z } from 'zod';
import { FLOW_FORMATS } from '../../contract/formats/flow-formats.ts';
import { EnvFileError, loadEnvFile } from '../../config/env-file.ts';
import { KafkaEnvError, type KafkaSettings, parseKafkaEnv } from '../../config/kafka-settings.ts';
import { describeKafkaError, toKafkaConfig } from '../../kafka/options.ts';
import { produceTrace } from '../../kafka/produce-trace.ts';
import { defaultTopics } from '../../contract/topics.ts';
import { flagName, parseFlags, unknownFlags } from '../args.ts';
import type { Command } from '../command.ts';
import { Progress, progressMode } from '../progress.ts';

const help = (prog: string): string => `Usage: ${prog} <trace.jsonl|trace.jsonl.gz> [options]

Streams a trace (CONTRACT.md "Trace files") into Kafka: each line becomes one message on its topic, with
value = JSON of line.value and key = line.key or the record's src_vm / vm_id / tenant_id. Topic names in
the trace are mapped through KAFKA_TOPIC_FLOWS / KAFKA_TOPIC_VM_ATTRIBUTES / KAFKA_TOPIC_TENANT_ATTRIBUTES;
other topics keep their name. SASL/TLS settings come from the KAFKA_* environment as for the service.

  --brokers HOST:PORT[,...]  bootstrap brokers (default: KAFKA_BROKERS)
  --rate N                   at most N records/s (elements of an array value count one each); default no limit
  --speedup X                pace by the records' event time, X times real time; 0 = as fast as possible
  --batch N                  messages per send request (default 500)
  --flow-format alcor|goflow2|pmacct   the JSON of the trace's flows (docs/exporters.md): for a collector's,
                             the key is the source address and --speedup reads its time fields (default alcor)
  --raw-invalid              send lines that are not {"topic","value"} JSON raw to the flows topic
                             (default: count and skip them with a warning)
  --no-eta                   show no share done and no ETA (the rate only)
  --progress                 draw the progress bar even when stderr is not a terminal
  --no-progress              no progress output at all
  --json                     print the final counts as one JSON document on stdout
  --verbose                  show kafkajs' own log lines (connection retries, topic creation) on stderr

Settings missing from the environment are read from .env in the current folder, as the service does. With
no broker answering, it stops within seconds with one line.
`;

const Flags = z
  .object({
    brokers: z.string().min(1).optional(),
    rate: z.coerce.number().min(0).optional(),
    speedup: z.coerce.number().min(0).optional(),
    batch: z.coerce.number().int().min(1).max(100_000).optional(),
    rawInvalid: z.boolean().optional(),
    flowFormat: z.enum(FLOW_FORMATS).optional(),
    noEta: z.boolean().optional(),
    progress: z.boolean().optional(),
    noProgress: z.boolean().optional(),
    json: z.boolean().optional(),
    verbose: z.boolean().optional(),
    help: z.boolean().optional(),
  })
  .strict();

/**
 * Whether a broker answers, tried a few times within seconds: the producer's own retries (for sends, where
 * riding out a broker restart matters) would take minutes to give up on an address where nothing listens.
 */
async function reachable(settings: KafkaSettings, level: logLevel): Promise<string | null> {
  const admin = new Kafka(
    toKafkaConfig(settings, { clientIdSuffix: 'produce', logLevel: level, retry: { retries: 2, initialRetryTime: 300, maxRetryTime: 1000 } }),
  ).admin();
  try {
    await admin.connect();
    return null;
  } catch (err) {
    return describeKafkaError(err, settings).message;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

async function run(argv: readonly string[], prog: string): Promise<number> {
  let parsedArgs: ReturnType<typeof parseFlags>;
  try {
    parsedArgs = parseFlags(argv, ['raw-invalid', 'no-eta', 'progress', 'no-progress', 'json', 'verbose', 'help']);
  } catch (err) {
    process.stderr.write(`produce: ${(err as Error).message}\n\n${help(prog)}`);
    return 2;
  }
  const unknown = unknownFlags(Object.keys(parsedArgs.values), Object.keys(Flags.shape));
  if (unknown !== null) {
    process.stderr.write(`produce: ${unknown}\n`);
    return 2;
  }
  const flags = Flags.safeParse(parsedArgs.values);
  if (!flags.success) {
    const lines = flags.error.issues.map((i) => `  ${i.path.length ? flagName(String(i.path[0])) : ''} ${i.message}`);
    process.stderr.write(`produce: invalid options\n${lines.join('\n')}\n\n${help(prog)}`);
    return 2;
  }
  const f = flags.data;
  if (f.help || parsedArgs.positionals.length !== 1) {
    (f.help ? process.stdout : process.stderr).write(help(prog));
    return f.help ? 0 : 2;
  }
  const trace = parsedArgs.positionals[0]!;
  // The file first: a typo must not wait for a broker (a missing file is reported by name, by runCli).
  if (!statSync(trace).isFile()) {
    process.stderr.write(`produce: ${trace} is not a file\n`);
    return 2;
  }

  let settings: ReturnType<typeof parseKafkaEnv>;
  try {
    loadEnvFile();
    settings = parseKafkaEnv(f.brokers ? { ...process.env, KAFKA_BROKERS: f.brokers } : process.env);
  } catch (err) {
    process.stderr.write(`produce: ${err instanceof KafkaEnvError || err instanceof EnvFileError ? err.message : String(err)}\n`);
    return 2;
  }
  if (settings === null) {
    process.stderr.write('produce: no brokers: set KAFKA_BROKERS or pass --brokers host:port\n');
    return 2;
  }

  // kafkajs' own lines (the partitioner notice, "does not host this topic-partition" while a topic is
  // created, each retry) are for --verbose: a user reads this command's lines, not the client library's.
  const level = f.verbose ? logLevel.INFO : logLevel.NOTHING;
  const unreachable = await reachable(settings, level);
  if (unreachable !== null) {
    process.stderr.write(`produce: cannot connect to Kafka at ${settings.brokers.join(',')}: ${unreachable}\n`);
    return 1;
  }
  const kafka = new Kafka(toKafkaConfig(settings, { clientIdSuffix: 'produce', logLevel: level }));
  const mode = progressMode({ force: f.progress === true, off: f.noProgress === true }, process.stderr);
  // Made at the first report, when the file's size is known.
  const bar: { progress: Progress | null } = { progress: null };
  let result: Awaited<ReturnType<typeof produceTrace>>;
  try {
    result = await produceTrace(
      trace,
      {
        ...(f.rate !== undefined ? { rate: f.rate } : {}),
        ...(f.speedup !== undefined ? { speedup: f.speedup } : {}),
        ...(f.batch !== undefined ? { batch: f.batch } : {}),
        rawInvalid: f.rawInvalid === true,
        ...(f.flowFormat !== undefined ? { flowFormat: f.flowFormat } : {}),
        topicMap: {
          [defaultTopics.flows]: settings.topics.flows,
          [defaultTopics.vmAttributes]: settings.topics.vmAttributes,
          [defaultTopics.tenantAttributes]: settings.topics.tenantAttributes,
        },
        onProgress: (p) => {
          bar.progress ??= new Progress({ label: 'produce', unit: 'bytes', total: f.noEta ? null : p.fileBytes, mode, stream: process.stderr });
          bar.progress.update(p.bytesRead, p.records);
        },
        onWarning: (m) => {
          if (bar.progress) bar.progress.note(`produce: warning: ${m}`);
          else process.stderr.write(`produce: warning: ${m}\n`);
        },
      },
      kafka,
    );
  } catch (err) {
    // One line naming what to check (credentials, certificates), never kafkajs' error dump.
    throw new Error(describeKafkaError(err, settings).message, { cause: err });
  } finally {
    // The bar's redraw timer would keep the process alive after an error.
    bar.progress?.stop();
  }
  if (f.json) {
    process.stdout.write(`${JSON.stringify({ trace, ...result })}\n`);
    return 0;
  }
  const topics = Object.entries(result.byTopic)
    .map(([t, n]) => `${t}=${n}`)
    .join(' ');
  process.stderr.write(
    `produce: done: ${result.lines} lines, ${result.messages} messages (${topics}), ${result.records} records in ${(result.elapsedMs / 1000).toFixed(1)} s (${Math.round(result.recordsPerSec)} records/s); invalid ${result.invalid} (${result.sentRaw} sent raw), skipped ${result.skipped}\n`,
  );
  return 0;
}

export const produceCommand: Command = {
  help,
  run,
};
