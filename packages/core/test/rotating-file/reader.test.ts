// Reader behaviour: virtlogd's read cases, positions across rotations, gaps, binary safety.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { RotatingFileReader, RotatingFileWriter, START } from '../../src/rotating-file/index.js';
import type { Position } from '../../src/rotating-file/index.js';
import { initFile, inodeOf, patternBytes, tempDir } from './helpers.js';

function threeFiles(base: string): void {
  initFile(`${base}.1`, 256, 0x31);
  initFile(`${base}.0`, 256, 0x30);
  initFile(base, 256, 0x42);
}

test('read one: a lone base is read whole', (t) => {
  const base = path.join(tempDir(t), 'log');
  initFile(base, 256, 0x42);
  const r = new RotatingFileReader(base, { maxBackups: 2 });
  const got = r.read(START, 512);
  t.deepEqual(got.data, Buffer.alloc(256, 0x42));
  t.deepEqual(got.next, { inode: inodeOf(base), offset: 256 });
  t.is(got.gap, 0);
});

test('read all: backups oldest first, then the base', (t) => {
  const base = path.join(tempDir(t), 'log');
  threeFiles(base);
  const r = new RotatingFileReader(base, { maxBackups: 2 });
  const got = r.consume(768);
  t.deepEqual(got.data, Buffer.concat([0x31, 0x30, 0x42].map((b) => Buffer.alloc(256, b))));
  t.deepEqual(r.position, { inode: inodeOf(base), offset: 768 }, 'offsets count the whole stream');
  t.is(r.consume(100).data.length, 0, 'nothing more until the writer writes');
});

test('read partial: maxLen stops mid-file and the next read goes on from there', (t) => {
  const base = path.join(tempDir(t), 'log');
  threeFiles(base);
  const r = new RotatingFileReader(base, { maxBackups: 2 });
  const first = r.read(START, 600);
  t.deepEqual(first.data, Buffer.concat([Buffer.alloc(256, 0x31), Buffer.alloc(256, 0x30), Buffer.alloc(88, 0x42)]));
  t.deepEqual(first.next, { inode: inodeOf(base), offset: 600 });
  const rest = r.read(first.next, 600);
  t.deepEqual(rest.data, Buffer.alloc(168, 0x42));
});

test('seek by inode: reading starts inside the file that holds the inode', (t) => {
  const base = path.join(tempDir(t), 'log');
  threeFiles(base);
  const r = new RotatingFileReader(base, { maxBackups: 2 });
  t.deepEqual(r.seekInode(inodeOf(`${base}.0`), 100), { inode: inodeOf(`${base}.0`), offset: 356 });
  const got = r.consume(600);
  t.deepEqual(got.data, Buffer.concat([Buffer.alloc(156, 0x30), Buffer.alloc(256, 0x42)]));
  t.is(got.gap, 0);
});

test('a position survives any number of rotations: the inode is found wherever it moved', (t) => {
  const base = path.join(tempDir(t), 'log');
  const w = RotatingFileWriter.open(base, { maxSize: 100, maxBackups: 5 });
  w.write(Buffer.from('0123456789'));
  const pos = w.position;
  const later = Buffer.from('x'.repeat(90) + 'y'.repeat(300));
  w.write(later);
  t.true(w.stats.rotations >= 3);
  const r = new RotatingFileReader(base, { maxBackups: 5 });
  const got = r.read(pos, 1000);
  t.deepEqual(got.data, later);
  t.is(got.gap, 0);
  t.deepEqual(got.next, w.position);
  w.close();
});

test('rotated-away bytes are reported as an exact gap and reading resumes at the oldest file', (t) => {
  const base = path.join(tempDir(t), 'log');
  const w = RotatingFileWriter.open(base, { maxSize: 100, maxBackups: 1 });
  w.write(Buffer.alloc(30, 0x61));
  const pos = w.position;
  w.write(Buffer.alloc(70, 0x62));
  w.write(Buffer.alloc(100, 0x63));
  w.write(Buffer.alloc(100, 0x64));
  w.write(Buffer.alloc(40, 0x65));
  const r = new RotatingFileReader(base, { maxBackups: 1 });
  const got = r.read(pos, 1000);
  t.is(got.gap, 70 + 100, 'the rest of the first file and the whole second one');
  t.deepEqual(got.data, Buffer.concat([Buffer.alloc(100, 0x64), Buffer.alloc(40, 0x65)]));
  w.close();

  const again = RotatingFileWriter.open(base, { maxSize: 100, maxBackups: 1 });
  t.is(new RotatingFileReader(base, { maxBackups: 1 }).read(pos, 1000).gap, 170, 'the index survives a reopen');
  again.close();
});

test('a reused inode number never sends an old position into newer data', (t) => {
  const base = path.join(tempDir(t), 'log');
  const w = RotatingFileWriter.open(base, { maxSize: 10, maxBackups: 1 });
  const r = new RotatingFileReader(base, { maxBackups: 1 });
  const positions: Position[] = [];
  for (let i = 0; i < 200; i++) {
    positions.push(w.position);
    w.write(Buffer.alloc(10, 0x61 + (i % 26)));
  }
  const live = new Set([inodeOf(base), inodeOf(`${base}.0`)]);
  const reused = positions.filter((p, i) => live.has(p.inode) && i < 198);
  t.log(`${reused.length} old positions name an inode that a live file has now`);
  for (const p of positions.slice(0, 198)) {
    const got = r.read(p, 100);
    t.is(got.gap, 1980 - p.offset);
    t.deepEqual(got.data, Buffer.concat([Buffer.alloc(10, 0x61 + (198 % 26)), Buffer.alloc(10, 0x61 + (199 % 26))]));
  }
  w.close();
});

test('with no backups the gap is what the replaced base held after the position', (t) => {
  const base = path.join(tempDir(t), 'log');
  const w = RotatingFileWriter.open(base, { maxSize: 50, maxBackups: 0 });
  w.write(Buffer.alloc(20, 0x61));
  const pos = w.position;
  w.write(Buffer.alloc(40, 0x62));
  const got = new RotatingFileReader(base, { maxBackups: 0 }).read(pos, 100);
  t.is(got.gap, 30);
  t.deepEqual(got.data, Buffer.alloc(10, 0x62));
  w.close();
});

test('an inode the chain never knew is a gap of unknown size (-1), not silence', (t) => {
  const base = path.join(tempDir(t), 'log');
  const w = RotatingFileWriter.open(base, { maxSize: 100, maxBackups: 1 });
  w.write(Buffer.from('hello\n'));
  const got = new RotatingFileReader(base, { maxBackups: 1 }).read({ inode: 123456789012n, offset: 5 }, 100);
  t.is(got.gap, -1);
  t.deepEqual(got.data, Buffer.from('hello\n'));
  w.close();
});

test('reads are binary-safe: NUL and every other byte value come back unchanged', (t) => {
  const base = path.join(tempDir(t), 'log');
  const w = RotatingFileWriter.open(base, { maxSize: 700, maxBackups: 10 });
  const all = Buffer.alloc(256 * 8);
  for (let i = 0; i < all.length; i++) all[i] = i & 0xff;
  const data = Buffer.concat([Buffer.alloc(300, 0), all, patternBytes(1500)]);
  t.is(w.write(data), data.length);
  const got = new RotatingFileReader(base, { maxBackups: 10 }).read(START, data.length + 10);
  t.deepEqual(got.data, data);
  w.close();
});

test('a reader following a live writer across many rotations misses nothing', (t) => {
  const base = path.join(tempDir(t), 'log');
  const w = RotatingFileWriter.open(base, { maxSize: 64, maxBackups: 2 });
  const r = new RotatingFileReader(base, { maxBackups: 2 });
  const sent: Buffer[] = [];
  const seen: Buffer[] = [];
  for (let i = 0; i < 200; i++) {
    const chunk = patternBytes(1 + (i % 50), i + 1);
    sent.push(chunk);
    w.write(chunk);
    // Small reads in a loop: partial reads that continue across rotations.
    for (;;) {
      const got = r.consume(7 + (i % 40));
      t.is(got.gap, 0);
      if (got.data.length === 0) break;
      seen.push(got.data);
    }
  }
  for (;;) {
    const got = r.consume(1000);
    t.is(got.gap, 0);
    if (got.data.length === 0) break;
    seen.push(got.data);
  }
  t.deepEqual(Buffer.concat(seen), Buffer.concat(sent));
  t.deepEqual(r.position, w.position);
  t.deepEqual(r.end(), w.position);
  w.close();
});

test('bad positions and lengths are rejected with coded errors', (t) => {
  const base = path.join(tempDir(t), 'log');
  initFile(base, 10, 0x41);
  const r = new RotatingFileReader(base);
  t.throws(() => r.read({ inode: inodeOf(base), offset: 11 }, 10), { code: 'LW_ERR_ROTATING_FILE_BAD_POSITION' });
  t.throws(() => r.read({ inode: -1n, offset: 0 }, 10), { code: 'LW_ERR_ROTATING_FILE_INVALID_ARGUMENT' });
  t.throws(() => r.read({ inode: 1n, offset: 0.5 }, 10), { code: 'LW_ERR_ROTATING_FILE_INVALID_ARGUMENT' });
  t.throws(() => r.read({ inode: 1 as unknown as bigint, offset: 0 }, 10), {
    code: 'LW_ERR_ROTATING_FILE_INVALID_ARGUMENT',
  });
  t.throws(() => r.read(START, -1), { code: 'LW_ERR_ROTATING_FILE_INVALID_ARGUMENT' });
  t.throws(() => r.seekInode(1n, -3), { code: 'LW_ERR_ROTATING_FILE_INVALID_ARGUMENT' });
  t.throws(() => r.seekInode(inodeOf(base) + 1n, 0), { code: 'LW_ERR_ROTATING_FILE_BAD_POSITION' });
  t.throws(() => r.seekInode(inodeOf(base), 11), { code: 'LW_ERR_ROTATING_FILE_BAD_POSITION' });
  t.throws(() => { r.seek({ inode: 1n } as unknown as Position); }, { code: 'LW_ERR_ROTATING_FILE_INVALID_ARGUMENT' });
});

test('a chain with no files reads as empty at START', (t) => {
  const dir = tempDir(t);
  const r = new RotatingFileReader(path.join(dir, 'log'));
  t.deepEqual(r.read(START, 10), { data: Buffer.alloc(0), next: START, gap: 0 });
  t.deepEqual(r.end(), START);
  t.deepEqual(fs.readdirSync(dir), [], 'the reader creates nothing');
});
