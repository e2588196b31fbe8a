/**
 * Lookup of VMs by id on the hot path (two per flow record). Ids arrive as fresh strings from JSON.parse,
 * and an open-addressing table with its own string hash measured about 100 ns faster per lookup than a
 * Map at 12k VMs. The fleet keeps its Map for everything else; both are updated together.
 */
import type { VmEntry } from './vm-entry.ts';

const TOMBSTONE = '\u0000';
const INITIAL_SIZE = 1024;

function hashOf(s: string): number {
  let h = s.length | 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h ^= h >>> 15;
  return Math.imul(h, 0x9e3779b1) ^ (h >>> 13);
}

export class VmIndex {
  private keys: (string | null)[] = new Array<string | null>(INITIAL_SIZE).fill(null);
  private values: (VmEntry | null)[] = new Array<VmEntry | null>(INITIAL_SIZE).fill(null);
  /** Slots not null: live keys plus tombstones. */
  private used = 0;
  private live = 0;

  get(id: string): VmEntry | undefined {
    const keys = this.keys;
    const mask = keys.length - 1;
    let i = hashOf(id) & mask;
    for (;;) {
      const k = keys[i];
      if (k === null) return undefined;
      if (k === id) return this.values[i] ?? undefined;
      i = (i + 1) & mask;
    }
  }

  set(id: string, entry: VmEntry): void {
    const keys = this.keys;
    const mask = keys.length - 1;
    let i = hashOf(id) & mask;
    let free = -1;
    for (;;) {
      const k = keys[i];
      if (k === null) break;
      if (k === id) {
        this.values[i] = entry;
        return;
      }
      if (k === TOMBSTONE && free < 0) free = i;
      i = (i + 1) & mask;
    }
    if (free >= 0) i = free;
    else this.used++;
    keys[i] = id;
    this.values[i] = entry;
    this.live++;
    // Sized by the live keys, not the slots used: with VMs coming and going, tombstones would otherwise
    // double the table at every rebuild.
    if (this.used * 2 > keys.length) this.rebuild(Math.max(INITIAL_SIZE, 2 ** Math.ceil(Math.log2(this.live * 4))));
  }

  delete(id: string): void {
    const keys = this.keys;
    const mask = keys.length - 1;
    let i = hashOf(id) & mask;
    for (;;) {
      const k = keys[i];
      if (k === null) return;
      if (k === id) {
        keys[i] = TOMBSTONE;
        this.values[i] = null;
        this.live--;
        return;
      }
      i = (i + 1) & mask;
    }
  }

  private rebuild(size: number): void {
    const oldKeys = this.keys;
    const oldValues = this.values;
    this.keys = new Array<string | null>(size).fill(null);
    this.values = new Array<VmEntry | null>(size).fill(null);
    this.used = 0;
    this.live = 0;
    for (let j = 0; j < oldKeys.length; j++) {
      const k = oldKeys[j];
      const v = oldValues[j];
      if (k != null && k !== TOMBSTONE && v) this.set(k, v);
    }
  }

  /** Slots of the table (for tests and memory figures). */
  get slots(): number {
    return this.keys.length;
  }

  /** Live keys. */
  get size(): number {
    return this.live;
  }
}
