/** The progress component with a fake clock and a fake stream: what a user sees on stderr, exactly. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { figuresAt, formatDuration, formatLine, Progress, progressMode } from '../../src/cli/progress.ts';

class FakeStream {
  readonly chunks: string[] = [];
  constructor(
    readonly isTTY: boolean,
    readonly columns = 120,
  ) {}
  write(chunk: string): boolean {
    this.chunks.push(chunk);
    return true;
  }
  get text(): string {
    return this.chunks.join('');
  }
}

const MB = 1_000_000;

describe('progress figures', () => {
  it('rate is records over elapsed time; ETA is the time left at the pace of the share read', () => {
    const f = figuresAt(25 * MB, 100 * MB, 50_000, 10_000);
    expect(f.fraction).toBe(0.25);
    expect(f.recordsPerSec).toBe(5000);
    expect(f.etaSec).toBe(30);
  });

  it('has no fraction or ETA without a total, and none before anything is read', () => {
    expect(figuresAt(5, null, 10, 1000)).toMatchObject({ fraction: null, etaSec: null, recordsPerSec: 10 });
    expect(figuresAt(0, 100, 0, 0)).toMatchObject({ fraction: 0, etaSec: null, recordsPerSec: 0 });
  });

  it('formats durations in s, m and h', () => {
    expect([formatDuration(0), formatDuration(59.4), formatDuration(61), formatDuration(3725), formatDuration(null)]).toEqual(['0s', '59s', '1m01s', '1h02m', '--']);
  });

  it('formats the plain line', () => {
    expect(formatLine('replay', figuresAt(12.3 * MB, 29.1 * MB, 412_000, 4000), 'bytes')).toBe(
      'replay: 42% (12.3 MB of 29.1 MB), 412,000 records, 103,000 records/s, ETA 5s',
    );
    expect(formatLine('produce', figuresAt(1200, null, 3000, 2000), 'lines')).toBe('produce: 1,200 lines, 3,000 records, 1,500 records/s');
  });
});

describe('progressMode', () => {
  it('is a bar on a terminal, plain lines elsewhere, a bar when forced, nothing when off', () => {
    expect(progressMode({}, { write: () => true, isTTY: true })).toBe('bar');
    expect(progressMode({}, { write: () => true })).toBe('line');
    expect(progressMode({ force: true }, { write: () => true })).toBe('bar');
    expect(progressMode({ force: true, off: true }, { write: () => true, isTTY: true })).toBe('off');
  });
});

describe('Progress in line mode', () => {
  it('writes one plain line per interval of the clock, none in between', () => {
    let now = 1_000;
    const stream = new FakeStream(false);
    const p = new Progress({ label: 'replay', unit: 'bytes', total: 10 * MB, mode: 'line', stream, now: () => now, lineIntervalMs: 5000 });
    now += 1000;
    p.update(1 * MB, 10_000);
    now += 4000;
    p.update(5 * MB, 50_000);
    now += 1000;
    p.update(6 * MB, 60_000);
    now += 4000;
    p.update(10 * MB, 100_000);
    p.stop();
    p.update(10 * MB, 200_000);
    expect(stream.text).toBe(
      'replay: 50% (5.0 MB of 10.0 MB), 50,000 records, 10,000 records/s, ETA 5s\n' +
        'replay: 100% (10.0 MB of 10.0 MB), 100,000 records, 10,000 records/s, ETA 0s\n',
    );
  });

  it('writes nothing when off', () => {
    const stream = new FakeStream(true);
    const p = new Progress({ label: 'replay', unit: 'bytes', total: 10, mode: 'off', stream, now: () => 0 });
    p.update(5, 5);
    p.stop();
    expect(stream.text).toBe('');
  });
});

describe('Progress in bar mode', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('redraws one line on a terminal with the share, amount, rate and ETA, and ends it on stop', () => {
    vi.useFakeTimers({ now: 0 });
    const stream = new FakeStream(true);
    const p = new Progress({ label: 'replay', unit: 'bytes', total: 8 * MB, mode: 'bar', stream, now: () => Date.now() });
    vi.advanceTimersByTime(2000);
    p.update(2 * MB, 40_000);
    vi.advanceTimersByTime(1000);
    p.stop();
    // The bar is redrawn in place: carriage-return/cursor moves, never a newline until stop.
    const frames = stream.text
      .replaceAll('\u001b', 'ESC')
      .replaceAll('\r', 'ESC8')
      .split(/ESC(?:\[[?0-9;]*[A-Za-z]|[78])/)
      .filter((s) => s.trim() !== '');
    expect(frames.at(-1)).toBe(`replay ${'█'.repeat(6)}${'░'.repeat(18)} 25% | 2.0 MB of 8.0 MB | 20,000 records/s | ETA 6s`);
    expect(frames.at(0)).toBe(`replay ${'░'.repeat(24)} 0% | 0.0 MB of 8.0 MB | 0 records/s | ETA --`);
    expect(stream.text.split('\n')).toHaveLength(2);
  });

  it('puts a note on its own line above the bar and draws the bar again', () => {
    vi.useFakeTimers({ now: 0 });
    const stream = new FakeStream(true);
    const p = new Progress({ label: 'produce', unit: 'bytes', total: 2 * MB, mode: 'bar', stream, now: () => Date.now() });
    vi.advanceTimersByTime(1000);
    p.update(1 * MB, 500);
    stream.chunks.length = 0;
    p.note('produce: warning: line 7: skipped');
    const after = stream.text.replaceAll('\u001b', 'ESC');
    expect(after.startsWith('\rESC[2Kproduce: warning: line 7: skipped\n')).toBe(true);
    expect(after).toContain(`produce ${'█'.repeat(12)}${'░'.repeat(12)} 50% | 1.0 MB of 2.0 MB | 500 records/s | ETA 1s`);
    p.stop();
  });

  it('draws the amount and rate only when the total is unknown', () => {
    vi.useFakeTimers({ now: 0 });
    const stream = new FakeStream(false);
    const p = new Progress({ label: 'produce', unit: 'bytes', total: null, mode: 'bar', stream, now: () => Date.now() });
    vi.advanceTimersByTime(2000);
    p.update(3 * MB, 6000);
    p.stop();
    expect(stream.text.trim().split('\n').at(-1)?.trim()).toBe('produce 3.0 MB | 3,000 records/s');
  });

  it('writes the bar as lines when forced on a stream that is not a terminal', () => {
    vi.useFakeTimers({ now: 0 });
    const stream = new FakeStream(false);
    const p = new Progress({ label: 'produce', unit: 'bytes', total: 4 * MB, mode: 'bar', stream, now: () => Date.now(), lineIntervalMs: 1000 });
    vi.advanceTimersByTime(1000);
    p.update(4 * MB, 8000);
    p.stop();
    const lines = stream.text.split('\n').filter((l) => l.trim() !== '');
    expect(lines.at(-1)?.trim()).toBe(`produce ${'█'.repeat(24)} 100% | 4.0 MB of 4.0 MB | 8,000 records/s | ETA 0s`);
  });
});
