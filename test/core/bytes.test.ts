import { describe, expect, it } from 'vitest';
import { ByteReader, ByteWriter } from '../../src/core/bytes.ts';
import { Random } from '../../src/core/random.ts';

describe('ByteWriter and ByteReader', () => {
  it('write fixed widths little-endian and varints 7 bits a byte, low first', () => {
    const w = new ByteWriter(1);
    w.u8(0xab);
    w.u16(0x1234);
    w.u32(0xdeadbeef);
    w.varint(300);
    w.varint(2 ** 53 - 1);
    w.f64(-0.5);
    expect([...w.written().subarray(0, 10)]).toEqual([0xab, 0x34, 0x12, 0xef, 0xbe, 0xad, 0xde, 0xac, 0x02, 0xff]);
    const r = new ByteReader(w.written());
    expect([r.u8(), r.u16(), r.u32(), r.varint(), r.varint(), r.f64()]).toEqual([0xab, 0x1234, 0xdeadbeef, 300, 2 ** 53 - 1, -0.5]);
    expect(r.end).toBe(true);
  });

  it('read back every varint width exactly: the bit-operator bytes (up to 28 bits) and the multiplied ones above', () => {
    const edges = [0, 1, 0x7f, 0x80, 0x3fff, 0x4000, 2 ** 21 - 1, 2 ** 21, 2 ** 28 - 1, 2 ** 28, 2 ** 31, 2 ** 32 + 5, 2 ** 35, 1_793_491_200_123, 2 ** 49 + 3, 2 ** 53 - 1];
    const random = new Random(20261205);
    // Every width from 1 to 53 bits, each with a random value of that many bits.
    const spread = Array.from({ length: 53 }, (_, i) => Math.floor(2 ** i + random.next() * 2 ** i));
    const values = [...edges, ...spread];
    const w = new ByteWriter(1);
    for (const v of values) w.varint(v);
    const r = new ByteReader(w.written());
    expect(values.map(() => r.varint())).toEqual(values);
    expect(r.end).toBe(true);
    // Four bytes are 28 bits: the fifth byte of 2^28 starts the multiplied part.
    const at28 = new ByteWriter();
    at28.varint(2 ** 28);
    expect([...at28.written()]).toEqual([0x80, 0x80, 0x80, 0x80, 0x01]);
    expect(() => new ByteReader(Uint8Array.of(0x80, 0x80, 0x80, 0x80)).varint('a count')).toThrow('a count runs past the end');
    expect(() => new ByteReader(Uint8Array.of(0xff, 0x80)).varint()).toThrow(RangeError);
  });

  it('reads back text of any kind behind a varint length, and u32-length UTF-8', () => {
    const texts = ['', 'vm-00000001-0000-4000-8000-000000000000', '10.0.0.1', 'été ✓ 𝄞', 'x'.repeat(200), `${'a'.repeat(70)}é`];
    const w = new ByteWriter(4);
    for (const t of texts) w.text(t);
    for (const t of texts) w.utf8(t);
    const r = new ByteReader(w.written());
    expect(texts.map(() => r.text())).toEqual(texts);
    expect(
      texts.map(() => {
        const n = r.u32();
        return new TextDecoder().decode(r.bytes(n));
      }),
    ).toEqual(texts);
    expect(r.left).toBe(0);
    // The short ASCII form is one length byte and the characters.
    const one = new ByteWriter();
    one.text('ab');
    expect([...one.written()]).toEqual([2, 0x61, 0x62]);
  });

  it('throws the error its format asks for on a read past the end, and checks counts before allocating', () => {
    class Truncated extends Error {}
    const r = new ByteReader(Uint8Array.of(5, 0, 0, 0, 1, 2), (m) => new Truncated(m));
    expect(() => r.count(2, 'things')).toThrow(new Truncated('5 things cannot fit in the 2 bytes left'));
    expect(() => r.f64('a time')).toThrow(new Truncated('a time needs 8 bytes at offset 4, 2 left'));
    expect(() => new ByteReader(Uint8Array.of(0x80)).varint()).toThrow(RangeError);
    expect(() => new ByteReader(Uint8Array.of(3, 0x61)).text()).toThrow(RangeError);
    expect(() => new ByteReader(new Uint8Array(9).fill(0xff)).varint()).toThrow('a varint is too long');
  });
});
