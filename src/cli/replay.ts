/**
 * npm run replay -- <trace.jsonl[.gz]> --out <result.json> [--rejects <rejects.jsonl>] [options]
 * Replays a recorded trace offline through the service's pipeline and writes the clustering as of its end.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { describeIssues, PipelineOptions, toPipelineConfig, toRunOptions } from '../config/pipeline-options.ts';
import type { RejectedRecord } from '../contract/rejections.ts';
import { replayTrace } from '../replay/replay.ts';
import { parseFlags, runCli } from './args.ts';
import { formatReplaySummary } from './summary.ts';

const HELP = `Usage: npm run replay -- <trace.jsonl|trace.jsonl.gz> --out <result.json> [options]

Replays a trace (CONTRACT.md "Trace files") through the same pipeline as the service and writes the
clustering as of the end of the trace.

  --out FILE                 result JSON (vm_clusters, tenant_clusters, rejected, run, stats)
  --rejects FILE             rejected records as JSON Lines (reason, field, message, source, raw)
  --models-dir DIR           write each run's model there, as the service does (default: none)
  --json                     print the summary as JSON instead of a table
  --window-minutes N         sliding window length (default 15)
  --bucket-seconds N         window granularity (default 60)
  --lateness-seconds N       allowed lateness behind the watermark (default 300)
  --recluster-minutes N      event time between periodic runs; 0 = only the final run (default 5)
  --algorithm kmeans|dbscan  VM clustering algorithm (default kmeans)
  --k N | --k-min N --k-max N          VM clusters: fixed, or automatic within bounds (2..24)
  --tenant-algorithm, --tenant-k, --tenant-k-min, --tenant-k-max   the same for tenants (2..12)
  --restarts N               seeded k-means++ restarts per k (default 5)
  --seed N                   random seed (default 1)
  --pca true|false           project on principal components before clustering (default false)
  --dbscan-eps X, --dbscan-min-points N   DBSCAN parameters (eps automatic when absent)
  --flows-topic, --vm-attributes-topic, --tenant-attributes-topic   topic names in the trace
`;

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parseFlags>;
  try {
    parsed = parseFlags(process.argv.slice(2), ['json', 'help']);
  } catch (err) {
    process.stderr.write(`replay: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { positionals, values } = parsed;
  if (values.help || positionals.length !== 1) {
    process.stdout.write(HELP);
    return values.help ? 0 : 2;
  }
  const { out, rejects, json, modelsDir, help: _help, ...rest } = values;
  const options = PipelineOptions.safeParse(rest);
  if (!options.success) {
    process.stderr.write(`replay: invalid options\n${describeIssues(options.error)}\n`);
    return 2;
  }
  const unknown = Object.keys(rest).filter((k) => !(k in options.data));
  if (unknown.length > 0) {
    process.stderr.write(`replay: unknown option(s): ${unknown.map((k) => `--${k}`).join(', ')}\n`);
    return 2;
  }

  let rejectsStream: WriteStream | null = null;
  if (typeof rejects === 'string') rejectsStream = createWriteStream(rejects);
  const onReject = rejectsStream
    ? (r: RejectedRecord) => {
        rejectsStream.write(`${JSON.stringify(r)}\n`);
      }
    : undefined;

  const outcome = await replayTrace(positionals[0]!, {
    pipeline: toPipelineConfig(options.data),
    run: toRunOptions(options.data),
    ...(onReject ? { onReject } : {}),
    ...(typeof modelsDir === 'string' ? { modelsDir } : {}),
  });
  if (rejectsStream) await new Promise<void>((resolve, reject) => rejectsStream.end((err?: Error | null) => (err ? reject(err) : resolve())));
  if (typeof out === 'string') await writeFile(out, `${JSON.stringify(outcome.result, null, 2)}\n`);
  process.stdout.write(json ? `${JSON.stringify({ ...outcome.result.stats, rejected: outcome.result.rejected, timings: outcome.timings })}\n` : formatReplaySummary(outcome));
  return 0;
}

runCli('replay', main);
