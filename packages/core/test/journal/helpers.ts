// Small helpers shared by the journal unit tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventEmitter } from 'node:events';
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


/** A fresh temp dir and its cleanup. */
export function tempDir(): { dir: string; path: (name: string) => string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'lw-journal-'));
  return { dir, path: (name) => join(dir, name), cleanup: () => { rmSync(dir, { recursive: true, force: true }); } };
}

/** The next n events of a kind, or a rejection after a generous timeout. */
export function nextEvents<T>(em: EventEmitter, event: string, n: number, timeoutMs = 30_000): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const got: T[] = [];
    const timer = setTimeout(() => {
      em.off(event, on);
      reject(new Error(`timed out waiting for ${n} '${event}' events (got ${got.length})`));
    }, timeoutMs);
    const on = (v: T): void => {
      got.push(v);
      if (got.length === n) {
        clearTimeout(timer);
        em.off(event, on);
        resolve(got);
      }
    };
    em.on(event, on);
  });
}
