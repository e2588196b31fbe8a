/**
 * Structural guards applied to every decoded record before its fields are read: keys that could pollute
 * prototypes when a record is copied into a plain object, and nesting deep enough to be an attack.
 */
import { type Rejection, rejection } from './rejections.ts';

export const MAX_DEPTH = 8;

/** Null when the value is structurally acceptable; walks only into nested objects and arrays. */
export function checkStructure(value: object, maxDepth: number = MAX_DEPTH): Rejection | null {
  return walk(value, 1, maxDepth);
}

function walk(value: object, depth: number, maxDepth: number): Rejection | null {
  if (depth > maxDepth) return rejection('too_deep', null, `nested deeper than ${maxDepth} levels`);
  if (Array.isArray(value)) {
    for (const item of value) {
      if (typeof item === 'object' && item !== null) {
        const r = walk(item, depth + 1, maxDepth);
        if (r) return r;
      }
    }
    return null;
  }
  for (const key in value) {
    // Plain comparisons: keys from JSON.parse are internalised, so these are pointer compares.
    if (key === '__proto__' || key === 'constructor' || key === 'prototype')
      return rejection('forbidden_key', key, `forbidden key "${key}"`);
    const child = (value as Record<string, unknown>)[key];
    if (typeof child === 'object' && child !== null) {
      const r = walk(child, depth + 1, maxDepth);
      if (r) return r;
    }
  }
  return null;
}
