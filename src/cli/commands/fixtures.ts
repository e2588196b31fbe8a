/**
 * Writes a synthetic trace `<out-dir>/<name>.jsonl.gz` and its ground truth `<out-dir>/<name>.truth.json`.
 *
 * The committed fixtures were made with exactly:
 *   npm run fixtures -- --preset small    (= --name small  --seed 1 --vms 500  --tenants 40 --minutes 45 --gzip-level 9)
 *   npm run fixtures -- --preset medium   (= --name medium --seed 2 --vms 1000 --tenants 80 --minutes 45 --gzip-level 9)
 * Benchmark traces (written to fixtures/generated/, git-ignored):
 *   npm run fixtures -- --preset bench-10k | bench-100k | bench-1m
 *
 * Options: --name --seed --vms --tenants --minutes [--out-dir fixtures] [--batch 50] [--records N]
 * [--gzip-level 0..9] [--window 15] [--realism standard|hard]. `--records N` sizes the trace length for about N flow records (it overrides
 * --minutes). Explicit options override a preset's values.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createGzip } from 'node:zlib';
import { PRESETS, type PresetName } from '../../generator/presets.ts';
import { TraceGenerator } from '../../generator/trace.ts';
import { ADDRESS_PLANS, type AddressPlan, type FixtureConfig, PORT_PLANS, type PortPlan, REALISMS, type Realism } from '../../generator/types.ts';
import type { Command } from '../command.ts';

const help = (prog: string): string => `Usage: ${prog} --preset NAME | --name N --seed N --vms N --tenants N [options]

Writes a synthetic trace <out-dir>/<name>.jsonl.gz and its ground truth <out-dir>/<name>.truth.json.
Presets: ${Object.keys(PRESETS).join(', ')}; explicit options override a preset's values.

  --preset NAME        small and medium are the committed fixtures (byte-identical); bench-* go to fixtures/generated
  --name N             file name (letters, digits, '.', '_', '-')
  --seed N             generator seed
  --vms N, --tenants N fleet size
  --minutes N          trace length in event time (default 45)
  --records N          size the trace for about N flow records (overrides --minutes)
  --out-dir DIR        where to write (default fixtures)
  --batch N            records per array message (default 50)
  --gzip-level 0..9    (default 9)
  --window N           window minutes the truth is computed for (default 15)
  --realism R          standard (default; the committed fixtures) or hard (docs/clustering.md "Harder fixtures")
  --addresses P        standard (default), per-vpc or shared (every VPC reuses the same private addresses): VM
                       attributes carry ip and the VNI, a deleted VM's address goes to a new VM (docs/exporters.md)
  --address-only       flows carry addresses and the VNI only, no src_vm/dst_vm (needs --addresses per-vpc|shared)
  --ports P            stable (default) or spread: services over port ranges, moved ports, clients booted in
                       the last window (docs/security-groups.md "Goal figures")
  --json               print the summary as JSON
`;

const CHUNK_CHARS = 1 << 20;

function int(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got "${value}"`);
  return n;
}

function parseOptions(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    options: {
      preset: { type: 'string' },
      name: { type: 'string' },
      seed: { type: 'string' },
      vms: { type: 'string' },
      tenants: { type: 'string' },
      minutes: { type: 'string' },
      'out-dir': { type: 'string' },
      batch: { type: 'string' },
      records: { type: 'string' },
      'gzip-level': { type: 'string' },
      window: { type: 'string' },
      realism: { type: 'string' },
      addresses: { type: 'string' },
      'address-only': { type: 'boolean' },
      ports: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
}

async function run(argv: readonly string[], prog: string): Promise<number> {
  let values: ReturnType<typeof parseOptions>['values'];
  try {
    values = parseOptions(argv).values;
  } catch (err) {
    process.stderr.write(`fixtures: ${(err as Error).message}\n\n${help(prog)}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(help(prog));
    return 0;
  }

  let preset: (typeof PRESETS)[PresetName] | undefined;
  if (values.preset !== undefined) {
    if (!(values.preset in PRESETS)) throw new Error(`unknown preset "${values.preset}" (${Object.keys(PRESETS).join(', ')})`);
    preset = PRESETS[values.preset as PresetName];
  }
  const name = values.name ?? preset?.name;
  const seed = int(values.seed, 'seed') ?? preset?.seed;
  const vms = int(values.vms, 'vms') ?? preset?.vms;
  const tenants = int(values.tenants, 'tenants') ?? preset?.tenants;
  let minutes = int(values.minutes, 'minutes') ?? preset?.minutes ?? 45;
  const records = int(values.records, 'records') ?? (preset && 'records' in preset ? preset.records : undefined);
  const outDir = values['out-dir'] ?? preset?.outDir ?? 'fixtures';
  const gzipLevel = int(values['gzip-level'], 'gzip-level') ?? preset?.gzipLevel ?? 9;
  const batch = int(values.batch, 'batch') ?? 50;
  const windowMinutes = int(values.window, 'window') ?? 15;
  const realism = values.realism ?? 'standard';
  if (!(REALISMS as readonly string[]).includes(realism)) throw new Error(`--realism must be one of ${REALISMS.join(', ')}, got "${realism}"`);
  const addresses = values.addresses ?? 'standard';
  if (!(ADDRESS_PLANS as readonly string[]).includes(addresses)) throw new Error(`--addresses must be one of ${ADDRESS_PLANS.join(', ')}, got "${addresses}"`);
  const ports = values.ports ?? 'stable';
  if (!(PORT_PLANS as readonly string[]).includes(ports)) throw new Error(`--ports must be one of ${PORT_PLANS.join(', ')}, got "${ports}"`);
  if (name === undefined || seed === undefined || vms === undefined || tenants === undefined) {
    throw new Error('need --preset, or --name, --seed, --vms and --tenants');
  }
  if (!/^[\w.-]+$/.test(name)) throw new Error(`--name may hold only letters, digits, '.', '_' and '-'`);

  const base: FixtureConfig = { name, seed, vms, tenants, minutes, batch, windowMinutes, ...(realism === 'hard' ? { realism: realism as Realism } : {}),
    ...(addresses === 'standard' ? {} : { addresses: addresses as AddressPlan }),
    ...(values['address-only'] ? { addressOnly: true } : {}),
    ...(ports === 'stable' ? {} : { ports: ports as PortPlan }),
  };
  if (records !== undefined) {
    const rate = new TraceGenerator({ ...base, minutes: 30 }).estimateRecordsPerMinute(6);
    minutes = Math.max(windowMinutes + 5, Math.round(records / Math.max(1, rate)));
  }
  const started = performance.now();
  const gen = new TraceGenerator({ ...base, minutes });

  await mkdir(outDir, { recursive: true });
  const tracePath = join(outDir, `${name}.jsonl.gz`);
  const truthPath = join(outDir, `${name}.truth.json`);
  const tmp = `${tracePath}.tmp`;
  const file = createWriteStream(tmp);
  const gzip = createGzip({ level: gzipLevel });
  gzip.pipe(file);
  let bytes = 0;
  const write = async (chunk: string) => {
    bytes += Buffer.byteLength(chunk);
    // Backpressure: a 100k-VM trace is gigabytes of JSON and must never sit in memory.
    if (!gzip.write(chunk)) await once(gzip, 'drain');
  };
  let buffer = '';
  for (const line of gen.lines()) {
    buffer += `${line}\n`;
    if (buffer.length >= CHUNK_CHARS) {
      await write(buffer);
      buffer = '';
    }
  }
  if (buffer.length > 0) await write(buffer);
  gzip.end();
  await once(file, 'finish');
  await rename(tmp, tracePath);
  const truth = gen.truth();
  await writeFile(truthPath, `${JSON.stringify(truth, null, 2)}\n`);

  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const gz = file.bytesWritten;
  if (values.json) {
    const summary = {
      trace: tracePath,
      truth: truthPath,
      lines: truth.stats.lines,
      flow_records: truth.stats.flow_records,
      vms: Object.keys(truth.vms).length,
      tenants: Object.keys(truth.tenants).length,
      minutes,
      bytes_raw: bytes,
      bytes_gzipped: gz,
      seconds: Number(seconds),
    };
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    return 0;
  }
  console.log(
    `${tracePath}: ${truth.stats.lines} lines, ${truth.stats.flow_records} flow records, ` +
      `${Object.keys(truth.vms).length} VMs, ${Object.keys(truth.tenants).length} tenants in truth, ` +
      `${minutes} min, ${bytes} bytes raw, ${gz} bytes gzipped, ${seconds} s`,
  );
  return 0;
}

export const fixturesCommand: Command = {
  help,
  run,
};
