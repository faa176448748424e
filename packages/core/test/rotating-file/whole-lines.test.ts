// The writer's wholeLines option (JSON-lines logs): a line that does not fit starts the next file.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { RotatingFileWriter } from '../../src/rotating-file/index.js';
import { chainSizes, tempDir } from './helpers.js';

const line = (c: string, n: number): Buffer => Buffer.from(`${c.repeat(n - 1)}\n`);

test('wholeLines: a line that does not fit what is left moves whole to the next file', (t) => {
  const base = path.join(tempDir(t), 'log');
  const w = RotatingFileWriter.open(base, { maxSize: 100, maxBackups: 2, wholeLines: true });
  t.is(w.write(line('a', 60)), 60);
  t.is(w.write(line('b', 60)), 60);
  t.deepEqual(chainSizes(base, 2), [60, 60, undefined]);
  t.deepEqual(fs.readFileSync(`${base}.0`), line('a', 60));
  t.deepEqual(fs.readFileSync(base), line('b', 60));
  w.close();
});

test('without wholeLines the same line is cut at the limit (virtlogd behaviour)', (t) => {
  const base = path.join(tempDir(t), 'log');
  const w = RotatingFileWriter.open(base, { maxSize: 100, maxBackups: 2 });
  w.write(line('a', 60));
  w.write(line('b', 60));
  t.deepEqual(chainSizes(base, 2), [20, 100, undefined]);
  w.close();
});

test('wholeLines: a line longer than maxSize is still cut (it fits no file)', (t) => {
  const base = path.join(tempDir(t), 'log');
  const w = RotatingFileWriter.open(base, { maxSize: 100, maxBackups: 3, wholeLines: true });
  w.write(line('a', 10));
  t.is(w.write(line('b', 250)), 250);
  t.deepEqual(chainSizes(base, 3), [50, 100, 100, 10]);
  w.close();
});
