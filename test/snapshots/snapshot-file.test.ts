import { describe, expect, it } from 'vitest';
import { runToEnd } from '../../src/core/slices.ts';
import { decodeSnapshotFile, encodeSnapshotFile, encodeSnapshotFileInSlices, encodeSnapshotFileSteps, HASH_BYTES_PER_STEP } from '../../src/snapshots/snapshot-file.ts';

describe('a snapshot file encoded while the process serves reads', () => {
  it('hashes its payload in parts of HASH_BYTES_PER_STEP, one per step, and gives the bytes of the encoding at once', async () => {
    // A partition's checkpoint: its windows are bytes already (2.5 MB here, 5 MB at 2k VMs).
    const fleet = new Uint8Array(5 * HASH_BYTES_PER_STEP - 1000);
    for (let i = 0; i < fleet.length; i++) fleet[i] = (i * 31) % 251;
    const checkpoint = { partition: 3, offset: '1234', fleet };
    const whole = encodeSnapshotFile(checkpoint);
    const steps = encodeSnapshotFileSteps(checkpoint, 3);
    let count = 0;
    let r = steps.next();
    for (; r.done !== true; r = steps.next()) count++;
    // The serialisation, then five parts of the checksum (the payload is a little more than the fleet's bytes).
    expect(count).toBe(1 + 5);
    expect(r.value.equals(whole)).toBe(true);
    expect((await encodeSnapshotFileInSlices(checkpoint)).equals(whole)).toBe(true);
    const decoded = decodeSnapshotFile(whole) as typeof checkpoint;
    expect(decoded.offset).toBe('1234');
    expect(Buffer.from(decoded.fleet).equals(Buffer.from(fleet))).toBe(true);
    expect(runToEnd(encodeSnapshotFileSteps({}, 3)).equals(encodeSnapshotFile({}))).toBe(true);
    expect(HASH_BYTES_PER_STEP).toBeLessThanOrEqual(512 * 1024);
  });
});
