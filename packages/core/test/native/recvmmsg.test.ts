// recvmmsg: several queued datagrams in one call, each with exactly its own fds, credentials and
// flags; and UnixSocket's batched dgram receiving (pause mid-batch, receive() while paused).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import type { Message } from '../../src/native/index.js';
import {
  MMSG_MAX,
  SysError,
  UnixSocket,
  bind,
  fstat,
  getCloexec,
  pipe,
  read,
  recvmmsg,
  recvmmsgLimit,
  sendmsg,
  setPassCred,
  setSendBufferSize,
  socket,
  socketpair,
  write,
} from '../../src/native/index.js';
import { closeOwned, own, tempDir, waitFor, within } from './helpers.js';

const fixture = (name: string): string => fileURLToPath(new URL(`fixtures/${name}.js`, import.meta.url));
const self = { pid: process.pid, uid: process.getuid?.(), gid: process.getgid?.() };

function dgramPair(t: ExecutionContext): [number, number] {
  const p = socketpair('dgram');
  own(t, ...p);
  return p;
}

const ino = (fd: number): bigint => fstat(fd).ino;

test('recvmmsg returns null when nothing is queued and rejects bad arguments', (t) => {
  const [, b] = dgramPair(t);
  t.is(recvmmsg(b, 64), null);
  t.is(recvmmsg(b, 64, { maxMessages: 1 }), null);
  t.throws(() => recvmmsg(b, 64, { maxMessages: 0 }), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => recvmmsg(b, 64, { maxMessages: MMSG_MAX + 1 }), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => recvmmsg(b, 64, { maxFds: -1 }), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => recvmmsg(b, -1), { code: 'ERR_OUT_OF_RANGE' });
  const err = t.throws(() => recvmmsg(1 << 30, 64), { instanceOf: SysError });
  t.is(err.code, 'EBADF');
  t.is(err.syscall, 'recvmmsg');
});

test('N queued datagrams come in one call, in order; a short batch means the queue is empty', (t) => {
  const [a, b] = dgramPair(t);
  for (let i = 0; i < 8; i++) t.is(sendmsg(a, Buffer.from(`datagram ${i}`)), 10);
  const all = recvmmsg(b, 64);
  t.deepEqual(
    all?.map((r) => r.data.toString()),
    Array.from({ length: 8 }, (_, i) => `datagram ${i}`),
  );
  t.is(recvmmsg(b, 64), null);
  for (let i = 0; i < 8; i++) sendmsg(a, Buffer.from(`again ${i}`));
  const sizes: number[] = [];
  const seen: string[] = [];
  for (let r = recvmmsg(b, 64, { maxMessages: 3 }); r !== null; r = recvmmsg(b, 64, { maxMessages: 3 })) {
    sizes.push(r.length);
    seen.push(...r.map((m) => m.data.toString()));
  }
  t.deepEqual(sizes, [3, 3, 2]);
  t.deepEqual(
    seen,
    Array.from({ length: 8 }, (_, i) => `again ${i}`),
  );
});

test('data of one batch stays intact while later batches are received', (t) => {
  const [a, b] = dgramPair(t);
  sendmsg(a, Buffer.from('first'));
  sendmsg(a, Buffer.from('second'));
  const one = recvmmsg(b, 64);
  sendmsg(a, Buffer.from('XXXXXXXXXX'));
  sendmsg(a, Buffer.from('YYYYYYYYYY'));
  const two = recvmmsg(b, 64);
  t.deepEqual(one?.map((r) => r.data.toString()), ['first', 'second']);
  t.deepEqual(two?.map((r) => r.data.toString()), ['XXXXXXXXXX', 'YYYYYYYYYY']);
});

test('each message keeps exactly its own fds (CLOEXEC) and credentials', (t) => {
  const [a, b] = dgramPair(t);
  setPassCred(b, true);
  const p1 = pipe({ cloexec: false });
  const p2 = pipe();
  own(t, p1.readFd, p1.writeFd, p2.readFd, p2.writeFd);
  sendmsg(a, Buffer.from('one fd'), { fds: [p1.writeFd] });
  sendmsg(a, Buffer.from('no fd'));
  sendmsg(a, Buffer.from('two fds'), { fds: [p2.readFd, p2.writeFd] });
  sendmsg(a, Buffer.alloc(0), { fds: [p1.readFd] });
  const r = recvmmsg(b, 64) ?? [];
  t.is(r.length, 4);
  for (const m of r) own(t, ...m.fds);
  t.deepEqual(
    r.map((m) => [m.data.toString(), m.fds.length]),
    [
      ['one fd', 1],
      ['no fd', 0],
      ['two fds', 2],
      ['', 1],
    ],
  );
  const fds = r.map((m) => m.fds);
  t.is(ino(fds[0]?.[0] ?? -1), ino(p1.writeFd));
  t.is(ino(fds[2]?.[0] ?? -1), ino(p2.readFd));
  t.is(ino(fds[2]?.[1] ?? -1), ino(p2.writeFd));
  t.is(ino(fds[3]?.[0] ?? -1), ino(p1.readFd));
  for (const m of r) {
    t.deepEqual(m.creds, self);
    t.false(m.truncated);
    t.false(m.fdsTruncated);
    for (const fd of m.fds) t.true(getCloexec(fd));
  }
  // The received write end works: what goes in comes out of the original read end.
  t.is(write(fds[0]?.[0] ?? -1, Buffer.from('through')), 7);
  const buf = Buffer.alloc(16);
  t.is(buf.toString('latin1', 0, read(p1.readFd, buf) ?? 0), 'through');
});

test('credentials of another process stay with its messages between ours', async (t) => {
  const dir = tempDir(t);
  const where = path.join(dir, 'rx.sock');
  const rx = socket('dgram');
  const tx = socket('dgram');
  own(t, rx, tx);
  bind(rx, where);
  setPassCred(rx, true);
  sendmsg(tx, Buffer.from('parent 0'), { path: where });
  const child = spawn(process.execPath, [fixture('send-dgram-child'), where, '3', 'child'], { stdio: 'inherit' });
  const [code] = (await within(once(child, 'exit'), 'sender child')) as [number | null];
  t.is(code, 0);
  sendmsg(tx, Buffer.from('parent 1'), { path: where });
  const r = recvmmsg(rx, 64) ?? [];
  t.deepEqual(
    r.map((m) => m.data.toString()),
    ['parent 0', 'child 0', 'child 1', 'child 2', 'parent 1'],
  );
  t.deepEqual(
    r.map((m) => m.creds?.pid),
    [process.pid, child.pid, child.pid, child.pid, process.pid],
  );
});

test('truncation and fd truncation are flagged per message, not per batch', (t) => {
  const [a, b] = dgramPair(t);
  const p = pipe();
  own(t, p.readFd, p.writeFd);
  sendmsg(a, Buffer.alloc(100, 0x41));
  sendmsg(a, Buffer.from('short'), { fds: [p.readFd, p.writeFd, p.readFd] });
  sendmsg(a, Buffer.from('ok'), { fds: [p.writeFd] });
  const r = recvmmsg(b, 10, { maxFds: 1 }) ?? [];
  for (const m of r) own(t, ...m.fds);
  t.deepEqual(
    r.map((m) => [m.data.toString(), m.truncated, m.fds.length, m.fdsTruncated]),
    [
      ['AAAAAAAAAA', true, 0, false],
      ['short', false, 1, true],
      ['ok', false, 1, false],
    ],
  );
  t.is(ino(r[2]?.fds[0] ?? -1), ino(p.writeFd));
  sendmsg(a, Buffer.from('x'));
  const empty = recvmmsg(b, 0);
  t.is(empty?.[0]?.data.length, 0);
  t.true(empty?.[0]?.truncated);
});

test('datagrams longer than a batch slot arrive whole between short ones', (t) => {
  const [a, b] = dgramPair(t);
  setSendBufferSize(a, 1024 * 1024);
  // 16 KiB is the slot, 64 KiB of a long datagram's overflow stays mapped: cross both.
  const long = [20_000, 150_000, 16 * 1024, 16 * 1024 + 1].map((n, i) => Buffer.alloc(n, 0x61 + i));
  for (let i = 0; i < 2; i++) {
    for (const l of long) {
      sendmsg(a, l);
      sendmsg(a, Buffer.from(`short after ${l.length}`));
    }
    const r = recvmmsg(b, 256 * 1024) ?? [];
    t.is(r.length, 8);
    long.forEach((l, k) => {
      t.true(r[2 * k]?.data.equals(l), `round ${i}: ${l.length} bytes intact`);
      t.is(r[2 * k + 1]?.data.toString(), `short after ${l.length}`);
    });
    t.false(r.some((m) => m.truncated));
  }
  sendmsg(a, Buffer.alloc(40_000, 0x7a));
  const cut = recvmmsg(b, 30_000);
  t.is(cut?.[0]?.data.length, 30_000);
  t.true(cut?.[0]?.truncated);
});

test('a huge maxLen takes fewer messages per call (bounded reserved memory), none lost', (t) => {
  const [a, b] = dgramPair(t);
  t.is(recvmmsgLimit(64 * 1024), MMSG_MAX);
  t.is(recvmmsgLimit(16 * 1024 * 1024), 16);
  const huge = 64 * 1024 * 1024;
  const limit = recvmmsgLimit(huge);
  t.is(limit, 4);
  for (let i = 0; i < 6; i++) sendmsg(a, Buffer.from(`q${i}`));
  const first = recvmmsg(b, huge, { maxMessages: MMSG_MAX }) ?? [];
  const second = recvmmsg(b, huge) ?? [];
  t.deepEqual([first.length, second.length], [limit, 6 - limit]);
  t.deepEqual(
    [...first, ...second].map((m) => m.data.toString()),
    ['q0', 'q1', 'q2', 'q3', 'q4', 'q5'],
  );
});

function dgramSockets(t: ExecutionContext): [UnixSocket, UnixSocket] {
  const [a, b] = socketpair('dgram');
  const pair: [UnixSocket, UnixSocket] = [UnixSocket.fromFd(a, 'dgram'), UnixSocket.fromFd(b, 'dgram')];
  t.teardown(() => {
    pair[0].close();
    pair[1].close();
  });
  return pair;
}

test('UnixSocket: pausing inside a listener keeps the rest of the batch, delivered in order on resume', async (t) => {
  const [a, b] = dgramSockets(t);
  const p = pipe();
  own(t, p.readFd, p.writeFd);
  for (let i = 0; i < 6; i++) await a.send(Buffer.from(`m${i}`), i === 4 ? { fds: [p.writeFd] } : undefined);
  const got: Message[] = [];
  b.on('message', (m: Message) => {
    got.push(m);
    if (got.length === 2) b.pause();
  });
  await within(
    (async () => {
      while (got.length < 2) await new Promise((r) => setTimeout(r, 5));
    })(),
    'first two messages',
  );
  await new Promise((r) => setTimeout(r, 50));
  t.is(got.length, 2);
  // receive() while paused takes the held messages first, one per call.
  t.is((await within(b.receive(), 'held message')).data.toString(), 'm2');
  b.resume();
  await within(
    (async () => {
      while (got.length < 5) await new Promise((r) => setTimeout(r, 5));
    })(),
    'the rest',
  );
  t.deepEqual(
    got.map((m) => m.data.toString()),
    ['m0', 'm1', 'm3', 'm4', 'm5'],
  );
  const fd = got[3]?.fds[0] ?? -1;
  own(t, fd);
  t.is(ino(fd), ino(p.writeFd));
});

test('UnixSocket: receive() on a paused socket takes one datagram per caller, none dropped', async (t) => {
  const [a, b] = dgramSockets(t);
  for (let i = 0; i < 5; i++) await a.send(Buffer.from(`r${i}`));
  const first = await within(Promise.all([b.receive(), b.receive()]), 'two receives');
  t.deepEqual(
    first.map((m) => m.data.toString()),
    ['r0', 'r1'],
  );
  for (let i = 2; i < 5; i++) t.is((await within(b.receive(), `receive ${i}`)).data.toString(), `r${i}`);
});

test('UnixSocket: closing with held datagrams closes their fds', async (t) => {
  const [a, b] = dgramSockets(t);
  const p = pipe();
  own(t, p.readFd, p.writeFd);
  await a.send(Buffer.from('first'));
  await a.send(Buffer.from('held'), { fds: [p.writeFd] });
  b.on('message', () => {
    b.pause();
  });
  await new Promise((r) => setTimeout(r, 50));
  b.close();
  closeOwned(t, p.writeFd);
  // The only other write end was the held fd: once it is closed the pipe reads EOF. Not at once,
  // maybe: a child forked meanwhile by another test's thread holds a copy until its exec.
  const buf = Buffer.alloc(8);
  await waitFor(() => read(p.readFd, buf) === 0, 'EOF once the held write end is closed', 5000);
  t.pass();
});
