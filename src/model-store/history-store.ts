/**
 * The run history file in MODELS_DIR (`run-history.json`), so that GET /v1/runs and the run numbering
 * survive a restart. Rewritten whole after each run (the history is bounded), atomically and durably.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type HistoryDocument, parseHistory } from '../runs/history.ts';
import type { HistorySink } from '../service/types.ts';
import { writeFileAtomically } from '../storage/atomic-file.ts';

export const HISTORY_FILE = 'run-history.json';
/** The embedded demo's models and history: a folder of MODELS_DIR, apart from a Kafka service's. */
export const EMBEDDED_MODELS_SUBDIR = 'embedded';

export type LoadedHistory =
  | { status: 'loaded'; path: string; history: HistoryDocument }
  | { status: 'none' }
  | { status: 'invalid'; path: string; error: string };

/** Reported, not thrown: the caller logs a history it cannot use and starts a fresh one. */
export async function loadHistory(dir: string): Promise<LoadedHistory> {
  const path = join(dir, HISTORY_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'none' };
    return { status: 'invalid', path, error: `cannot read it (${(err as Error).message})` };
  }
  const parsed = parseHistory(text);
  return parsed.ok ? { status: 'loaded', path, history: parsed.history } : { status: 'invalid', path, error: parsed.error };
}

export class FileHistoryStore implements HistorySink {
  readonly path: string;

  constructor(readonly dir: string) {
    this.path = join(dir, HISTORY_FILE);
  }

  async save(history: HistoryDocument): Promise<string> {
    await writeFileAtomically(this.path, `${JSON.stringify(history)}\n`, { durable: true });
    return this.path;
  }
}
