/**
 * `node --import ./test/helpers/module-log.mjs …`: appends the URL of every module the process resolves
 * (ESM imports, static and dynamic) to the file named by MODULE_LOG, one a line, so that a test can tell
 * which packages a process loaded. Plain JavaScript: it runs before any TypeScript loader.
 */
import { register } from 'node:module';

register('./module-log-hooks.mjs', import.meta.url, { data: { file: process.env.MODULE_LOG } });
