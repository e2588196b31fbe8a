/**
 * Model files in MODELS_DIR: `model-<sequence>.json`, one per run, written atomically and durably (a
 * temporary file fsync'd and renamed over the final name, so a crash or power loss mid-write never leaves a
 * half document under a model's name), the latest few kept. The sequence continues across restarts, so the newest file is always the highest.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ModelDocument, parseModelDocument } from '../runs/model-document.ts';
import type { ModelSink } from '../service/types.ts';
import { removeLeftoverTempFiles, writeFileAtomically } from '../storage/atomic-file.ts';
import { type NumberedFile, numberedFiles, numberedName, removeBeyond } from '../storage/numbered-files.ts';

const MODEL_FILE = /^model-(\d{1,15})\.json$/;
const DEFAULT_MODELS_KEPT = 5;

/** Model files in `dir`, newest first; none when the directory does not exist. */
const modelFiles = (dir: string): Promise<NumberedFile[]> => numberedFiles(dir, MODEL_FILE);

export type LoadedModel =
  | { status: 'loaded'; path: string; model: ModelDocument }
  | { status: 'none' }
  | { status: 'invalid'; path: string; error: string };

/**
 * The newest model in `dir`. A file that cannot be read, parsed or used is reported, not thrown: the
 * caller logs it and starts fresh. Older files are not tried: they come from the same or an older
 * version, and silently serving an older model would hide the problem.
 */
export async function loadLatestModel(dir: string): Promise<LoadedModel> {
  const newest = (await modelFiles(dir))[0];
  if (newest === undefined) return { status: 'none' };
  const path = join(dir, newest.name);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    return { status: 'invalid', path, error: `cannot read it (${(err as Error).message})` };
  }
  const parsed = parseModelDocument(text);
  return parsed.ok ? { status: 'loaded', path, model: parsed.model } : { status: 'invalid', path, error: parsed.error };
}

export class FileModelStore implements ModelSink {
  private sequence: number | null = null;
  private cleaned = false;

  constructor(
    readonly dir: string,
    readonly keep: number = DEFAULT_MODELS_KEPT,
  ) {}

  /** Writes the document as the newest model and returns its path; older files beyond `keep` are removed. */
  async save(model: ModelDocument): Promise<string> {
    // A process killed mid-write left its temporary file: the first save of this one clears them.
    if (!this.cleaned) {
      await removeLeftoverTempFiles(this.dir, 'model-');
      this.cleaned = true;
    }
    const files = await modelFiles(this.dir);
    this.sequence = Math.max(this.sequence ?? 0, files[0]?.sequence ?? 0) + 1;
    const name = numberedName('model', this.sequence, '.json');
    const path = join(this.dir, name);
    await writeFileAtomically(path, `${JSON.stringify(model)}\n`, { durable: true });
    await removeBeyond(this.dir, [{ name, sequence: this.sequence }, ...files], this.keep);
    return path;
  }
}
