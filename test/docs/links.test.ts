/**
 * The README stays a five-minute read and every page it moved into docs/ stays reachable: every relative
 * link in README.md and docs/*.md names a file that exists (and, for a Markdown page, a heading that
 * exists), every docs/ page is linked from the README, and the README's Layout lists exactly the folders
 * of src/. And test/ mirrors src/ as the Layout says, so that a module's tests are found where it is.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';

const README_MAX_CHARS = 12_000;

const pages = ['README.md', ...readdirSync('docs').filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];

/** The text outside fenced code blocks and inline code spans, where a link is a link. */
function prose(markdown: string): string {
  return markdown.replace(/^```[^\n]*\n[\s\S]*?^```[^\n]*$/gm, '').replace(/`[^`\n]*`/g, '');
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
function slug(heading: string): string {
  return heading
    .replace(/`/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const match of markdown.replace(/^```[^\n]*\n[\s\S]*?^```[^\n]*$/gm, '').matchAll(/^#{1,6} (.+)$/gm)) {
    const base = slug(match[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

interface Link {
  page: string;
  target: string;
}

function relativeLinks(page: string): Link[] {
  const links: Link[] = [];
  for (const match of prose(readFileSync(page, 'utf8')).matchAll(/\]\(([^)\s]+)\)/g)) {
    const target = match[1]!;
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
    links.push({ page, target });
  }
  return links;
}

function resolve(link: Link): { file: string; anchor: string | undefined } {
  const [path, anchor] = link.target.split('#', 2) as [string, string | undefined];
  return { file: path === '' ? link.page : normalize(join(dirname(link.page), path)), anchor };
}

describe('README and docs/', () => {
  it(`README.md is under ${README_MAX_CHARS} characters`, () => {
    expect(readFileSync('README.md', 'utf8').length).toBeLessThan(README_MAX_CHARS);
  });

  it('every relative link names an existing file, and a heading of it when it names one', () => {
    const broken: string[] = [];
    const all = pages.flatMap(relativeLinks);
    for (const link of all) {
      const { file, anchor } = resolve(link);
      if (!existsSync(file)) {
        broken.push(`${link.page}: ${link.target} (no file ${file})`);
      } else if (anchor !== undefined && file.endsWith('.md') && !anchors(readFileSync(file, 'utf8')).has(anchor)) {
        broken.push(`${link.page}: ${link.target} (no heading #${anchor} in ${file})`);
      }
    }
    expect(broken).toEqual([]);
    expect(all.length).toBeGreaterThan(40);
  });

  it('links every docs/ page from the README', () => {
    const linked = new Set(relativeLinks('README.md').map((l) => resolve(l).file));
    const unlinked = pages.filter((p) => p !== 'README.md' && !linked.has(p));
    expect(unlinked).toEqual([]);
  });

  it("the README's Layout lists exactly the folders of src/, and the top-level folders it names exist", () => {
    const readme = readFileSync('README.md', 'utf8');
    const section = readme.split(/^## Layout$/m)[1]?.split(/^## /m)[0] ?? '';
    const entries = [...section.matchAll(/^([\w.-]+\/(?:[\w.-]+\/?)?)\s/gm)].map((m) => m[1]!);
    const listedSrc = entries.filter((e) => e.startsWith('src/') && e.endsWith('/')).map((e) => e.slice(4, -1));
    const srcFolders = readdirSync('src').filter((f) => statSync(join('src', f)).isDirectory());
    expect([...listedSrc].sort()).toEqual([...srcFolders].sort());
    const missing = entries.filter((e) => !existsSync(e));
    expect(missing).toEqual([]);
    for (const folder of ['docs/', 'bench/', 'scripts/', 'tools/', 'fixtures/', 'models/', 'test/', 'bin/']) {
      expect(entries).toContain(folder);
    }
  });
});

/** Test folders that mirror no src/ folder: what each holds instead (docs/testing.md). */
const TEST_FOLDERS_BESIDE_SRC: Record<string, string> = {
  helpers: 'helpers shared by tests, and their own tests',
  e2e: 'end-to-end tests: the service as a process, the compiled build, broker restarts, the soak',
  docs: 'README.md and docs/',
  architecture: 'rules over the whole of src/: one-way folder dependencies, one definition per type name',
  tools: 'tools/ (the development Kafka broker)',
  deploy: 'the Dockerfile, docker-compose.yml and the package files',
};

const folders = (dir: string): string[] => readdirSync(dir).filter((f) => statSync(join(dir, f)).isDirectory());
const holdsTests = (dir: string): boolean =>
  readdirSync(dir).some((f) => (statSync(join(dir, f)).isDirectory() ? holdsTests(join(dir, f)) : f.endsWith('.test.ts')));

describe('test/ mirrors src/', () => {
  it('every folder of src/ has its test folder in test/, with tests in it', () => {
    const untested = folders('src').filter((f) => !existsSync(join('test', f)) || !holdsTests(join('test', f)));
    expect(untested).toEqual([]);
  });

  it('every folder of test/ mirrors a folder of src/ (or tools/), or is one of the few that hold other tests', () => {
    const strays: string[] = [];
    const walk = (testDir: string, sourceDir: string): void => {
      for (const f of folders(testDir)) {
        if (!existsSync(join(sourceDir, f))) strays.push(join(testDir, f));
        else walk(join(testDir, f), join(sourceDir, f));
      }
    };
    for (const f of folders('test')) {
      if (f === 'tools') walk(join('test', f), 'tools');
      else if (f in TEST_FOLDERS_BESIDE_SRC) continue;
      else if (!existsSync(join('src', f))) strays.push(join('test', f));
      else walk(join('test', f), join('src', f));
    }
    expect(strays).toEqual([]);
  });
});
