// Small helpers shared by the journal unit tests.
import { JournalError, type JournalField } from '../../src/journal/index.js';

/** The `code` of what fn throws; undefined if it returns. Rethrows anything that is not a JournalError. */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof JournalError) return err.code;
    throw err;
  }
  return undefined;
}

/** Comparable form of a field list: [name, hex of value]. */
export function show(fields: readonly JournalField[]): [string, string][] {
  return fields.map((f) => [f.name, f.value.toString('hex')]);
}

export function le64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

/** Splits a buffer at the given cut points (sorted, deduplicated, clamped). */
export function cutAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => Math.max(0, Math.min(buf.length, c))))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let last = 0;
  for (const c of points) {
    out.push(buf.subarray(last, c));
    last = c;
  }
  out.push(buf.subarray(last));
  return out;
}
