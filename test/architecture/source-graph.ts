/**
 * What the architecture tests read of src/: which folder imports which, and where each type name is
 * defined. From the sources' text through the TypeScript parser, so that an import added anywhere (type-only,
 * re-export, dynamic) is seen without running anything.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

export interface SourceFile {
  /** Path relative to the source root, with forward slashes. */
  path: string;
  text: string;
}

export function readSources(root: string): SourceFile[] {
  const walk = (dir: string): string[] =>
    readdirSync(dir)
      .sort()
      .flatMap((name) => {
        const p = join(dir, name);
        return statSync(p).isDirectory() ? walk(p) : name.endsWith('.ts') ? [p] : [];
      });
  return walk(root).map((p) => ({ path: relative(root, p).split(sep).join('/'), text: readFileSync(p, 'utf8') }));
}

/**
 * The unit of the dependency rule: a top-level folder of src/ with its subfolders (http/auth/ is part of
 * http/), or a file directly in src/ on its own.
 */
export function folderOf(path: string): string {
  const slash = path.indexOf('/');
  return slash < 0 ? path : path.slice(0, slash);
}

export interface FolderImport {
  from: string;
  to: string;
  /** The file that imports and the file it imports, relative to the source root. */
  file: string;
  target: string;
}

export function folderImports(files: readonly SourceFile[]): FolderImport[] {
  const out: FolderImport[] = [];
  for (const f of files) {
    for (const i of ts.preProcessFile(f.text, true, true).importedFiles) {
      if (!i.fileName.startsWith('.')) continue;
      const target = posix.normalize(posix.join(posix.dirname(f.path), i.fileName));
      const from = folderOf(f.path);
      const to = folderOf(target);
      if (from !== to) out.push({ from, to, file: f.path, target });
    }
  }
  return out;
}

/** Imports of packages and Node modules (not relative paths): `node:fs`, `kafkajs`, `fastify/types`... */
export function packageImports(files: readonly SourceFile[]): Array<{ folder: string; file: string; module: string }> {
  return files.flatMap((f) =>
    ts
      .preProcessFile(f.text, true, true)
      .importedFiles.filter((i) => !i.fileName.startsWith('.'))
      .map((i) => ({ folder: folderOf(f.path), file: f.path, module: i.fileName })),
  );
}

/** Groups of two or more folders that reach each other through imports (strongly connected components). */
export function folderCycles(imports: readonly FolderImport[]): string[][] {
  const next = new Map<string, Set<string>>();
  for (const i of imports) {
    if (!next.has(i.from)) next.set(i.from, new Set());
    next.get(i.from)!.add(i.to);
  }
  const nodes = [...new Set(imports.flatMap((i) => [i.from, i.to]))].sort();
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of [...(next.get(v) ?? [])].sort()) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1) cycles.push(component.sort());
  };
  for (const n of nodes) if (!index.has(n)) visit(n);
  return cycles.sort((a, b) => (a[0]! < b[0]! ? -1 : 1));
}

/**
 * Where each interface, type alias, class and enum name is declared (exported or not, at any depth), as
 * `path:line`. Declarations inside `declare module '...'` are left out: they add fields to another package's
 * interface (Fastify's route config), which TypeScript merges by design, and define no type of ours.
 */
export function typeDefinitions(files: readonly SourceFile[]): Map<string, string[]> {
  const defs = new Map<string, string[]>();
  for (const f of files) {
    const source = ts.createSourceFile(f.path, f.text, ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      if (ts.isModuleDeclaration(node) && ts.isStringLiteral(node.name)) return;
      if (
        (ts.isInterfaceDeclaration(node) || ts.isTypeAliasDeclaration(node) || ts.isClassDeclaration(node) || ts.isEnumDeclaration(node)) &&
        node.name !== undefined
      ) {
        const where = `${f.path}:${source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1}`;
        defs.set(node.name.text, [...(defs.get(node.name.text) ?? []), where]);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return defs;
}

/** The repository's src/, wherever the tests run from. */
export const SRC_ROOT = resolve(dirname(new URL(import.meta.url).pathname), '../../src');
