/**
 * A document (a published run, a partition's features) in V8's structured-serialisation format, cut so
 * that no single step of its encoding or decoding handles more than `maxItems` elements of one array, Map,
 * Set or object: a member decodes a run of 30k VMs while it serves reads, and `v8.deserialize` of the
 * whole (13 MB at 11.6k VMs) held its event loop for hundreds of milliseconds at once.
 *
 * The large collections are taken out of the document (the skeleton) and serialised in parts of at most
 * `maxItems` elements each (fewer for an array of heavy elements, elementsPerPart); decoding verifies the checksum part by part, then deserialises the skeleton and
 * each part in its own step and puts the collections back. Typed arrays copy as bytes: they are cut only
 * past TYPED_ELEMENTS_PER_ITEM times the bound (a run's feature matrix at 30k VMs is 5 MB). The decoded document equals the encoded one, shared references within it included. A collection
 * inside an element of a cut collection is not cut again (elements are small in the documents cut here).
 *
 * Bytes: magic, format version, part count, SHA-256 of the parts, then each part's length and bytes. Files
 * of snapshot-file.ts (one block) still decode, in one step: records written by earlier versions.
 */
import { createHash } from 'node:crypto';
import { deserialize, serialize } from 'node:v8';
import { inSlices, runToEnd } from '../core/slices.ts';
import { decodeSnapshotFile, SnapshotFileError } from './snapshot-file.ts';

const MAGIC = Buffer.from('ATCPARTS', 'latin1');
const FORMAT_VERSION = 1;
/** magic(8) + version(4) + part count(4) + sha256(32). */
const HEADER_BYTES = 48;
/** What stands for a collection taken out of the skeleton: no document of this service has this key. */
const CUT = '\u0000cut';

type CutKind = 'array' | 'map' | 'set' | 'object' | TypedArrayName;
interface CutRef {
  [CUT]: CutKind;
  /** Index of the collection's first part, and how many parts it has. */
  from: number;
  parts: number;
}

/** The typed arrays a document of this service holds (features, labels, the traffic graph). */
const TYPED_ARRAYS = { Float64Array, Float32Array, Int32Array, Uint32Array, Int16Array, Uint16Array, Int8Array, Uint8Array } as const;
type TypedArrayName = keyof typeof TYPED_ARRAYS;
type TypedArray = InstanceType<(typeof TYPED_ARRAYS)[TypedArrayName]>;
const typedArrayName = (v: ArrayBufferView): TypedArrayName | null => {
  const name = v.constructor.name;
  return name in TYPED_ARRAYS && v.constructor === TYPED_ARRAYS[name as TypedArrayName] ? (name as TypedArrayName) : null;
};

/**
 * A typed array copies as bytes, about a hundred times faster than an element of an array of objects
 * deserialises: it is cut in parts of this many times `maxItems` elements.
 */
const TYPED_ELEMENTS_PER_ITEM = 128;

/** One step from a container to what it holds: a property or index, or a Map's key. */
type PathStep = string | number | { mapKey: unknown };

/**
 * A document as its skeleton and the parts taken out of it (each at most `maxItems` elements). The
 * skeleton says where each cut collection stood, so that putting them back visits those places only.
 */
export interface CutDocument {
  skeleton: { document: unknown; cuts: Array<[PathStep[], CutRef]> };
  parts: unknown[][];
}

const isPlainObject = (v: object): v is Record<string, unknown> => {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
};

const isCutRef = (v: unknown): v is CutRef => typeof v === 'object' && v !== null && CUT in v;

/** Pure: the skeleton of `document` and its large collections in parts of at most `maxItems` elements. */
export function cutDocument(document: unknown, maxItems: number): CutDocument {
  if (!(Number.isInteger(maxItems) && maxItems >= 1)) throw new RangeError(`maxItems must be a positive integer, got ${maxItems}`);
  const parts: unknown[][] = [];
  const cuts: Array<[PathStep[], CutRef]> = [];
  const path: PathStep[] = ['document'];
  // The same collection reached twice is cut once: its copies stay one object after decoding.
  const seen = new Map<object, unknown>();
  const remember = (v: object, ref: CutRef): CutRef => {
    seen.set(v, ref);
    cuts.push([[...path], ref]);
    return ref;
  };
  const cut = (kind: CutKind, items: ArrayLike<unknown>, per: number, piece: (from: number, to: number) => unknown[]): CutRef => {
    const ref: CutRef = { [CUT]: kind, from: parts.length, parts: 0 };
    for (let i = 0; i < items.length; i += per) {
      parts.push(piece(i, Math.min(items.length, i + per)));
      ref.parts++;
    }
    return ref;
  };
  const list = (items: unknown[]) => (from: number, to: number) => items.slice(from, to);
  const walk = (v: unknown): unknown => {
    if (v === null || typeof v !== 'object') return v;
    const known = seen.get(v);
    if (known !== undefined) {
      // A cut collection reached again: put back here too. Anything else shared is one object in the skeleton.
      if (isCutRef(known)) cuts.push([[...path], known]);
      return known;
    }
    if (ArrayBuffer.isView(v)) {
      const name = typedArrayName(v);
      const per = maxItems * TYPED_ELEMENTS_PER_ITEM;
      if (name === null || (v as TypedArray).length <= per) return v;
      const typed = v as TypedArray;
      // Copies (slice), not views: a view would serialise its whole buffer with it.
      return remember(v, cut(name, typed, per, (from, to) => [typed.slice(from, to)]));
    }
    const inside = (step: PathStep, item: unknown): unknown => {
      path.push(step);
      const out = walk(item);
      path.pop();
      return out;
    };
    if (Array.isArray(v)) {
      if (v.length > maxItems) return remember(v, cut('array', v, elementsPerPart(v, maxItems), list(v)));
      const out: unknown[] = [];
      seen.set(v, out);
      v.forEach((item, i) => void out.push(inside(i, item)));
      return out;
    }
    if (v instanceof Map) {
      if (v.size > maxItems) return remember(v, cut('map', { length: v.size }, maxItems, list([...v.entries()])));
      const out = new Map<unknown, unknown>();
      seen.set(v, out);
      for (const [k, item] of v) out.set(k, inside({ mapKey: k }, item));
      return out;
    }
    if (v instanceof Set) return v.size > maxItems ? remember(v, cut('set', { length: v.size }, maxItems, list([...v]))) : v;
    if (isPlainObject(v)) {
      const keys = Object.keys(v);
      if (keys.length > maxItems) return remember(v, cut('object', keys, maxItems, (from, to) => keys.slice(from, to).map((k) => [k, v[k]])));
      const out: Record<string, unknown> = {};
      seen.set(v, out);
      for (const k of keys) out[k] = inside(k, v[k]);
      return out;
    }
    return v;
  };
  const skeleton = { document: walk(document), cuts };
  return { skeleton, parts };
}

/**
 * Values (nested elements and leaves) one element of a part may hold on average and still count as one of
 * `maxItems`: a VM's attributes or explanation hold 5 to 20. Heavier elements go fewer to a part (a tenant's
 * security groups hold hundreds: 200 of them made parts of 3 MB, one step of 10 to 20 ms on a leader's loop).
 */
const VALUES_PER_ELEMENT = 32;
/** Elements of a long array weighed to estimate its elements' mean weight: evenly spaced, so the result is the same for the same array. */
const ELEMENTS_WEIGHED = 16;

/** How many elements of `items` go to one part: `maxItems`, fewer when its elements are heavy. */
function elementsPerPart(items: readonly unknown[], maxItems: number): number {
  const budget = maxItems * VALUES_PER_ELEMENT;
  const sampled = Math.min(ELEMENTS_WEIGHED, items.length);
  let weight = 0;
  for (let s = 0; s < sampled; s++) weight += weightOf(items[Math.floor((s * items.length) / sampled)], budget);
  const mean = weight / Math.max(1, sampled);
  return Math.max(1, Math.min(maxItems, Math.floor(budget / Math.max(1, mean))));
}

/** Values in `v` (itself included), counted up to `cap`: typed arrays by TYPED_ELEMENTS_PER_ITEM elements. */
function weightOf(v: unknown, cap: number): number {
  if (v === null || typeof v !== 'object') return 1;
  if (ArrayBuffer.isView(v)) return 1 + Math.floor((v as TypedArray).length / TYPED_ELEMENTS_PER_ITEM);
  let n = 1;
  const values: Iterable<unknown> = Array.isArray(v) ? v : v instanceof Map || v instanceof Set ? v.values() : Object.values(v);
  for (const item of values) {
    n += weightOf(item, cap - n);
    if (n >= cap) return n;
  }
  return n;
}

/** Pure: the document `cutDocument` took apart (the skeleton is changed in place: its document is returned). */
export function joinDocument(cut: CutDocument): unknown {
  return runToEnd(joinDocumentSteps(cut));
}

/** joinDocument as steps: one per collection put back (a run of 30k VMs has a few dozen). */
function* joinDocumentSteps({ skeleton, parts }: CutDocument): Generator<void, unknown, void> {
  const built = new Map<number, unknown>();
  const rebuild = (ref: CutRef): unknown => {
    const kind = ref[CUT];
    if (kind in TYPED_ARRAYS) {
      const pieces = parts.slice(ref.from, ref.from + ref.parts).map((part) => part[0] as TypedArray);
      const out = new TYPED_ARRAYS[kind as TypedArrayName](pieces.reduce((n, piece) => n + piece.length, 0));
      let at = 0;
      for (const piece of pieces) {
        out.set(piece, at);
        at += piece.length;
      }
      return out;
    }
    const items: unknown[] = [];
    for (let i = ref.from; i < ref.from + ref.parts; i++) for (const item of parts[i] ?? []) items.push(item);
    switch (kind) {
      case 'array':
        return items;
      case 'map':
        return new Map(items as Array<[unknown, unknown]>);
      case 'set':
        return new Set(items);
      default:
        return Object.fromEntries(items as Array<[string, unknown]>);
    }
  };
  const root: Record<string, unknown> = skeleton as unknown as Record<string, unknown>;
  for (const [path, ref] of skeleton.cuts) {
    let collection = built.get(ref.from);
    if (collection === undefined) {
      collection = rebuild(ref);
      built.set(ref.from, collection);
    }
    let container: unknown = root;
    for (let i = 0; i < path.length - 1; i++) container = step(container, path[i]!);
    const last = path[path.length - 1]!;
    if (typeof last === 'object') (container as Map<unknown, unknown>).set(last.mapKey, collection);
    else (container as Record<string | number, unknown>)[last] = collection;
    yield;
  }
  return skeleton.document;
}

function step(container: unknown, at: PathStep): unknown {
  if (typeof at === 'object') return (container as Map<unknown, unknown>).get(at.mapKey);
  return (container as Record<string | number, unknown>)[at];
}

/** The encoding as steps (a generator): the skeleton, then each part, serialised one per step. */
export function* encodeDocumentSteps(document: unknown, maxItems: number): Generator<void, Buffer, void> {
  const { skeleton, parts } = cutDocument(document, maxItems);
  yield;
  const hash = createHash('sha256');
  const chunks: Buffer[] = [];
  const add = (bytes: Buffer): void => {
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(bytes.length));
    hash.update(length).update(bytes);
    chunks.push(length, bytes);
  };
  add(serialize(skeleton));
  for (const part of parts) {
    yield;
    add(serialize(part));
  }
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(FORMAT_VERSION, 8);
  header.writeUInt32LE(parts.length + 1, 12);
  hash.digest().copy(header, 16);
  yield;
  // Copied into one buffer a few parts at a time: Buffer.concat of a run's 13.7 MB was one block of the loop.
  const out = Buffer.allocUnsafe(chunks.reduce((n, c) => n + c.length, HEADER_BYTES));
  let at = header.copy(out, 0);
  let copied = 0;
  for (const chunk of chunks) {
    at += chunk.copy(out, at);
    copied += chunk.length;
    if (copied >= CONCAT_BYTES_PER_STEP) {
      copied = 0;
      yield;
    }
  }
  return out;
}

/** Bytes of the encoding's final copy per step: about a millisecond. */
const CONCAT_BYTES_PER_STEP = 1 << 20;

/**
 * The decoding as steps: every part's checksum first (nothing is deserialised from a torn or corrupted
 * record), then the skeleton and each part, one per step. Throws SnapshotFileError naming what is wrong.
 */
export function* decodeDocumentSteps(bytes: Uint8Array): Generator<void, unknown, void> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length >= MAGIC.length && !buf.subarray(0, MAGIC.length).equals(MAGIC)) return decodeSnapshotFile(buf);
  if (buf.length < HEADER_BYTES) throw new SnapshotFileError('not a document in parts (too short)');
  const version = buf.readUInt32LE(8);
  if (version !== FORMAT_VERSION) throw new SnapshotFileError(`document format version ${version}, this build reads version ${FORMAT_VERSION}`);
  const count = buf.readUInt32LE(12);
  const hash = createHash('sha256');
  const payloads: Buffer[] = [];
  let at = HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    if (at + 8 > buf.length) throw new SnapshotFileError(`truncated: part ${i} of ${count} is missing`);
    const length = Number(buf.readBigUInt64LE(at));
    if (at + 8 + length > buf.length) throw new SnapshotFileError(`truncated: part ${i} of ${count} is cut short`);
    hash.update(buf.subarray(at, at + 8 + length));
    payloads.push(buf.subarray(at + 8, at + 8 + length));
    at += 8 + length;
    yield;
  }
  if (at !== buf.length) throw new SnapshotFileError(`padded: ${buf.length - at} bytes after the last part`);
  if (!hash.digest().equals(buf.subarray(16, 48))) throw new SnapshotFileError('checksum mismatch (corrupted record)');
  const decoded: unknown[] = [];
  for (const payload of payloads) {
    try {
      decoded.push(deserialize(payload));
    } catch (err) {
      throw new SnapshotFileError(`a part cannot be deserialised: ${(err as Error).message}`, { cause: err });
    }
    yield;
  }
  const [skeleton, ...parts] = decoded;
  return yield* joinDocumentSteps({ skeleton: skeleton as CutDocument['skeleton'], parts: parts as unknown[][] });
}

/** Longest a document's encoding or decoding holds the event loop at once (a single step may run over it). */
const DOCUMENT_SLICE_MS = 4;

/**
 * Elements of one part: about 0.2 ms of deserialisation on this machine, idle (a VM's attributes take about
 * 400 bytes, the run's heaviest element); steps are then run together up to DOCUMENT_SLICE_MS.
 */
export const DOCUMENT_ITEMS_PER_PART = 200;

export function encodeDocumentInSlices(document: unknown, maxItems = DOCUMENT_ITEMS_PER_PART): Promise<Buffer> {
  return inSlices(encodeDocumentSteps(document, maxItems), DOCUMENT_SLICE_MS);
}

export function decodeDocumentInSlices(bytes: Uint8Array): Promise<unknown> {
  return inSlices(decodeDocumentSteps(bytes), DOCUMENT_SLICE_MS);
}
