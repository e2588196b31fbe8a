/**
 * Every call the dashboard makes to the service's API. The key, when the user gives one, lives in
 * sessionStorage (gone with the tab) and goes out as `Authorization: Bearer <key>` on every request.
 */

const KEY_STORAGE = 'alcor.apiKey';

export function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE) ?? '';
}

export function setApiKey(key) {
  if (key === '') sessionStorage.removeItem(KEY_STORAGE);
  else sessionStorage.setItem(KEY_STORAGE, key);
}

/** A failed request, with the status and the API's error code (`{ error, message }` or `{ error: { code, message } }`). */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

function errorOf(status, body) {
  const e = body?.error;
  if (e !== null && typeof e === 'object') return new ApiError(status, e.code ?? 'error', e.message ?? `HTTP ${status}`);
  return new ApiError(status, typeof e === 'string' ? e : 'error', body?.message ?? `HTTP ${status}`);
}

/** GET a path of the API (with query parameters, undefined ones left out) and return its JSON. */
export async function get(path, query = {}) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined && value !== null && value !== '') params.set(name, String(value));
  const url = params.size > 0 ? `${path}?${params}` : path;
  const headers = { accept: 'application/json' };
  const key = apiKey();
  if (key !== '') headers.authorization = `Bearer ${key}`;
  let response;
  try {
    response = await fetch(url, { headers });
  } catch (err) {
    throw new ApiError(0, 'unreachable', `the service did not answer (${err.message})`);
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) throw errorOf(response.status, body);
  return body;
}

/** Every item of a keyset-paged list, up to `max` items (the dashboard only needs counts and pickers). */
export async function getAll(path, query, max = 5000) {
  const items = [];
  let cursor;
  do {
    const page = await get(path, { ...query, limit: 1000, cursor });
    items.push(...page.items);
    cursor = page.next_cursor ?? undefined;
  } while (cursor !== undefined && items.length < max);
  return { items, complete: cursor === undefined };
}

/** What to tell the user about a failed request. */
export function explain(err) {
  if (!(err instanceof ApiError)) return `Unexpected error: ${err.message}`;
  if (err.status === 401) return 'This service requires an API key (401): enter a valid key above.';
  if (err.status === 403) return 'This API key is not allowed to see this (403): use a key with a wider scope.';
  if (err.status === 503 && err.code === 'no_run') return 'No clustering run has completed yet; the dashboard will refresh when one lands.';
  if (err.status === 429) return 'Too many requests (429): the dashboard will retry at the next refresh.';
  if (err.status === 0) return `The service is unreachable: ${err.message}.`;
  return `${err.message} (${err.status} ${err.code})`;
}
