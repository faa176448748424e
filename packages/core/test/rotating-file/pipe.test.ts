// writeFromPipe(): real pipes, tee + read to decide the cut, splice to move only what was decided.
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import test from 'ava';
import { close, pipe, read, spliceToFile, write } from '../../src/native/index.js';
import { PipeScratch, RotatingFileError, RotatingFileReader, RotatingFileWriter, START } from '../../src/rotating-file/index.js';
import type { RotatingFileWriter as Writer } from '../../src/rotating-file/index.js';
import { chainContent, here, patternBytes, tempDir, testNeeding } from './helpers.js';

function openPipe(t: { teardown: (fn: () => void) => void }): { readFd: number; writeFd: number; closeWrite: () => void } {
  const p = pipe({ size: 1024 * 1024 });
  let writeOpen = true;
  t.teardown(() => {
    close(p.readFd);
    if (writeOpen) close(p.writeFd);
  });
  return {
    ...p,
    closeWrite: () => {
      close(p.writeFd);
      writeOpen = false;
    },
  };
}

function scratchFor(t: { teardown: (fn: () => void) => void }, window?: number): PipeScratch {
  const s = PipeScratch.create(window === undefined ? {} : { window });
  t.teardown(() => {
    s.close();
  });
  return s;
}

function put(fd: number, data: Buffer): void {
  let off = 0;
  while (off < data.length) {
    const n = write(fd, data, off, data.length - off);
    if (n === null) throw new Error('test pipe full');
    off += n;
  }
}

/** Calls writeFromPipe until it reports EAGAIN (null) or EOF (0); returns the results seen. */
function drain(w: Writer, fd: number, scratch: PipeScratch): (number | null)[] {
  const results: (number | null)[] = [];
  for (;;) {
    const n = w.writeFromPipe(fd, scratch);
    results.push(n);
    if (n === null || n === 0) return results;
  }
}

function fileSizes(base: string, slots: number): number[] {
  const sizes: number[] = [];
  for (const p of [base, ...Array.from({ length: slots }, (_, i) => `${base}.${i}`)]) {
    if (fs.existsSync(p)) sizes.push(fs.statSync(p).size);
  }
  return sizes;
}

test('lines from a pipe are cut at the last newline that fits, nothing lost or repeated', (t) => {
  const base = path.join(tempDir(t), 'log');
  const p = openPipe(t);
  const scratch = scratchFor(t);
  const w = RotatingFileWriter.open(base, { maxSize: 100, maxBackups: 50 });
  const lines = Buffer.from(Array.from({ length: 60 }, (_, i) => `line ${i} ${'.'.repeat(i % 23)}\n`).join(''));
  put(p.writeFd, lines);
  const results = drain(w, p.readFd, scratch);
  t.is(results.at(-1), null, 'an empty pipe is EAGAIN, not EOF');
  t.deepEqual(chainContent(base, 50), lines);
  for (const size of fileSizes(base, 50)) t.true(size <= 100);
  for (let i = 0; i < 50; i++) {
    const p0 = `${base}.${i}`;
    if (fs.existsSync(p0)) t.is(fs.readFileSync(p0).at(-1), 0x0a, `${p0} ends at a line break`);
  }
  t.is(w.stats.bytesWritten, lines.length);
  w.close();
});

test('data without newlines from a pipe is cut at the limit', (t) => {
  const base = path.join(tempDir(t), 'log');
  const p = openPipe(t);
  const w = RotatingFileWriter.open(base, { maxSize: 100, maxBackups: 5 });
  const data = Buffer.alloc(450, 0x7a);
  put(p.writeFd, data);
  drain(w, p.readFd, scratchFor(t));
  t.deepEqual(fileSizes(base, 5), [50, 100, 100, 100, 100]);
  t.deepEqual(chainContent(base, 5), data);
  w.close();
});

test('far from the limit the pipe is spliced straight in; binary data survives', (t) => {
  const base = path.join(tempDir(t), 'log');
  const p = openPipe(t);
  const w = RotatingFileWriter.open(base, { maxSize: 256 * 1024, maxBackups: 10 });
  const scratch = scratchFor(t, 4096);
  const data = patternBytes(900 * 1024, 7);
  let off = 0;
  const sent: Buffer[] = [];
  while (off < data.length) {
    const chunk = data.subarray(off, off + 100_000);
    put(p.writeFd, chunk);
    sent.push(chunk);
    off += chunk.length;
    drain(w, p.readFd, scratch);
  }
  t.deepEqual(new RotatingFileReader(base, { maxBackups: 10 }).read(START, 2 * data.length).data, data);
  for (const size of fileSizes(base, 10)) t.true(size <= 256 * 1024);
  t.is(w.stats.rotations, 3);
  w.close();
});

test('bytes leave the pipe only once they are in the file', (t) => {
  const base = path.join(tempDir(t), 'log');
  const p = openPipe(t);
  const w = RotatingFileWriter.open(base, { maxSize: 100, maxBackups: 5 });
  const lines = Buffer.from('first line, thirty bytes long\n'.repeat(10));
  put(p.writeFd, lines);
  const n = w.writeFromPipe(p.readFd, scratchFor(t));
  t.is(n, 90, 'three whole lines fit in the first file');
  t.deepEqual(fs.readFileSync(base), lines.subarray(0, 90));
  const rest = Buffer.alloc(1000);
  const left = read(p.readFd, rest);
  t.deepEqual(rest.subarray(0, left ?? 0), lines.subarray(90), 'the rest is still in the pipe');
  w.close();
});

test('EOF of every writer is reported as 0 after the last bytes', (t) => {
  const base = path.join(tempDir(t), 'log');
  const p = openPipe(t);
  const w = RotatingFileWriter.open(base, { maxSize: 64, maxBackups: 3 });
  put(p.writeFd, Buffer.from('tail without newline'));
  p.closeWrite();
  const results = drain(w, p.readFd, scratchFor(t));
  t.deepEqual(results, [20, 0]);
  t.is(fs.readFileSync(base, 'latin1'), 'tail without newline');
  w.close();
});

test('a pipe whose file cannot take bytes is drained and counted, then one marker is written', (t) => {
  const base = path.join(tempDir(t), 'log');
  const p = openPipe(t);
  const scratch = scratchFor(t);
  const w = RotatingFileWriter.open(base, { maxSize: 100, maxBackups: 1 });
  fs.mkdirSync(`${base}.0`);
  fs.writeFileSync(path.join(`${base}.0`, 'keep'), 'x');
  put(p.writeFd, Buffer.from(`${'a'.repeat(99)}\n`));
  drain(w, p.readFd, scratch);
  put(p.writeFd, Buffer.from('lost line\n'.repeat(5)));
  const results = drain(w, p.readFd, scratch);
  t.deepEqual(results, [50, null], 'drained, so the guest never blocks');
  t.like(w.stats, { bytesWritten: 100, bytesDropped: 50, pendingDropped: 50 });

  fs.rmSync(`${base}.0`, { recursive: true });
  put(p.writeFd, Buffer.from('back\n'));
  drain(w, p.readFd, scratch);
  // The rotation already failed (EISDIR) when the first drain found the file full; since then the
  // recovery before each call refuses the directory.
  t.is(fs.readFileSync(base, 'latin1'), '[logwarden: dropped 50 bytes: LW_ERR_ROTATING_FILE_UNSAFE_MEMBER]\nback\n');
  t.like(w.stats, { bytesDropped: 50, pendingDropped: 0, markers: 1 });
  w.close();
});

function noPrlimit(): string | undefined {
  const probe = spawnSync('prlimit', ['--fsize=1000', 'true'], { encoding: 'latin1' });
  if (probe.error !== undefined) return `no prlimit (${probe.error.message})`;
  return probe.status === 0 ? undefined : `prlimit fails: ${probe.stderr.trim()}`;
}

testNeeding('a splice error after bytes without a newline: the marker still starts a line of its own', noPrlimit(), (t) => {
  const dir = tempDir(t);
  const child = spawnSync('prlimit', ['--fsize=930', process.execPath, path.join(here, 'fixtures', 'fsize-writer.js'), dir], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  t.is(child.status, 0, child.stderr);
  const r = JSON.parse(child.stdout) as {
    first: number;
    second: number;
    afterError: { bytesWritten: number; bytesDropped: number };
    base: string;
    backup: string;
  };
  t.is(r.first, 60, 'all 60 bytes left the pipe: 30 written, 30 dropped');
  t.deepEqual(r.afterError, { bytesWritten: 930, bytesDropped: 30 });
  t.is(r.backup, `${'x'.repeat(900)}${'y'.repeat(30)}`, 'the file ends mid-line');
  t.is(r.base, '\n[logwarden: dropped 30 bytes: EFBIG]\nnext\n');
  t.is(r.second, 5);
});

test('a pipe drained by someone else between tee and read is a coded error', async (t) => {
  const base = path.join(tempDir(t), 'log');
  const p = openPipe(t);
  const scratch = scratchFor(t);
  const w = RotatingFileWriter.open(base, { maxSize: 1000, maxBackups: 1 });
  t.teardown(() => {
    w.close();
  });
  // A thread that keeps reading the scratch pipe: sooner or later it takes a tee'd copy first.
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const thief = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.native).then(({ read }) => {
      const buf = Buffer.alloc(65536);
      parentPort.postMessage('ready');
      while (Atomics.load(workerData.stop, 0) === 0) read(workerData.fd, buf);
    });`,
    { eval: true, workerData: { native: new URL('../../src/native/index.js', import.meta.url).href, fd: scratch.readFd, stop } },
  );
  await once(thief, 'message');
  const line = Buffer.from('fifteen bytes.\n');
  let caught: unknown;
  const deadline = Date.now() + 60_000;
  while (caught === undefined && Date.now() < deadline) {
    put(p.writeFd, line);
    try {
      drain(w, p.readFd, scratch);
    } catch (err) {
      caught = err;
    }
  }
  Atomics.store(stop, 0, 1);
  await once(thief, 'exit');
  t.true(caught instanceof RotatingFileError, String(caught));
  t.is((caught as { code?: unknown }).code, 'LW_ERR_ROTATING_FILE_PIPE_SHORT');
});

test('PipeScratch rejects a bad window with a coded error', (t) => {
  t.throws(() => PipeScratch.create({ window: 0 }), { code: 'LW_ERR_ROTATING_FILE_INVALID_ARGUMENT' });
  t.throws(() => PipeScratch.create({ window: 1.5 }), { code: 'LW_ERR_ROTATING_FILE_INVALID_ARGUMENT' });
});

test('a pipe move in progress: the writer refuses other writes, and close() waits for the move to finish', async (t) => {
  const dir = tempDir(t);
  const base = path.join(dir, 'vm.log');
  const w = RotatingFileWriter.open(base, { maxSize: 1024 * 1024 });
  const scratch = scratchFor(t);
  const p = openPipe(t);
  put(p.writeFd, Buffer.from('first line\n'));
  const move = w.beginPipeMove(p.readFd, scratch);
  if (move === null || typeof move === 'number') return t.fail('no move begun');
  t.throws(() => w.write(Buffer.from('x')), { code: 'LW_ERR_ROTATING_FILE_BUSY' });
  t.throws(() => w.beginPipeMove(p.readFd, scratch), { code: 'LW_ERR_ROTATING_FILE_BUSY' });
  t.throws(() => w.writeFromPipe(p.readFd, scratch), { code: 'LW_ERR_ROTATING_FILE_BUSY' });
  const running = spliceToFile(p.readFd, move.fd, move.length, move.offset);
  w.close();
  t.is(w.finishPipeMove(move, await running, p.readFd, scratch), 11);
  t.is(fs.readFileSync(base, 'latin1'), 'first line\n');
  t.is(w.stats.position.offset, 11);
  t.throws(() => w.finishPipeMove(move, { moved: 0, error: null, eof: false }, p.readFd, scratch), { code: 'LW_ERR_ROTATING_FILE_BUSY' });
});
