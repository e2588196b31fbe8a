/**
 * `npm run build`: the service compiled to dist/ for production (`node dist/main.js`, the Docker image).
 * tsc rewrites the sources' `.ts` import specifiers to `.js` (rewriteRelativeImportExtensions); the files the
 * service reads beside its modules at run time (the dashboard's static files) are copied next to them, so
 * that every `new URL('…', import.meta.url)` resolves in dist/ as it does in src/.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';

const OUT_DIR = 'dist';
/** Folders under src/ that hold no TypeScript but are read at run time. */
const STATIC_DIRS = ['http/ui'];

// A clean output: a module deleted or renamed in src/ must not live on in dist/.
rmSync(OUT_DIR, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
for (const dir of STATIC_DIRS) cpSync(`src/${dir}`, `${OUT_DIR}/${dir}`, { recursive: true });
process.stdout.write(`built ${OUT_DIR}/ (node ${OUT_DIR}/main.js)\n`);
