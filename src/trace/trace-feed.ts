/**
 * A trace file fed line by line into whatever ingests it (the offline replay's service, the service's
 * embedded default): one reader, one limit and one rejection path for both, so that a line replay rejects
 * is rejected by the service with the same reason and counted the same way.
 */
import { type ReadProgress, readTraceChunks } from './trace-reader.ts';

/** What takes a trace's lines: ClusterService (or a Pipeline). */
export interface TraceLineSink {
  ingestTraceLine(line: string, source: string): void;
  /** A line longer than the limit: only its head was kept; rejected as too_large. */
  ingestOversize(bytes: number, head: string, source: string): void;
}

export interface TraceFeedOptions {
  /** The largest line read whole (the pipeline's maxMessageBytes): a longer one is rejected as too_large. */
  maxLineBytes: number;
  /** The source a rejection names for line `n` (1-based); default `line n`. */
  sourceOf?: (line: number) => string;
  onRead?: ReadProgress;
}

/** Feeds every line of `path` to `sink`; resolves with the number of non-empty lines read whole. */
export async function feedTrace(path: string, sink: TraceLineSink, options: TraceFeedOptions): Promise<number> {
  const sourceOf = options.sourceOf ?? ((n: number) => `line ${n}`);
  let lines = 0;
  for await (const chunk of readTraceChunks(path, options.maxLineBytes, options.onRead)) {
    let oversize = 0;
    for (let i = 0; i < chunk.lines.length; i++) {
      const line = chunk.lines[i]!;
      if (line === null) {
        const o = chunk.oversize[oversize++]!;
        sink.ingestOversize(o.bytes, o.head, sourceOf(chunk.firstLine + i));
        continue;
      }
      if (line.length === 0) continue;
      lines++;
      sink.ingestTraceLine(line, sourceOf(chunk.firstLine + i));
    }
  }
  return lines;
}
