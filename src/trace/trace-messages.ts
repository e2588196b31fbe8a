/**
 * A trace's messages as Kafka would carry them: topic and value text, in the trace's order. Lines that are
 * not JSON messages (the fixtures' hostile lines) never reach Kafka as messages of a topic: left out.
 */
import { readTraceChunks } from './trace-reader.ts';

export async function traceMessages(path: string): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  for await (const chunk of readTraceChunks(path))
    for (const line of chunk.lines) {
      if (!line) continue;
      try {
        const { topic, value } = JSON.parse(line) as { topic?: unknown; value?: unknown };
        if (typeof topic === 'string' && value !== undefined) out.push([topic, JSON.stringify(value)]);
      } catch {
        // not a message
      }
    }
  return out;
}
