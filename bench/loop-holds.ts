/**
 * What held a member's event loop during the reads of `npm run bench -- scale-out-reads` run with
 * READS_PROBE_DIR=<dir>: `npx tsx bench/loop-holds.ts <dir> [reader|leader|<pid>]`. Reads the member's
 * `--cpu-prof` profile and its probe file (bench/loop-probe.mjs), and lists the longest synchronous stretches
 * inside the reads' window: the gaps of the probe's 1 ms timer, each with the code the profile sampled in it
 * (self time by function, and the deepest frame of this service's sources beneath it), and the GC pauses.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
export interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}
interface Probe {
  pid: number;
  monoMinusEpochUs: number;
  gcs: Array<{ at: number; ms: number; kind: number | null }>;
  holds: Array<{ at: number; ms: number }>;
}
export interface Stretch {
  /** Epoch ms of its first sample. */
  at: number;
  ms: number;
  /** Self time by function, the heaviest first. */
  self: Array<[string, number]>;
  /** The deepest frame of src/ (or bench/) under each sample, the heaviest first: which of our calls it was. */
  ours: Array<[string, number]>;
}

const short = (f: ProfileNode['callFrame']): string => {
  const url = f.url.replace(/^file:\/\//, '');
  const at = url.indexOf('/node_modules/');
  const where = at >= 0 ? url.slice(at + 14) : url.replace(/^.*\/(src|dist|bench|test)\//, '$1/');
  return `${f.functionName || '(anonymous)'}${where ? ` ${where}:${f.lineNumber + 1}` : ''}`;
};

/**
 * The inspector's CPU profiler of this process, sampling every 0.25 ms, started; `stop` ends it. With the
 * offset of its monotonic clock from the epoch, which workOfHolds needs to place holds in the profile.
 */
export async function startCpuProfile(): Promise<{ monoMinusEpochUs: number; stop: () => Promise<Profile> }> {
  const session = new Session();
  session.connect();
  const post = <T>(method: string, params?: object): Promise<T> =>
    new Promise((resolve, reject) => session.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result as T))));
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 250 });
  const monoMinusEpochUs = Number(process.hrtime.bigint() / 1000n) - Date.now() * 1000;
  await post('Profiler.start');
  return {
    monoMinusEpochUs,
    stop: async () => {
      const { profile } = await post<{ profile: Profile }>('Profiler.stop');
      session.disconnect();
      return profile;
    },
  };
}

/**
 * Pure: what the profile sampled inside each of `holds` (epoch ms): the gaps of the probe's 1 ms timer, each
 * a time the loop was held at once. `cpuMs` is the samples' share of it (0.25 ms each): the rest the
 * process waited for a core.
 */
export function workOfHolds(profile: Profile, monoMinusEpochUs: number, holds: ReadonlyArray<{ at: number; ms: number }>): Array<Stretch & { cpuMs: number }> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const times: number[] = [];
  let t = profile.startTime;
  for (const d of profile.timeDeltas) {
    t += d;
    times.push((t - monoMinusEpochUs) / 1000);
  }
  const top = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, 6);
  return holds.map((h) => {
    const self = new Map<string, number>();
    const ours = new Map<string, number>();
    let samples = 0;
    profile.samples.forEach((id, i) => {
      const at = times[i]!;
      if (at < h.at || at > h.at + h.ms) return;
      const node = byId.get(id)!;
      if (node.callFrame.functionName === '(idle)') return;
      samples++;
      const name = short(node.callFrame);
      self.set(name, (self.get(name) ?? 0) + 1);
      for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
        const f = byId.get(n)!.callFrame;
        // dist/: the bench's processes run the compiled service.
        if (/\/(src|dist|bench)\//.test(f.url) && !f.url.includes('/node_modules/')) {
          const label = short(f);
          ours.set(label, (ours.get(label) ?? 0) + 1);
          break;
        }
      }
    });
    return { at: h.at, ms: h.ms, cpuMs: samples * 0.25, self: top(self), ours: top(ours) };
  });
}

async function main(): Promise<void> {
  const [dir, which = 'reader'] = process.argv.slice(2);
  if (dir === undefined) throw new Error('usage: npx tsx bench/loop-holds.ts <READS_PROBE_DIR> [reader|leader|single|<pid>]');
  const windows = JSON.parse(readFileSync(join(dir, 'reads-window.json'), 'utf8')) as {
    from: number;
    to: number;
    reader: number;
    leader: number;
    /** The single process's own reads (absent in files of earlier benches). */
    single?: { from: number; to: number; pid: number };
  };
  if (which === 'single' && windows.single === undefined) throw new Error('no single process in this probe directory');
  const window = which === 'single' ? windows.single! : windows;
  const pid = which === 'single' ? windows.single!.pid : which === 'reader' ? windows.reader : which === 'leader' ? windows.leader : Number(which);
  const probe = JSON.parse(readFileSync(join(dir, `probe-${pid}.json`), 'utf8')) as Probe;
  const file = readdirSync(dir).find((f) => f === `${pid}.cpuprofile`);
  if (file === undefined) throw new Error(`no profile of ${pid} in ${dir}`);
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile;
  const inWindow = <T extends { at: number }>(xs: T[]) => xs.filter((x) => x.at >= window.from && x.at <= window.to);
  const gcs = inWindow(probe.gcs);
  const holds = inWindow(probe.holds).sort((a, b) => b.ms - a.ms);
  const lines = [
    `${which} (pid ${pid}): reads window ${((window.to - window.from) / 1000).toFixed(1)} s`,
    `timer gaps over 8 ms: ${holds.length}, longest ${holds
      .slice(0, 10)
      .map((h) => h.ms.toFixed(0))
      .join(', ')} ms`,
    `GC pauses: ${gcs.length}, ${gcs.reduce((a, g) => a + g.ms, 0).toFixed(0)} ms in all; longest ${[...gcs]
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 8)
      .map((g) => `${g.ms.toFixed(1)} (kind ${g.kind})`)
      .join(', ')}`,
    'the longest holds and what the CPU profile sampled in each (0.25 ms samples):',
  ];
  for (const s of workOfHolds(profile, probe.monoMinusEpochUs, holds.slice(0, 15))) {
    lines.push(`  ${s.ms.toFixed(1)} ms at +${((s.at - window.from) / 1000).toFixed(2)} s, ${s.cpuMs.toFixed(1)} ms sampled`);
    lines.push(`    self: ${s.self.map(([n, c]) => `${n} (${c})`).join('; ')}`);
    lines.push(`    under: ${s.ours.map(([n, c]) => `${n} (${c})`).join('; ')}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
