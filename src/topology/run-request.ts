/**
 * The id of a run asked for through the API (`POST /v1/recluster` on any member). It travels from the
 * leader topic into a marker in every by-VM partition and back with each partition's features, so whichever
 * member leads when the last partition answers runs it: what the run must know of the request (whether it
 * searches for k) is part of the id, not of the leader that happened to read the request.
 */
import { randomUUID } from 'node:crypto';

/** The ending of the id of a request that searches for k. */
const SEARCH = '.search';

/** A new request's id: unique, ordered by the time it was made, saying whether the run searches for k. */
export function newRunRequestId(search: boolean, now: number = Date.now()): string {
  return `${now.toString(36)}-${randomUUID()}${search ? SEARCH : ''}`;
}

/** Whether the run of this request searches for k (false for the ids of earlier builds: their leader knew). */
export function runRequestSearches(req: string): boolean {
  return req.endsWith(SEARCH);
}
