/**
 * npm run produce -- <trace.jsonl[.gz]> [--rate N] [--speedup X] [--batch N] [--brokers host:port] [--raw-invalid]
 * Streams a trace into Kafka (CONTRACT.md: `npm run produce -- <trace>`), one message per line.
 */
import { Kafka } from 'kafkajs';
import { z } from 'zod';
import { KafkaEnvError, parseKafkaEnv, toKafkaConfig } from '../kafka/options.ts';
import { countTraceLines, type ProduceProgress, produceTrace } from '../kafka/produce-trace.ts';
import { defaultTopics } from '../pipeline/pipeline.ts';
import { parseFlags, runCli } from './args.ts';

const HELP = `Usage: npm run produce -- <trace.jsonl|trace.jsonl.gz> [options]

Streams a trace (CONTRACT.md "Trace files") into Kafka: each line becomes one message on its topic, with
value = JSON of line.value and key = line.key or the record's src_vm / vm_id / tenant_id. Topic names in
the trace are mapped through KAFKA_TOPIC_FLOWS / KAFKA_TOPIC_VM_ATTRIBUTES / KAFKA_TOPIC_TENANT_ATTRIBUTES;
other topics keep their name. SASL/TLS settings come from the KAFKA_* environment as for the service.

  --brokers HOST:PORT[,...]  bootstrap brokers (default: KAFKA_BROKERS)
  --rate N                   at most N records/s (elements of an array value count one each); default no limit
  --speedup X                pace by the records' event time, X times real time; 0 = as fast as possible
  --batch N                  messages per send request (default 500)
  --raw-invalid              send lines that are not {"topic","value"} JSON raw to the flows topic
                             (default: count and skip them with a warning)
  --no-eta                   skip the line count done first for the ETA
`;

const Flags = z
  .object({
    brokers: z.string().min(1).optional(),
    rate: z.coerce.number().min(0).optional(),
    speedup: z.coerce.number().min(0).optional(),
    batch: z.coerce.number().int().min(1).max(100_000).optional(),
    rawInvalid: z.boolean().optional(),
    noEta: z.boolean().optional(),
    help: z.boolean().optional(),
  })
  .strict();

function formatProgress(p: ProduceProgress): string {
  const eta = p.etaSec === null ? '' : `, ETA ${Math.ceil(p.etaSec)} s`;
  return `produce: ${p.messages.toLocaleString('en-US')} messages, ${p.records.toLocaleString('en-US')} records, ${Math.round(p.recordsPerSec).toLocaleString('en-US')} records/s${eta}`;
}

async function main(): Promise<number> {
  let parsedArgs: ReturnType<typeof parseFlags>;
  try {
    parsedArgs = parseFlags(process.argv.slice(2), ['raw-invalid', 'no-eta', 'help']);
  } catch (err) {
    process.stderr.write(`produce: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  const flags = Flags.safeParse(parsedArgs.values);
  if (!flags.success) {
    const lines = flags.error.issues.map((i) => `  ${i.path.length ? `--${String(i.path[0])}` : ''} ${i.message}`);
    process.stderr.write(`produce: invalid options\n${lines.join('\n')}\n\n${HELP}`);
    return 2;
  }
  const f = flags.data;
  if (f.help || parsedArgs.positionals.length !== 1) {
    process.stdout.write(HELP);
    return f.help ? 0 : 2;
  }
  const trace = parsedArgs.positionals[0]!;

  let settings: ReturnType<typeof parseKafkaEnv>;
  try {
    settings = parseKafkaEnv(f.brokers ? { ...process.env, KAFKA_BROKERS: f.brokers } : process.env);
  } catch (err) {
    process.stderr.write(`produce: ${err instanceof KafkaEnvError ? err.message : String(err)}\n`);
    return 2;
  }
  if (settings === null) {
    process.stderr.write('produce: no brokers: set KAFKA_BROKERS or pass --brokers host:port\n');
    return 2;
  }

  const kafka = new Kafka(toKafkaConfig(settings, { clientIdSuffix: 'produce' }));
  const totalLines = f.noEta ? undefined : await countTraceLines(trace);
  const result = await produceTrace(
    trace,
    {
      ...(f.rate !== undefined ? { rate: f.rate } : {}),
      ...(f.speedup !== undefined ? { speedup: f.speedup } : {}),
      ...(f.batch !== undefined ? { batch: f.batch } : {}),
      rawInvalid: f.rawInvalid === true,
      topicMap: {
        [defaultTopics.flows]: settings.topics.flows,
        [defaultTopics.vmAttributes]: settings.topics.vmAttributes,
        [defaultTopics.tenantAttributes]: settings.topics.tenantAttributes,
      },
      ...(totalLines !== undefined ? { totalLines } : {}),
      onProgress: (p) => {
        if (!p.done) process.stderr.write(`${formatProgress(p)}\n`);
      },
      onWarning: (m) => process.stderr.write(`produce: warning: ${m}\n`),
    },
    kafka,
  );
  const topics = Object.entries(result.byTopic)
    .map(([t, n]) => `${t}=${n}`)
    .join(' ');
  process.stderr.write(
    `produce: done: ${result.lines} lines, ${result.messages} messages (${topics}), ${result.records} records in ${(result.elapsedMs / 1000).toFixed(1)} s (${Math.round(result.recordsPerSec)} records/s); invalid ${result.invalid} (${result.sentRaw} sent raw), skipped ${result.skipped}\n`,
  );
  return 0;
}

runCli('produce', main);
