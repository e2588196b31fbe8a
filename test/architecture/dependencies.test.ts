/**
 * Dependencies point one way and every type has one name (issue 9): no folder of src/ imports a folder
 * that imports it back, and no type name is defined twice in src/. Each rule is first shown to catch a
 * small made-up case, so that a rule that can no longer fail does not pass unnoticed.
 */
import { describe, expect, it } from 'vitest';
import { type FolderImport, folderCycles, folderImports, packageImports, readSources, SRC_ROOT, type SourceFile, typeDefinitions } from './source-graph.ts';

const src = readSources(SRC_ROOT);

function cycleReport(imports: readonly FolderImport[]): string[] {
  return folderCycles(imports).map((folders) => {
    const inside = imports.filter((i) => folders.includes(i.from) && folders.includes(i.to));
    return `${folders.join(' <-> ')}: ${inside.map((i) => `${i.file} -> ${i.target}`).join(', ')}`;
  });
}

function duplicates(files: readonly SourceFile[]): string[] {
  return [...typeDefinitions(files)].filter(([, where]) => where.length > 1).map(([name, where]) => `${name}: ${where.join(', ')}`);
}

describe('folder imports', () => {
  it('finds a folder that imports one that imports it back, directly or through others', () => {
    const files: SourceFile[] = [
      { path: 'fleet/state.ts', text: "import { portClass } from '../features/ports.ts';" },
      { path: 'features/vm.ts', text: "import type { VmEntry } from '../fleet/vm-entry.ts';" },
      { path: 'a/x.ts', text: "export { y } from '../b/y.ts';" },
      { path: 'b/y.ts', text: "const c = await import('../c/z.ts');" },
      { path: 'c/z.ts', text: "import type { X } from '../a/sub/x.ts';" },
      { path: 'main.ts', text: "import { x } from './a/x.ts'; import { vm } from './features/vm.ts';" },
      { path: 'http/app.ts', text: "import { check } from './auth/check.ts';" },
      { path: 'http/auth/check.ts', text: "import { errors } from '../errors.ts';" },
    ];
    expect(cycleReport(folderImports(files))).toEqual([
      'a <-> b <-> c: a/x.ts -> b/y.ts, b/y.ts -> c/z.ts, c/z.ts -> a/sub/x.ts',
      'features <-> fleet: fleet/state.ts -> features/ports.ts, features/vm.ts -> fleet/vm-entry.ts',
    ]);
  });

  it('no folder of src/ imports a folder that imports it back', () => {
    const imports = folderImports(src);
    // The rule must see the real imports, not an empty graph.
    expect(imports.some((i) => i.from === 'runs' && i.to === 'clustering')).toBe(true);
    expect(cycleReport(imports)).toEqual([]);
  });
});

/** The pure core (docs/architecture.md): records in, results out, nothing of Kafka, HTTP, files or the process. */
const PURE_CORE = ['traffic', 'windows', 'fleet', 'features', 'clustering', 'placement', 'security-groups', 'runs'];
const EDGE_FOLDERS = ['kafka', 'http', 'snapshots', 'model-store', 'storage', 'config', 'service', 'pipeline', 'replay', 'trace', 'cli', 'observability', 'dev', 'main.ts'];
const EDGE_MODULES = /^(node:)?(fs|fs\/promises|net|http|https|child_process|worker_threads|process)$|^(kafkajs|fastify|@fastify\/|prom-client|pino)/;

function edgeImports(files: readonly SourceFile[]): string[] {
  const folders = folderImports(files)
    .filter((i) => PURE_CORE.includes(i.from) && EDGE_FOLDERS.includes(i.to))
    .map((i) => `${i.file} -> ${i.target}`);
  const modules = packageImports(files)
    .filter((i) => PURE_CORE.includes(i.folder) && EDGE_MODULES.test(i.module))
    .map((i) => `${i.file} -> ${i.module}`);
  return [...folders, ...modules];
}

describe('the pure core', () => {
  it('finds a core module that reaches for an edge folder, Kafka, HTTP or files', () => {
    const files: SourceFile[] = [
      { path: 'runs/a.ts', text: "import { readFile } from 'node:fs/promises';\nimport { z } from 'zod';" },
      { path: 'fleet/b.ts', text: "import type { Consumer } from 'kafkajs';\nimport { deflateSync } from 'node:zlib';" },
      { path: 'features/c.ts', text: "import type { ServiceMetrics } from '../observability/service-metrics.ts';" },
      { path: 'http/d.ts', text: "import Fastify from 'fastify';\nimport { runClustering } from '../runs/clustering-run.ts';" },
    ];
    expect(edgeImports(files)).toEqual(['features/c.ts -> observability/service-metrics.ts', 'runs/a.ts -> node:fs/promises', 'fleet/b.ts -> kafkajs']);
  });

  it('imports no edge folder, Kafka, HTTP, metrics or file system', () => {
    expect(packageImports(src).some((i) => i.module === 'kafkajs')).toBe(true);
    expect(edgeImports(src)).toEqual([]);
  });
});

describe('type names', () => {
  it('finds a type name defined twice, exported or not, at any depth', () => {
    const files: SourceFile[] = [
      { path: 'runs/projection.ts', text: 'export interface VmProjection { x: Float32Array }' },
      { path: 'cli/projection.ts', text: 'function f() {\n  type VmProjection = { points: number[] };\n}' },
      { path: 'a.ts', text: 'export class Pending {}\nenum Kind { A }' },
      { path: 'b.ts', text: 'interface Pending { n: number }\nexport type Other = 1;' },
      { path: 'http/auth.ts', text: "declare module 'fastify' { interface FastifyContextConfig { access?: string } }" },
      { path: 'http/docs.ts', text: "declare module 'fastify' { interface FastifyContextConfig { query?: string } }" },
    ];
    expect(duplicates(files)).toEqual(['VmProjection: runs/projection.ts:1, cli/projection.ts:2', 'Pending: a.ts:1, b.ts:1']);
  });

  it('no type name is defined twice in src/', () => {
    const defs = typeDefinitions(src);
    // The rule must see the real definitions, not an empty map.
    expect(defs.get('ClusteringRun')).toEqual([expect.stringMatching(/^runs\/clustering-run\.ts:\d+$/)]);
    expect(duplicates(src)).toEqual([]);
  });
});
