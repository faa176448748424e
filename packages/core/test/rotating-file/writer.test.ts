// Writer behaviour, one test per rotation case (the cases of libvirt's rotating-file tests, plus ours).
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { RotatingFileWriter, RotatingFileError } from '../../src/rotating-file/index.js';
import { chainContent, chainSizes, initFile, inodeOf, listDir, tempDir } from './helpers.js';

const block = Buffer.alloc(512, 0x5e);

test('write new: creates an empty base and appends to it', (t) => {
  const base = path.join(tempDir(t), 'log');
  const w = RotatingFileWriter.open(base, { maxSize: 1024, maxBackups: 2 });
  t.deepEqual(chainSizes(base, 2), [0, undefined, undefined]);
  t.is(w.write(block), 512);
  t.deepEqual(chainSizes(base, 2), [512, undefined, undefined]);
  t.deepEqual(w.position, { inode: inodeOf(base), offset: 512 });
  w.close();
});

test('append: an existing base is continued, not replaced', (t) => {
  const base = path.join(tempDir(t), 'log');
  initFile(base, 512, 0x41);
  const w = RotatingFileWriter.open(base, { maxSize: 1024, maxBackups: 2 });
  t.deepEqual(chainSizes(base, 2), [512, undefined, undefined]);
  w.write(block);
  t.deepEqual(chainSizes(base, 2), [1024, undefined, undefined]);
  t.deepEqual(fs.readFileSync(base), Buffer.concat([Buffer.alloc(512, 0x41), block]));
  w.close();
});

test('truncate: removes the base and every backup at open', (t) => {
  const dir = tempDir(t);
  const base = path.join(dir, 'log');
  initFile(base, 512, 0x41);
  initFile(`${base}.0`, 100, 0x42);
  initFile(`${base}.1`, 100, 0x43);
  const w = RotatingFileWriter.open(base, { maxSize: 1024, maxBackups: 2, truncate: true });
  t.deepEqual(chainSizes(base, 2), [0, undefined, undefined]);
  w.write(block);
  t.deepEqual(chainSizes(base, 2), [512, undefined, undefined]);
  w.close();
  t.deepEqual(listDir(dir), ['.log.chain', 'log']);
});

test('rollover with no backups: the base is replaced, the rest of the write goes on', (t) => {
  const dir = tempDir(t);
  const base = path.join(dir, 'log');
  const w = RotatingFileWriter.open(base, { maxSize: 200, maxBackups: 0 });
  t.is(w.write(block), 512);
  t.deepEqual(chainSizes(base, 1), [112, undefined]);
  t.is(w.stats.rotations, 2);
  t.deepEqual(listDir(dir), ['.log.chain', 'log']);
  w.close();
});

test('rollover with one backup: the full base becomes the backup', (t) => {
  const base = path.join(tempDir(t), 'log');
  const w = RotatingFileWriter.open(base, { maxSize: 1024, maxBackups: 2 });
  w.write(block);
  w.write(block);
  t.deepEqual(chainSizes(base, 2), [1024, undefined, undefined], 'a full file rotates only when more comes');
  w.write(block);
  t.deepEqual(chainSizes(base, 2), [512, 1024, undefined]);
  w.close();
});

test('rollover in the middle of a write: the part that fits stays, the rest opens the next file', (t) => {
  const base = path.join(tempDir(t), 'log');
  initFile(base, 768, 0x41);
  const w = RotatingFileWriter.open(base, { maxSize: 1024, maxBackups: 2 });
  const data = Buffer.concat([Buffer.alloc(256, 0x61), Buffer.alloc(256, 0x62)]);
  t.is(w.write(data), 512);
  t.deepEqual(chainSizes(base, 2), [256, 1024, undefined]);
  t.deepEqual(fs.readFileSync(`${base}.0`), Buffer.concat([Buffer.alloc(768, 0x41), Buffer.alloc(256, 0x61)]));
  t.deepEqual(fs.readFileSync(base), Buffer.alloc(256, 0x62));
  w.close();
});

test('rollover many: only maxBackups backups are kept, the oldest go', (t) => {
  const dir = tempDir(t);
  const base = path.join(dir, 'log');
  const w = RotatingFileWriter.open(base, { maxSize: 1024, maxBackups: 2 });
  const written: Buffer[] = [];
  for (let i = 0; i < 7; i++) {
    const b = Buffer.alloc(512, 0x30 + i);
    written.push(b);
    w.write(b);
  }
  t.deepEqual(chainSizes(base, 3), [512, 1024, 1024, undefined]);
  t.deepEqual(chainContent(base, 2), Buffer.concat(written.slice(2)));
  t.deepEqual(listDir(dir), ['.log.chain', 'log', 'log.0', 'log.1']);
  w.close();
});

test('rollover prefers a line break: the cut is after the last newline that fits', (t) => {
  const base = path.join(tempDir(t), 'log');
  initFile(base, 100, 0x41);
  const w = RotatingFileWriter.open(base, { maxSize: 160, maxBackups: 2 });
  const first = 'guest: starting the serial console\n';
  const second = 'guest: kernel command line has forty-three bytes.\n';
  t.true(100 + first.length <= 160 && 100 + first.length + second.length > 160);
  t.is(w.write(Buffer.from(first + second)), first.length + second.length);
  t.deepEqual(chainSizes(base, 2), [second.length, 100 + first.length, undefined]);
  t.is(fs.readFileSync(base, 'latin1'), second);
  w.close();
});

test('rollover without a line break in the part that fits cuts at the limit', (t) => {
  const base = path.join(tempDir(t), 'log');
  initFile(base, 100, 0x41);
  const w = RotatingFileWriter.open(base, { maxSize: 160, maxBackups: 2 });
  w.write(Buffer.from(`${'x'.repeat(70)}\n${'y'.repeat(29)}`));
  t.deepEqual(chainSizes(base, 2), [40, 160, undefined]);
  w.close();
});

test('an existing file already over maxSize is rotated away untouched before writing', (t) => {
  const base = path.join(tempDir(t), 'log');
  initFile(base, 200, 0x41);
  const w = RotatingFileWriter.open(base, { maxSize: 160, maxBackups: 2 });
  t.deepEqual(chainSizes(base, 2), [200, undefined, undefined], 'nothing happens before the first write');
  const lines = Buffer.from('line one of the new run\nline two of the new run\n');
  w.write(lines);
  t.deepEqual(chainSizes(base, 2), [lines.length, 200, undefined]);
  t.deepEqual(fs.readFileSync(`${base}.0`), Buffer.alloc(200, 0x41));
  w.close();
});

test('firstBackupIndex 1 names backups logrotate style: base.1 is the newest', (t) => {
  const dir = tempDir(t);
  const base = path.join(dir, 'log');
  const w = RotatingFileWriter.open(base, { maxSize: 100, maxBackups: 2, firstBackupIndex: 1 });
  for (let i = 0; i < 4; i++) w.write(Buffer.alloc(100, 0x30 + i));
  t.deepEqual(listDir(dir), ['.log.chain', 'log', 'log.1', 'log.2']);
  t.deepEqual(fs.readFileSync(`${base}.1`), Buffer.alloc(100, 0x32));
  t.deepEqual(fs.readFileSync(`${base}.2`), Buffer.alloc(100, 0x31));
  t.deepEqual(chainContent(base, 2, 1), Buffer.concat([0x31, 0x32, 0x33].map((b) => Buffer.alloc(100, b))));
  w.close();
});

test('maxSize 0 never rotates', (t) => {
  const dir = tempDir(t);
  const base = path.join(dir, 'log');
  const w = RotatingFileWriter.open(base, { maxSize: 0, maxBackups: 2 });
  const chunk = Buffer.alloc(1024 * 1024, 0x61);
  for (let i = 0; i < 5; i++) w.write(chunk);
  t.is(fs.statSync(base).size, 5 * chunk.length);
  t.is(w.stats.rotations, 0);
  t.deepEqual(listDir(dir), ['.log.chain', 'log']);
  w.close();
});

test('a write larger than several files is spread over them, none over maxSize', (t) => {
  const base = path.join(tempDir(t), 'log');
  const w = RotatingFileWriter.open(base, { maxSize: 1000, maxBackups: 3 });
  const data = Buffer.alloc(3500, 0x7a);
  t.is(w.write(data), 3500);
  t.deepEqual(chainSizes(base, 3), [500, 1000, 1000, 1000]);
  t.deepEqual(w.stats.bytesWritten, 3500);
  w.close();
});

test('files are created 0600 (umask does not widen or narrow it) and opened O_APPEND|O_CLOEXEC', (t) => {
  const dir = tempDir(t);
  const base = path.join(dir, 'log');
  const w = RotatingFileWriter.open(base, { maxSize: 10, maxBackups: 1 });
  w.write(Buffer.alloc(25, 0x61));
  t.is(fs.statSync(base).mode & 0o7777, 0o600);
  t.is(fs.statSync(`${base}.0`).mode & 0o7777, 0o600);
  const flags: number[] = [];
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue;
    }
    if (target !== base) continue;
    const m = /^flags:\s+([0-7]+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1'));
    if (m?.[1] !== undefined) flags.push(parseInt(m[1], 8));
  }
  t.is(flags.length, 1, 'one fd on the base');
  t.not((flags[0] ?? 0) & 0o2000, 0, 'O_APPEND');
  t.not((flags[0] ?? 0) & 0o2000000, 0, 'O_CLOEXEC');
  t.is((flags[0] ?? 0) & 0o4000, 0, 'not O_NONBLOCK: that flag only guards the open against a FIFO');
  w.close();

  const w2 = RotatingFileWriter.open(path.join(dir, 'other'), { mode: 0o640 });
  t.is(fs.statSync(path.join(dir, 'other')).mode & 0o7777, 0o640);
  w2.close();
});

test('bad options and arguments are rejected with a coded error', (t) => {
  const base = path.join(tempDir(t), 'log');
  const bad: object[] = [
    { maxSize: -1 },
    { maxSize: 1.5 },
    { maxBackups: -1 },
    { maxBackups: 1e6 },
    { firstBackupIndex: 2 },
    { mode: 0o10000 },
    { truncate: 'yes' },
  ];
  for (const opts of bad) {
    t.throws(() => RotatingFileWriter.open(base, opts), {
      instanceOf: RotatingFileError,
      code: 'LW_ERR_ROTATING_FILE_INVALID_ARGUMENT',
    });
  }
  t.throws(() => RotatingFileWriter.open(''), { code: 'LW_ERR_ROTATING_FILE_INVALID_ARGUMENT' });
  const w = RotatingFileWriter.open(base);
  t.throws(() => w.write('text' as unknown as Uint8Array), { code: 'LW_ERR_ROTATING_FILE_INVALID_ARGUMENT' });
  w.close();
  w.close();
  t.throws(() => w.write(block), { code: 'LW_ERR_ROTATING_FILE_CLOSED' });
  t.throws(() => RotatingFileWriter.open(path.join(path.dirname(base), 'no-such-dir', 'log')), { code: 'ENOENT' });
});

test('a failing rotation drops (counted), never throws, and logging resumes with one marker line', (t) => {
  const base = path.join(tempDir(t), 'log');
  const w = RotatingFileWriter.open(base, { maxSize: 100, maxBackups: 1 });
  // A non-empty directory in the backup slot: the rotation cannot drop it (EISDIR), and the
  // recovery that runs before the next write refuses it (open() would have refused it at once).
  fs.mkdirSync(`${base}.0`);
  fs.writeFileSync(path.join(`${base}.0`, 'keep'), 'x');
  t.is(w.write(Buffer.from(`${'a'.repeat(99)}\n`)), 100);
  t.is(w.write(Buffer.from(`${'b'.repeat(39)}\n`)), 0, 'the file is full and cannot rotate');
  t.is(w.write(Buffer.from('c'.repeat(30))), 0);
  t.like(w.stats, { bytesWritten: 100, bytesDropped: 70, pendingDropped: 70, markers: 0 });
  t.is(fs.statSync(base).size, 100);

  fs.rmSync(`${base}.0`, { recursive: true });
  t.is(w.write(Buffer.from('d\n')), 2);
  t.like(w.stats, { bytesDropped: 70, pendingDropped: 0, markers: 1 });
  const text = fs.readFileSync(base, 'latin1');
  t.is(text, '[logwarden: dropped 70 bytes: EISDIR,LW_ERR_ROTATING_FILE_UNSAFE_MEMBER]\nd\n');
  t.is(fs.readFileSync(`${base}.0`, 'latin1'), `${'a'.repeat(99)}\n`);
  w.close();
});

test('the marker starts on a line of its own and never makes a file exceed maxSize', (t) => {
  const base = path.join(tempDir(t), 'log');
  const w = RotatingFileWriter.open(base, { maxSize: 60, maxBackups: 1 });
  fs.mkdirSync(`${base}.0`);
  fs.writeFileSync(path.join(`${base}.0`, 'keep'), 'x');
  w.write(Buffer.from('x'.repeat(50)));
  w.write(Buffer.from('y'.repeat(20)));
  t.is(w.stats.pendingDropped, 10);
  fs.rmSync(`${base}.0`, { recursive: true });
  w.write(Buffer.from('z'));
  const marker = fs.readFileSync(base, 'latin1');
  t.is(marker, '\n[logwarden: dropped 10 bytes: EISDIR]\nz', 'the stream ended mid-line: a line break first');
  t.true(marker.length <= 60);
  t.is(fs.readFileSync(`${base}.0`, 'latin1'), 'x'.repeat(50) + 'y'.repeat(10));
  w.close();
});
