/**
 * Progress of a long command (replay, produce) on stderr: a bar with rate and ETA when stderr is a
 * terminal or `--progress` forces it (drawn by cli-progress), a plain line every few seconds otherwise, so
 * that logs and CI output stay readable. The figures come from the caller's clock, not cli-progress's own
 * timers, so that tests can drive it with a fake clock.
 */
import { Presets, SingleBar } from 'cli-progress';

export type ProgressMode = 'bar' | 'line' | 'off';

/** The part of a stream progress needs: a terminal has `isTTY` and `columns`. */
export interface ProgressStream {
  write(chunk: string): boolean;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** First word of each line: the command. */
  label: string;
  /** What `done` and `total` count; bytes are shown in MB. */
  unit: 'bytes' | 'lines';
  /** null when unknown: no percentage and no ETA. */
  total: number | null;
  mode: ProgressMode;
  stream: ProgressStream;
  /** Milliseconds; Date.now by default. */
  now?: () => number;
  /** Between two plain lines (default 5 s). */
  lineIntervalMs?: number;
}

/** What a progress line says at one moment. */
export interface ProgressFigures {
  done: number;
  total: number | null;
  /** done / total, in 0..1, or null when the total is unknown. */
  fraction: number | null;
  records: number;
  elapsedMs: number;
  recordsPerSec: number;
  /** Seconds left at the average pace so far, null when unknown. */
  etaSec: number | null;
}

/** `--progress` forces the bar, `--no-progress` silences it, else a bar on a terminal and lines elsewhere. */
export function progressMode(flags: { force?: boolean; off?: boolean }, stream: ProgressStream): ProgressMode {
  if (flags.off) return 'off';
  return flags.force || stream.isTTY === true ? 'bar' : 'line';
}

const int = (n: number): string => Math.round(n).toLocaleString('en-US');

export function formatDuration(sec: number | null): string {
  if (sec === null || !Number.isFinite(sec)) return '--';
  const s = Math.max(0, Math.round(sec));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

function formatAmount(n: number, unit: ProgressOptions['unit']): string {
  return unit === 'bytes' ? `${(n / 1e6).toFixed(1)} MB` : `${int(n)} lines`;
}

export function figuresAt(done: number, total: number | null, records: number, elapsedMs: number): ProgressFigures {
  const fraction = total === null ? null : total > 0 ? Math.min(1, done / total) : 1;
  const recordsPerSec = elapsedMs > 0 ? (records * 1000) / elapsedMs : 0;
  // ETA from the share of the input read so far: records per byte vary too much across a trace to use rates.
  const etaSec = fraction === null || fraction === 0 ? null : ((1 - fraction) * elapsedMs) / fraction / 1000;
  return { done, total, fraction, records, elapsedMs, recordsPerSec, etaSec };
}

/** The plain line: `replay: 42% (12.3 of 29.1 MB), 412,000 records, 103,000 records/s, ETA 14s`. */
export function formatLine(label: string, f: ProgressFigures, unit: ProgressOptions['unit']): string {
  const of = f.total === null ? formatAmount(f.done, unit) : `${formatAmount(f.done, unit)} of ${formatAmount(f.total, unit)}`;
  const head = f.fraction === null ? `${label}: ${of}` : `${label}: ${Math.floor(f.fraction * 100)}% (${of})`;
  const eta = f.etaSec === null ? '' : `, ETA ${formatDuration(f.etaSec)}`;
  return `${head}, ${int(f.records)} records, ${int(f.recordsPerSec)} records/s${eta}`;
}

export class Progress {
  private readonly now: () => number;
  private readonly started: number;
  private readonly lineIntervalMs: number;
  private lastLine: number;
  private bar: SingleBar | null = null;
  private last: ProgressFigures;
  private stopped = false;

  constructor(private readonly options: ProgressOptions) {
    this.now = options.now ?? Date.now;
    this.started = this.now();
    this.lastLine = this.started;
    this.lineIntervalMs = options.lineIntervalMs ?? 5000;
    this.last = figuresAt(0, options.total, 0, 0);
    if (options.mode === 'bar') {
      this.bar = new SingleBar({
        // cli-progress types the stream as a full WriteStream; it only writes to it and reads isTTY/columns.
        stream: options.stream as NodeJS.WritableStream,
        // Without a total there is no share to draw: the amount and the rate only.
        format:
          options.total === null
            ? `${options.label} {amount} | {rate} records/s`
            : `${options.label} {bar} {percentage}% | {amount} | {rate} records/s | ETA {etaText}`,
        barsize: 24,
        hideCursor: false,
        clearOnComplete: false,
        // Forced on a stream that is not a terminal: one line per redraw instead of cursor moves.
        noTTYOutput: true,
        notTTYSchedule: this.lineIntervalMs,
        fps: 5,
        // Redraw on each tick even when nothing changed: a note() may have cleared the line.
        forceRedraw: true,
        gracefulExit: false,
      }, Presets.shades_classic);
      this.bar.start(options.total ?? 1, 0, this.payload(this.last));
    }
  }

  /** `done` in the unit of the total (bytes read, lines sent); `records` so far, for the rate. */
  update(done: number, records: number): void {
    if (this.stopped) return;
    const now = this.now();
    this.last = figuresAt(done, this.options.total, records, now - this.started);
    if (this.bar) this.bar.update(this.options.total === null ? 0 : Math.min(done, this.options.total), this.payload(this.last));
    else if (this.options.mode === 'line' && now - this.lastLine >= this.lineIntervalMs) {
      this.lastLine = now;
      this.options.stream.write(`${formatLine(this.options.label, this.last, this.options.unit)}\n`);
    }
  }

  /**
   * A message on the same stream (a warning): on a terminal the bar's line is cleared first and the bar
   * drawn again below it, so that the two do not run into one line.
   */
  note(message: string): void {
    const onTerminal = this.bar !== null && !this.stopped && this.options.stream.isTTY === true;
    this.options.stream.write(onTerminal ? `\r\u001b[2K${message}\n` : `${message}\n`);
    if (onTerminal) this.bar?.render();
  }

  /** Draws the bar a last time and ends its line; plain lines need no closing. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.bar?.stop();
  }

  private payload(f: ProgressFigures): Record<string, string> {
    const amount = f.total === null ? formatAmount(f.done, this.options.unit) : `${formatAmount(f.done, this.options.unit)} of ${formatAmount(f.total, this.options.unit)}`;
    return { amount, rate: int(f.recordsPerSec), etaText: formatDuration(f.etaSec) };
  }
}
