/**
 * The dashboard at /ui: static files (src/http/ui) and the charting library's prebuilt browser bundle,
 * served from node_modules as installed, so nothing is built or fetched at run time. The files hold no data
 * (every figure comes from /v1 with the user's key), so they are served without one.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';

const UI_PREFIX = '/ui';
const UI_ROOT = fileURLToPath(new URL('../ui/', import.meta.url));
const ECHARTS_BUNDLE = createRequire(import.meta.url).resolve('echarts/dist/echarts.esm.min.mjs');
const VENDOR_FILES = new Set(['/echarts.esm.min.mjs']);

export const uiRoutes: FastifyPluginAsync = async (app) => {
  // The service's root leads a person who opens it in a browser to the dashboard.
  app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.redirect(`${UI_PREFIX}/`));
  app.get(UI_PREFIX, { schema: { hide: true } }, async (_request, reply) => reply.redirect(`${UI_PREFIX}/`));
  await app.register(fastifyStatic, { root: UI_ROOT, prefix: `${UI_PREFIX}/`, index: 'index.html', cacheControl: false });
  await app.register(fastifyStatic, {
    root: dirname(ECHARTS_BUNDLE),
    prefix: `${UI_PREFIX}/vendor/`,
    decorateReply: false,
    // Only the bundle the page imports, not the rest of the package's dist folder.
    allowedPath: (path) => VENDOR_FILES.has(path),
    maxAge: '1d',
  });
};
