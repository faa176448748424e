// Shared fixtures of the rotating-file tests: temp dirs, pattern files, chain inspection.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';

export function tempDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-rotating-'));
  t.teardown(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** A file of `size` copies of `byte`, like an earlier run left it. */
export function initFile(p: string, size: number, byte: number): void {
  fs.writeFileSync(p, Buffer.alloc(size, byte));
}

export function sizeOf(p: string): number | undefined {
  return fs.statSync(p, { throwIfNoEntry: false })?.size;
}

export function inodeOf(p: string): bigint {
  return fs.statSync(p, { bigint: true }).ino;
}

/** Sizes of base, then backups newest first (undefined = absent), up to `slots` backups. */
export function chainSizes(base: string, slots: number, first = 0): (number | undefined)[] {
  const out = [sizeOf(base)];
  for (let i = 0; i < slots; i++) out.push(sizeOf(`${base}.${i + first}`));
  return out;
}

/** The existing files of a chain, oldest first, concatenated. */
export function chainContent(base: string, slots: number, first = 0): Buffer {
  const parts: Buffer[] = [];
  for (let i = slots - 1; i >= 0; i--) {
    const p = `${base}.${i + first}`;
    if (fs.existsSync(p)) parts.push(fs.readFileSync(p));
  }
  if (fs.existsSync(base)) parts.push(fs.readFileSync(base));
  return Buffer.concat(parts);
}

/** Names in a directory, sorted, for asserting that no stray file is left. */
export function listDir(dir: string): string[] {
  return fs.readdirSync(dir).sort();
}

/** A deterministic byte pattern of any length: lines of varying length, NUL bytes included. */
export function patternBytes(len: number, seed = 1): Buffer {
  const buf = Buffer.allocUnsafe(len);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const r = x >>> 24;
    buf[i] = r < 20 ? 0x0a : r < 24 ? 0 : r;
  }
  return buf;
}

export const here = path.dirname(new URL(import.meta.url).pathname);

/**
 * A test that needs something this machine may lack (root, a tool). `missing` says what is missing,
 * or is undefined: outside CI the test is then skipped with the reason in its title; under CI=true a
 * missing capability fails it.
 */
export function testNeeding(title: string, missing: string | undefined, fn: (t: ExecutionContext) => void | Promise<void>): void {
  if (missing === undefined) {
    test(title, fn);
  } else if (process.env.CI === 'true') {
    test(title, (t) => {
      t.fail(`required under CI=true: ${missing}`);
    });
  } else {
    test.skip(`${title} (skipped: ${missing})`, fn);
  }
}
