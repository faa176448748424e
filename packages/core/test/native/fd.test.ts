// fds, pipes, splice/tee, fstat, flags and memfd seals against real kernel objects.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import {
  RENAME,
  SEAL,
  SysError,
  addSeals,
  close,
  dup,
  fstat,
  getCloexec,
  getNonblock,
  getPipeSize,
  getSeals,
  memfdCreate,
  pipe,
  pipeBytes,
  read,
  renameat2,
  setCloexec,
  setNonblock,
  setPipeSize,
  splice,
  spliceToFile,
  spliceToFiles,
  tee,
  write,
} from '../../src/native/index.js';
import { assertFlags, closeOwned, own, ownFile, tempDir } from './helpers.js';

function openPipe(t: ExecutionContext, opts?: Parameters<typeof pipe>[0]): { readFd: number; writeFd: number } {
  const p = pipe(opts);
  own(t, p.readFd, p.writeFd);
  return p;
}

test('pipe is CLOEXEC and NONBLOCK by default, plain when asked', (t) => {
  const p = openPipe(t);
  assertFlags(t, p.readFd, { cloexec: true, nonblock: true });
  assertFlags(t, p.writeFd, { cloexec: true, nonblock: true });
  const q = openPipe(t, { cloexec: false, nonblock: false });
  assertFlags(t, q.readFd, { cloexec: false, nonblock: false });
  assertFlags(t, q.writeFd, { cloexec: false, nonblock: false });
});

test('pipe size: option, set and get', (t) => {
  const p = openPipe(t, { size: 256 * 1024 });
  t.is(getPipeSize(p.readFd), 256 * 1024);
  t.is(setPipeSize(p.writeFd, 100_000), 128 * 1024); // rounded up to a power of two pages
  t.is(getPipeSize(p.readFd), 128 * 1024);
  const err = t.throws(() => setPipeSize(p.readFd, 1 << 30), { instanceOf: SysError });
  t.true(err.code === 'EPERM' || err.code === 'ENOMEM', err.code);
});

test('read returns null on an empty nonblocking pipe, bytes into the window, 0 at EOF', (t) => {
  const p = openPipe(t);
  const buf = Buffer.alloc(16, 0x2e);
  t.is(read(p.readFd, buf), null);
  t.is(write(p.writeFd, Buffer.from('xxhello'), 2), 5);
  t.is(read(p.readFd, buf, 4, 3), 3);
  t.is(buf.toString('latin1', 0, 8), '....hel.');
  t.is(read(p.readFd, buf), 2);
  t.is(buf.toString('latin1', 0, 2), 'lo');
  closeOwned(t, p.writeFd);
  t.is(read(p.readFd, buf), 0);
});

test('write returns null once the pipe is full, after a partial write', (t) => {
  const p = openPipe(t);
  const size = getPipeSize(p.writeFd);
  const chunk = Buffer.alloc(size - 100, 1);
  t.is(write(p.writeFd, chunk), chunk.length);
  t.is(write(p.writeFd, Buffer.alloc(4096, 2)), null); // not atomic-sized room left: EAGAIN
  let total = chunk.length;
  for (let n = write(p.writeFd, Buffer.alloc(50, 3)); n !== null; n = write(p.writeFd, Buffer.alloc(50, 3))) {
    total += n;
  }
  t.is(total, size);
});

test('write to a pipe without readers throws EPIPE', (t) => {
  const p = openPipe(t);
  closeOwned(t, p.readFd);
  const err = t.throws(() => write(p.writeFd, Buffer.from('x')), { instanceOf: SysError });
  t.is(err.code, 'EPIPE');
  t.is(err.syscall, 'write');
});

test('close and fstat of a bad fd throw EBADF with errno and syscall', (t) => {
  // Far above any fd in use: tests in other worker threads share this process's fd table.
  const bad = 1 << 30;
  const err = t.throws(
    () => {
      close(bad);
    },
    { instanceOf: SysError },
  );
  t.is(err.code, 'EBADF');
  t.is(err.errno, 9);
  t.is(err.syscall, 'close');
  t.regex(err.message, /^EBADF: .*, close$/);
  const err2 = t.throws(() => fstat(bad), { instanceOf: SysError });
  t.is(err2.code, 'EBADF');
  t.is(err2.syscall, 'fstat');
});

test('bad arguments are rejected with coded errors before any syscall', (t) => {
  const p = openPipe(t);
  t.throws(() => read(p.readFd, 'nope' as unknown as Uint8Array), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => read(p.readFd, Buffer.alloc(4), 5), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => read(p.readFd, Buffer.alloc(4), 1, 4), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => read(1.5, Buffer.alloc(4)), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(
    () => {
      close('3' as unknown as number);
    },
    { code: 'ERR_INVALID_ARG_TYPE' },
  );
  t.throws(() => memfdCreate('a\0b'), { code: 'ERR_INVALID_ARG_VALUE' });
});

test('fstat gives dev/ino as bigint, size and mode', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'f');
  fs.writeFileSync(file, 'abcdef');
  const fd = fs.openSync(file, 'r');
  t.teardown(() => {
    fs.closeSync(fd);
  });
  const st = fstat(fd);
  const ref = fs.fstatSync(fd, { bigint: true });
  t.is(typeof st.dev, 'bigint');
  t.is(st.dev, ref.dev);
  t.is(st.ino, ref.ino);
  t.is(st.size, 6);
  t.is(st.mode, Number(ref.mode));
  t.true(fs.constants.S_IFREG === (st.mode & fs.constants.S_IFMT));
});

test('cloexec and nonblock can be read and changed', (t) => {
  const p = openPipe(t);
  t.true(getCloexec(p.readFd));
  setCloexec(p.readFd, false);
  t.false(getCloexec(p.readFd));
  setCloexec(p.readFd, true);
  t.true(getCloexec(p.readFd));
  t.true(getNonblock(p.readFd));
  setNonblock(p.readFd, false);
  t.false(getNonblock(p.readFd));
  setNonblock(p.readFd, true);
  t.true(getNonblock(p.readFd));
  t.throws(() => {
    setCloexec(-1, true);
  }, { code: 'EBADF' });
});

test('dup is CLOEXEC unless asked otherwise and shares the file', (t) => {
  const p = openPipe(t);
  const a = dup(p.writeFd);
  const b = dup(p.writeFd, { cloexec: false });
  own(t, a, b);
  assertFlags(t, a, { cloexec: true, nonblock: true });
  assertFlags(t, b, { cloexec: false, nonblock: true });
  t.is(write(a, Buffer.from('ab')), 2);
  t.is(write(b, Buffer.from('c')), 1);
  const buf = Buffer.alloc(8);
  t.is(read(p.readFd, buf), 3);
  t.is(buf.toString('latin1', 0, 3), 'abc');
});

test('splice moves pipe bytes into a file, at an offset when asked', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'out');
  const fd = fs.openSync(file, 'w+');
  t.teardown(() => {
    fs.closeSync(fd);
  });
  const p = openPipe(t);
  t.is(splice(p.readFd, fd, 65536), null); // empty pipe
  const payload = Buffer.from(Array.from({ length: 3000 }, (_v, i) => i % 251));
  t.is(write(p.writeFd, payload), payload.length);
  t.is(splice(p.readFd, fd, 1000), 1000);
  t.is(splice(p.readFd, fd, 65536), 2000);
  t.is(write(p.writeFd, Buffer.from('HEAD')), 4);
  t.is(splice(p.readFd, fd, 4, { offOut: 0 }), 4); // pwrite-like: the file position stays
  const got = fs.readFileSync(file);
  t.is(got.length, 3000);
  t.deepEqual(got.subarray(4), payload.subarray(4));
  t.is(got.toString('latin1', 0, 4), 'HEAD');
  closeOwned(t, p.writeFd);
  t.is(splice(p.readFd, fd, 100), 0); // EOF
  const err = t.throws(() => splice(p.readFd, fd, 1, { offIn: 0 }), { instanceOf: SysError });
  t.is(err.code, 'ESPIPE');
});

test('tee copies pipe bytes to another pipe without consuming them', (t) => {
  const src = openPipe(t);
  const dst = openPipe(t);
  t.is(tee(src.readFd, dst.writeFd, 1024), null); // empty source
  t.is(write(src.writeFd, Buffer.from('log line\n')), 9);
  t.is(tee(src.readFd, dst.writeFd, 1024), 9);
  const a = Buffer.alloc(64);
  const b = Buffer.alloc(64);
  t.is(read(dst.readFd, b), 9);
  t.is(read(src.readFd, a), 9);
  t.is(a.toString('latin1', 0, 9), 'log line\n');
  t.is(b.toString('latin1', 0, 9), 'log line\n');
  const fd = memfdCreate('not-a-pipe');
  own(t, fd);
  t.throws(() => tee(src.readFd, fd, 1), { code: 'EINVAL' });
});

test('pipeBytes counts what a pipe holds; splice into a memfd at an offset takes exactly that out', (t) => {
  const src = openPipe(t);
  const fd = memfdCreate('lw-ledger');
  own(t, fd);
  const page = 4096;
  const data = Buffer.alloc(3 * page, 'q');
  t.is(write(src.writeFd, data), data.length);
  t.is(pipeBytes(src.readFd), data.length);
  t.is(splice(src.readFd, fd, data.length, { offOut: page }), data.length);
  t.is(pipeBytes(src.readFd), 0);
  t.is(read(src.readFd, Buffer.alloc(1)), null); // the pipe gave up what went into the file
  t.is(fstat(fd).size, 4 * page);
  const back = Buffer.alloc(page);
  t.is(fs.readSync(fd, back, 0, page, page), page);
  t.true(back.every((b) => b === 0x71));
  const dirFd = fs.openSync(tempDir(t), 'r');
  ownFile(t, dirFd);
  t.throws(() => pipeBytes(dirFd), { instanceOf: SysError }); // FIONREAD means nothing for a directory
});

test('spliceToFile moves pipe bytes into a file at an offset on the threadpool, stopping when the pipe runs dry', async (t) => {
  const src = openPipe(t);
  const file = path.join(tempDir(t), 'out');
  const fd = fs.openSync(file, 'w+');
  ownFile(t, fd);
  fs.writeSync(fd, Buffer.from('head:'));
  const data = Buffer.alloc(200_000);
  for (let i = 0; i < data.length; i++) data[i] = i % 251;
  setPipeSize(src.writeFd, 256 * 1024);
  t.is(write(src.writeFd, data), data.length);
  const r = await spliceToFile(src.readFd, fd, 1 << 20, 5);
  t.deepEqual(r, { moved: data.length, error: null, eof: false });
  t.is(read(src.readFd, Buffer.alloc(1)), null); // consumed: what is in the file left the pipe
  t.deepEqual(fs.readFileSync(file), Buffer.concat([Buffer.from('head:'), data]));

  t.is(write(src.writeFd, Buffer.from('abc')), 3);
  t.deepEqual(await spliceToFile(src.readFd, fd, 2, 1), { moved: 2, error: null, eof: false });
  t.deepEqual(await spliceToFile(src.readFd, fd, 10, 100), { moved: 1, error: null, eof: false }); // ran dry
  t.is(fs.readFileSync(file).subarray(0, 5).toString('latin1'), 'habd:');

  const bad = await spliceToFile(src.readFd, src.writeFd, 1, 0); // a pipe is no file to splice into at an offset
  t.is(bad.moved, 0);
  t.true(bad.error instanceof SysError);
  t.is((bad.error as SysError).code, 'ESPIPE');
  await t.throwsAsync(spliceToFile(src.readFd, fd, 0, 0), { code: 'ERR_OUT_OF_RANGE' });
  closeOwned(t, src.writeFd);
  t.deepEqual(await spliceToFile(src.readFd, fd, 10, 0), { moved: 0, error: null, eof: true });
});

test('spliceToFiles runs a batch of moves in one threadpool job, each with its own result', async (t) => {
  const dir = tempDir(t);
  const a = openPipe(t);
  const b = openPipe(t);
  const fa = fs.openSync(path.join(dir, 'a'), 'w+');
  const fb = fs.openSync(path.join(dir, 'b'), 'w+');
  ownFile(t, fa, fb);
  t.is(write(a.writeFd, Buffer.from('alpha\n')), 6);
  t.is(write(b.writeFd, Buffer.from('bravo\n')), 6);
  const results = await spliceToFiles([
    { fdIn: a.readFd, fdOut: fa, length: 100, offOut: 0 },
    { fdIn: b.readFd, fdOut: b.writeFd, length: 100, offOut: 0 }, // into a pipe at an offset: ESPIPE
    { fdIn: b.readFd, fdOut: fb, length: 3, offOut: 10 },
  ]);
  t.like(results[0], { moved: 6, error: null, eof: false });
  t.is(results[1]?.moved, 0);
  t.like(results[1]?.error, { code: 'ESPIPE', syscall: 'splice' });
  t.true(results[1]?.error instanceof SysError);
  t.like(results[2], { moved: 3, error: null, eof: false });
  t.is(fs.readFileSync(path.join(dir, 'a'), 'latin1'), 'alpha\n');
  t.deepEqual(fs.readFileSync(path.join(dir, 'b')).subarray(10), Buffer.from('bra'));
  await t.throwsAsync(spliceToFiles([]), { code: 'ERR_INVALID_ARG_TYPE' });
  await t.throwsAsync(spliceToFiles([{ fdIn: -1, fdOut: fa, length: 1, offOut: 0 }]), { code: 'ERR_OUT_OF_RANGE' });
  await t.throwsAsync(spliceToFiles([{ fdIn: a.readFd, fdOut: fa, length: 1, offOut: -5 }]), { code: 'ERR_OUT_OF_RANGE' });
});

test('memfd is CLOEXEC, sized by writes, and its seals are enforced', (t) => {
  const fd = memfdCreate('lw-test');
  own(t, fd);
  assertFlags(t, fd, { cloexec: true });
  const plain = memfdCreate('lw-plain', { cloexec: false, allowSealing: false });
  own(t, plain);
  assertFlags(t, plain, { cloexec: false });
  t.is(getSeals(plain), SEAL.SEAL); // created sealed against sealing
  t.throws(() => {
    addSeals(plain, SEAL.WRITE);
  }, { code: 'EPERM' });

  t.is(write(fd, Buffer.from('0123456789')), 10);
  t.is(fstat(fd).size, 10);
  t.is(getSeals(fd), 0);
  addSeals(fd, SEAL.SHRINK | SEAL.GROW);
  t.is(getSeals(fd), SEAL.SHRINK | SEAL.GROW);
  t.throws(() => {
    fs.ftruncateSync(fd, 4);
  }, { code: 'EPERM' });
  t.throws(() => {
    fs.writeSync(fd, Buffer.from('more'), 0, 4, 10);
  }, { code: 'EPERM' });
  fs.writeSync(fd, Buffer.from('AB'), 0, 2, 0); // in place is still fine
  addSeals(fd, SEAL.WRITE | SEAL.SEAL);
  const err = t.throws(() => write(fd, Buffer.from('x')), { instanceOf: SysError });
  t.is(err.code, 'EPERM');
  t.throws(() => {
    addSeals(fd, SEAL.FUTURE_WRITE);
  }, { code: 'EPERM' });
  t.is(fs.readFileSync(`/proc/self/fd/${fd}`, 'latin1'), 'AB23456789');
});

test('renameat2: EXCHANGE swaps two files, NOREPLACE refuses to replace, errors are coded', (t) => {
  const dir = tempDir(t);
  const a = path.join(dir, 'a');
  const b = path.join(dir, 'b');
  fs.writeFileSync(a, 'first');
  fs.writeFileSync(b, 'second');
  renameat2(a, b, RENAME.EXCHANGE);
  t.deepEqual([fs.readFileSync(a, 'latin1'), fs.readFileSync(b, 'latin1')], ['second', 'first']);
  t.throws(() => {
    renameat2(a, b, RENAME.NOREPLACE);
  }, { code: 'EEXIST' });
  t.is(fs.readFileSync(b, 'latin1'), 'first');
  renameat2(a, path.join(dir, 'c'), RENAME.NOREPLACE);
  t.false(fs.existsSync(a));
  t.throws(() => {
    renameat2(a, b, RENAME.EXCHANGE);
  }, { code: 'ENOENT' });
  renameat2(b, a, 0);
  t.is(fs.readFileSync(a, 'latin1'), 'first');
  t.throws(() => {
    renameat2(a, b, RENAME.EXCHANGE | RENAME.NOREPLACE);
  }, { code: 'ERR_INVALID_ARG_VALUE' });
  t.throws(() => {
    renameat2(a, b, 1 << 8);
  }, { code: 'ERR_OUT_OF_RANGE' });
});
