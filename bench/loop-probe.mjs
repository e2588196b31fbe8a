/**
 * Loaded into a member process with `--import` (bench/scale-out-members-bench.ts, READS_PROBE_DIR): what held
 * its event loop, written at exit to `<dir>/probe-<pid>.json`, and its CPU profile (`<dir>/<pid>.cpuprofile`,
 * what `--cpu-prof` writes, which Node 20 refuses in NODE_OPTIONS), with V8's `--trace-gc` lines on its
 * output. Times are epoch milliseconds, so they line up with the bench's reads; the profile's clock is the
 * monotonic one (`monoMinusEpochUs` converts).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';

const dir = process.env.READS_PROBE_DIR;
const epoch = (t) => performance.timeOrigin + t;
/** Every GC pause the process reports: its kind (1 scavenge, 2 mark-compact, 4 incremental, 8 weak callbacks) and length. */
const gcs = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcs.push({ at: epoch(e.startTime), ms: e.duration, kind: e.detail?.kind ?? null });
}).observe({ entryTypes: ['gc'] });
/** Gaps of a 1 ms timer longer than 8 ms: the loop was held (or the process had no core). */
const holds = [];
let last = performance.now();
setInterval(() => {
  const now = performance.now();
  if (now - last > 8) holds.push({ at: epoch(last), ms: now - last });
  last = now;
}, 1).unref();
const monoMinusEpochUs = Number(process.hrtime.bigint() / 1000n) - Date.now() * 1000;
setFlagsFromString('--trace-gc');
// An in-process session answers synchronously: the profile is complete when `post` returns, even at exit.
const session = new Session();
session.connect();
session.post('Profiler.enable');
session.post('Profiler.setSamplingInterval', { interval: 250 });
session.post('Profiler.start');
if (dir !== undefined)
  process.on('exit', () => {
    writeFileSync(`${dir}/probe-${process.pid}.json`, JSON.stringify({ pid: process.pid, monoMinusEpochUs, gcs, holds }));
    session.post('Profiler.stop', (err, result) => {
      if (err === null) writeFileSync(`${dir}/${process.pid}.cpuprofile`, JSON.stringify(result.profile));
    });
  });
