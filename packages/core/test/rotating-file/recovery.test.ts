// Crash safety: every on-disk state a kill between two rotation steps can leave, rebuilt step by
// step, then reopened: nothing written may be lost (beyond the oldest file the rotation meant to
// drop) or repeated, and old positions must still resolve.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { chainLayout, readIndex } from '../../src/rotating-file/chain.js';
import { RotatingFileReader, RotatingFileWriter, START } from '../../src/rotating-file/index.js';
import type { Position } from '../../src/rotating-file/index.js';
import { chainContent, inodeOf, listDir, tempDir } from './helpers.js';

/** 'bd' -> ten b then ten d: the content of the files named by their letters. */
function spread10(letters: string): string {
  return letters.replace(/./g, (c) => c.repeat(10));
}

interface Built {
  base: string;
  dir: string;
  /** Position of the first byte of each file written: a, b, c, d. */
  firsts: Position[];
}

/** A full chain written by a real writer: files of 10 x 'a', 'b', 'c', 'd' (d is the base). */
function buildChain(dir: string, maxBackups: number, first: 0 | 1): Built {
  const base = path.join(dir, 'log');
  const w = RotatingFileWriter.open(base, { maxSize: 10, maxBackups, firstBackupIndex: first });
  const firsts: Position[] = [];
  for (const ch of 'abcd') {
    w.write(Buffer.from(ch));
    firsts.push({ inode: w.position.inode, offset: w.position.offset - 1 });
    w.write(Buffer.from(ch.repeat(9)));
  }
  w.close();
  return { base, dir, firsts };
}

/** The rotation's steps, as the writer takes them, for a chain named like buildChain's. */
function rotationSteps(b: Built, maxBackups: number, first: 0 | 1): (() => void)[] {
  const slot = (i: number): string => `${b.base}.${i + first}`;
  const newBase = path.join(b.dir, '.log.new');
  const steps: (() => void)[] = [
    () => {
      fs.writeFileSync(newBase, '', { mode: 0o600 });
      const start = 40;
      fs.appendFileSync(path.join(b.dir, '.log.chain'), `${inodeOf(newBase)} ${start}\n`);
    },
    // The file the rotation drops goes first, so that no rename replaces a file.
    () => {
      fs.unlinkSync(maxBackups > 0 ? slot(maxBackups - 1) : b.base);
    },
  ];
  for (let i = maxBackups - 1; i > 0; i--) {
    steps.push(() => {
      fs.renameSync(slot(i - 1), slot(i));
    });
  }
  if (maxBackups > 0) {
    steps.push(() => {
      fs.renameSync(b.base, slot(0));
    });
  }
  steps.push(() => {
    fs.renameSync(newBase, b.base);
  });
  return steps;
}

for (const [maxBackups, first] of [
  [3, 0],
  [3, 1],
  [1, 0],
  [0, 0],
] as const) {
  const steps = maxBackups === 0 ? 3 : maxBackups + 3;
  for (let k = 0; k <= steps; k++) {
    test(`killed after ${k} of ${steps} rotation steps (maxBackups ${maxBackups}, first backup .${first}): reopen recovers`, (t) => {
      const dir = tempDir(t);
      const b = buildChain(dir, maxBackups, first);
      for (const step of rotationSteps(b, maxBackups, first).slice(0, k)) step();

      const w = RotatingFileWriter.open(b.base, { maxSize: 10, maxBackups, firstBackupIndex: first });
      const names = ['.log.chain', 'log', ...Array.from({ length: maxBackups }, (_, i) => `log.${i + first}`)];
      const afterOpen = listDir(dir);
      t.false(afterOpen.includes('.log.new'), 'the prepared base is installed or removed');
      t.false(afterOpen.includes('.log.chain.tmp'));
      t.true(afterOpen.every((n) => names.includes(n)), afterOpen.join(' '));
      // Backups fill the slots from the newest without a hole.
      const present = names.slice(2).map((n) => afterOpen.includes(n));
      t.deepEqual(present, [...present].sort((x, y) => Number(y) - Number(x)));

      // The first unlink drops the oldest file: the rotation's intended loss, and the only one.
      const kept = 'abcd'.slice(4 - Math.min(4, k >= 2 ? maxBackups : maxBackups + 1));
      t.is(chainContent(b.base, maxBackups, first).toString('latin1'), spread10(kept));

      w.write(Buffer.from('eeeee'));
      t.deepEqual(w.position.offset, 45, 'the stream goes on where it was');
      w.close();
      const keptAfter = 'abcd'.slice(4 - Math.min(4, maxBackups));
      const expected = spread10(keptAfter) + 'eeeee';
      t.is(chainContent(b.base, maxBackups, first).toString('latin1'), expected);
      t.deepEqual(listDir(dir), names.slice(0, 2 + maxBackups));

      const r = new RotatingFileReader(b.base, { maxBackups, firstBackupIndex: first });
      t.is(r.read(START, 100).data.toString('latin1'), expected);
      b.firsts.forEach((pos, i) => {
        const got = r.read(pos, 100);
        const lostFiles = Math.max(0, i < 4 - keptAfter.length ? 4 - keptAfter.length - i : 0);
        t.is(got.gap, lostFiles * 10, `gap behind the position of file ${'abcd'[i] ?? '?'}`);
        t.is(got.data.toString('latin1'), expected.slice(Math.max(0, i - (4 - keptAfter.length)) * 10));
      });
    });
  }
}

test('a base deleted by hand is recreated; positions into it read as a gap', (t) => {
  const dir = tempDir(t);
  const b = buildChain(dir, 3, 0);
  fs.unlinkSync(b.base);
  const w = RotatingFileWriter.open(b.base, { maxSize: 10, maxBackups: 3 });
  t.is(fs.statSync(b.base).size, 0);
  w.write(Buffer.from('e'));
  w.close();
  const r = new RotatingFileReader(b.base, { maxBackups: 3 });
  t.is(r.read(START, 100).data.toString('latin1'), 'a'.repeat(10) + 'b'.repeat(10) + 'c'.repeat(10) + 'e');
  const fromD = r.read(b.firsts[3] as Position, 100);
  t.deepEqual([fromD.gap, fromD.data.toString('latin1')], [10, 'e']);
});

test('a hard-linked duplicate keeps only its newest name', (t) => {
  const dir = tempDir(t);
  const base = path.join(dir, 'log');
  fs.writeFileSync(`${base}.1`, 'old\n');
  fs.writeFileSync(base, 'new\n');
  fs.linkSync(base, `${base}.0`);
  const w = RotatingFileWriter.open(base, { maxSize: 100, maxBackups: 3 });
  w.close();
  t.deepEqual(listDir(dir), ['.log.chain', 'log', 'log.0']);
  t.is(chainContent(base, 3).toString('latin1'), 'old\nnew\n');
});

test('killed between exchanging the index with its rewrite and removing the old one: the old one is removed', (t) => {
  const dir = tempDir(t);
  const b = buildChain(dir, 3, 0);
  const index = path.join(dir, '.log.chain');
  // What the temp name holds right after the exchange: the previous index, here made misleading.
  fs.writeFileSync(path.join(dir, '.log.chain.tmp'), `${inodeOf(b.base)} 999\n${inodeOf(`${b.base}.2`)} 500\n`);
  const w = RotatingFileWriter.open(b.base, { maxSize: 10, maxBackups: 3 });
  t.deepEqual(w.position, { inode: inodeOf(b.base), offset: 40 });
  w.close();
  t.false(fs.existsSync(path.join(dir, '.log.chain.tmp')));
  t.is(fs.readFileSync(index, 'latin1').trim().split('\n').length, 4, 'one record per live file');
  const r = new RotatingFileReader(b.base, { maxBackups: 3 });
  t.deepEqual(r.read(b.firsts[1] as Position, 100).data.toString('latin1'), spread10('bcd'));
});

test('a torn last index line (no newline) is not read: its number may be cut short', (t) => {
  const dir = tempDir(t);
  const layout = chainLayout(path.join(dir, 'log'));
  fs.writeFileSync(layout.index, '11 100\n12 200\n11 1');
  t.deepEqual([...readIndex(layout)], [
    [11n, 100],
    [12n, 200],
  ]);
});

test('a stray index temp file is removed and the index rebuilt from the files', (t) => {
  const dir = tempDir(t);
  const b = buildChain(dir, 3, 0);
  fs.writeFileSync(path.join(dir, '.log.chain.tmp'), 'torn');
  fs.appendFileSync(path.join(dir, '.log.chain'), '12345 9');
  const w = RotatingFileWriter.open(b.base, { maxSize: 10, maxBackups: 3 });
  t.deepEqual(w.position, { inode: inodeOf(b.base), offset: 40 });
  w.close();
  t.false(fs.existsSync(path.join(dir, '.log.chain.tmp')));
  t.is(new RotatingFileReader(b.base, { maxBackups: 3 }).read(b.firsts[1] as Position, 100).data.length, 30);
});

test('backups beyond a lowered maxBackups are removed, oldest first', (t) => {
  const dir = tempDir(t);
  const base = path.join(dir, 'log');
  for (let i = 0; i < 5; i++) fs.writeFileSync(`${base}.${i}`, `backup ${i}\n`);
  fs.writeFileSync(base, 'current\n');
  RotatingFileWriter.open(base, { maxBackups: 2 }).close();
  t.deepEqual(listDir(dir), ['.log.chain', 'log', 'log.0', 'log.1']);
  t.is(chainContent(base, 2).toString('latin1'), 'backup 1\nbackup 0\ncurrent\n');
});

test('truncate mode goes on counting: old positions read as a gap, never as new data', (t) => {
  const dir = tempDir(t);
  const b = buildChain(dir, 3, 0);
  const w = RotatingFileWriter.open(b.base, { maxSize: 10, maxBackups: 3, truncate: true });
  t.deepEqual(listDir(dir), ['.log.chain', 'log']);
  w.write(Buffer.from('fresh'));
  t.is(w.position.offset, 45);
  w.close();
  for (const pos of b.firsts) {
    const got = new RotatingFileReader(b.base, { maxBackups: 3 }).read(pos, 100);
    t.is(got.gap, 40 - pos.offset);
    t.is(got.data.toString('latin1'), 'fresh');
  }
});
