/**
 * 405 for a method a known path does not declare, with the `Allow` header RFC 9110 asks for, instead of the
 * 404 "no route" that Fastify's router gives (it matches method and path together). Decided before the
 * body is read (an undeclared method that carries one, QUERY or PUT, is not parsed first) but after the
 * request hooks, so that security headers and the rate limit apply to it as to any other answer.
 */
import type { FastifyInstance } from 'fastify';
import { ApiError } from './errors.ts';

interface KnownPath {
  pattern: RegExp;
  methods: Set<string>;
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A Fastify path as a regular expression over the raw request path: `:param` is one segment, `*` the rest. */
function pathPattern(url: string): RegExp {
  const source = url
    .split('/')
    .map((segment) => {
      if (segment === '*') return '.*';
      if (segment.startsWith(':')) return '[^/]+';
      return escapeRegExp(segment);
    })
    .join('/');
  return new RegExp(`^${source}$`);
}

/** `GET, HEAD, POST`: Fastify answers HEAD wherever GET is declared (exposeHeadRoutes). */
function allowHeader(methods: Iterable<string>): string {
  const all = new Set(methods);
  if (all.has('GET')) all.add('HEAD');
  return [...all].sort().join(', ');
}

/** Registers before the routes, so that the onRoute hook sees each of them. */
export function registerMethodNotAllowed(app: FastifyInstance): void {
  const known = new Map<string, KnownPath>();
  /** Methods of catch-all routes (CORS preflight's OPTIONS *): every path has them, no path is made known by them. */
  const everywhere = new Set<string>();
  const methodsOf = (method: string | string[]): string[] => (Array.isArray(method) ? method : [method]).map((m) => m.toUpperCase());

  app.addHook('onRoute', (route) => {
    if (route.url === '*' || route.url === '/*') {
      for (const method of methodsOf(route.method)) everywhere.add(method);
      return;
    }
    let entry = known.get(route.url);
    if (entry === undefined) {
      entry = { pattern: pathPattern(route.url), methods: new Set() };
      known.set(route.url, entry);
    }
    for (const method of methodsOf(route.method)) entry.methods.add(method);
  });

  app.addHook('preParsing', async (request, reply) => {
    // A matched route accepts the method; only unmatched requests can be a known path with another method.
    if (request.routeOptions.url !== undefined) return;
    const path = request.url.split('?')[0] ?? '';
    const allowed: string[] = [];
    for (const entry of known.values()) if (entry.pattern.test(path)) allowed.push(...entry.methods);
    if (allowed.length === 0) return;
    const allow = allowHeader([...allowed, ...everywhere]);
    reply.header('allow', allow);
    throw new ApiError(405, 'method_not_allowed', `${request.method.slice(0, 20)} is not allowed here; allowed: ${allow}`);
  });
}
