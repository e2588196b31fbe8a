/**
 * Dependencies point one way and every type has one name (issue 9): no folder of src/ imports a folder
 * that imports it back, and no type name is defined twice in src/. Each rule is first shown to catch a
 * small made-up case, so that a rule that can no longer fail does not pass unnoticed.
 */
import { describe, expect, it } from 'vitest';
import { type FolderImport, folderCycles, folderImports, readSources, SRC_ROOT, type SourceFile } from './source-graph.ts';

const src = readSources(SRC_ROOT);

function cycleReport(imports: readonly FolderImport[]): string[] {
  return folderCycles(imports).map((folders) => {
    const inside = imports.filter((i) => folders.includes(i.from) && folders.includes(i.to));
    return `${folders.join(' <-> ')}: ${inside.map((i) => `${i.file} -> ${i.target}`).join(', ')}`;
  });
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
