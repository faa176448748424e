// AF_UNIX calls: socket/socketpair/bind/connect/listen/accept, sendmsg/recvmsg with fds and
// credentials, peer credentials and buffer sizes, against real sockets.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import type { SocketType } from '../../src/native/index.js';
import {
  MAX_FDS,
  SysError,
  accept,
  bind,
  connect,
  getCloexec,
  getPeerCred,
  getReceiveBufferSize,
  getSendBufferSize,
  getSocketError,
  listen,
  pipe,
  read,
  recvmsg,
  sendmsg,
  setPassCred,
  setReceiveBufferSize,
  setSendBufferSize,
  socket,
  socketpair,
  write,
} from '../../src/native/index.js';
import { assertFlags, closeOwned, own, tempDir } from './helpers.js';

const TYPES: SocketType[] = ['stream', 'dgram', 'seqpacket'];

const track = own;

function pair(t: ExecutionContext, type: SocketType): [number, number] {
  const p = socketpair(type);
  track(t, ...p);
  return p;
}

test('socket and socketpair are CLOEXEC and NONBLOCK by default, plain when asked', (t) => {
  for (const type of TYPES) {
    const fd = socket(type);
    const plain = socket(type, { cloexec: false, nonblock: false });
    const [a, b] = socketpair(type);
    const [c, d] = socketpair(type, { cloexec: false, nonblock: false });
    track(t, fd, plain, a, b, c, d);
    for (const x of [fd, a, b]) assertFlags(t, x, { cloexec: true, nonblock: true });
    for (const x of [plain, c, d]) assertFlags(t, x, { cloexec: false, nonblock: false });
  }
  t.throws(() => socket('raw' as SocketType), { code: 'ERR_INVALID_ARG_VALUE' });
});

test('listen/connect/accept on a path; accept gives CLOEXEC|NONBLOCK fds and null when idle', (t) => {
  const dir = tempDir(t);
  const where = path.join(dir, 's.sock');
  for (const type of ['stream', 'seqpacket'] as const) {
    fs.rmSync(where, { force: true });
    const server = socket(type);
    track(t, server);
    bind(server, where);
    listen(server, 8);
    t.is(accept(server), null);
    const client = socket(type);
    track(t, client);
    connect(client, where);
    const conn = accept(server);
    t.not(conn, null);
    if (conn === null) return;
    track(t, conn);
    assertFlags(t, conn, { cloexec: true, nonblock: true });
    t.is(sendmsg(client, Buffer.from('hi')), 2);
    t.is(recvmsg(conn, 16)?.data.toString(), 'hi');
    t.is(getSocketError(conn), 0);
  }
});

test('connect to a missing path throws ENOENT; to a bound but not listening socket ECONNREFUSED', (t) => {
  const dir = tempDir(t);
  const fd = socket('stream');
  track(t, fd);
  const err = t.throws(
    () => {
      connect(fd, path.join(dir, 'missing.sock'));
    },
    { instanceOf: SysError },
  );
  t.is(err.code, 'ENOENT');
  t.is(err.syscall, 'connect');
  const bound = socket('stream');
  track(t, bound);
  bind(bound, path.join(dir, 'bound.sock'));
  t.throws(
    () => {
      connect(fd, path.join(dir, 'bound.sock'));
    },
    { code: 'ECONNREFUSED' },
  );
  const other = socket('dgram');
  track(t, other);
  t.throws(
    () => {
      bind(other, path.join(dir, 'bound.sock'));
    },
    { code: 'EADDRINUSE' },
  );
  t.throws(
    () => {
      bind(bound, `/${'x'.repeat(120)}`);
    },
    { code: 'ENAMETOOLONG' },
  );
  t.throws(
    () => {
      connect(fd, '');
    },
    { code: 'ERR_INVALID_ARG_VALUE' },
  );
});

test('abstract namespace addresses (leading NUL) work without a file', (t) => {
  const name = `\0logwarden-test-${process.pid}-${Math.random()}`;
  const server = socket('dgram');
  track(t, server);
  bind(server, name);
  const client = socket('dgram');
  track(t, client);
  connect(client, name);
  t.is(sendmsg(client, Buffer.from('abstract')), 8);
  t.is(recvmsg(server, 64)?.data.toString(), 'abstract');
});

test('sendmsg gathers several buffers into one datagram; recvmsg returns null when empty', (t) => {
  const [a, b] = pair(t, 'dgram');
  t.is(recvmsg(b, 64), null);
  t.is(sendmsg(a, [Buffer.from('MESSAGE=hi\n'), new Uint8Array([0x50, 0x3d]), Buffer.from('6\n')]), 15);
  t.is(sendmsg(a, Buffer.from('second')), 6);
  const r = recvmsg(b, 64);
  t.is(r?.data.toString(), 'MESSAGE=hi\nP=6\n');
  t.deepEqual(r?.fds, []);
  t.is(r?.creds, null);
  t.false(r?.truncated);
  t.is(recvmsg(b, 64)?.data.toString(), 'second');
  t.is(recvmsg(b, 64), null);
});

test('fds travel by SCM_RIGHTS and arrive CLOEXEC (MSG_CMSG_CLOEXEC), usable', (t) => {
  for (const type of TYPES) {
    const [a, b] = pair(t, type);
    const p = pipe({ cloexec: false });
    track(t, p.readFd, p.writeFd);
    t.false(getCloexec(p.writeFd));
    t.is(sendmsg(a, Buffer.from('take this'), { fds: [p.writeFd] }), 9);
    const r = recvmsg(b, 64);
    t.is(r?.data.toString(), 'take this');
    t.is(r?.fds.length, 1);
    const got = r?.fds[0] ?? -1;
    track(t, got);
    t.not(got, p.writeFd);
    t.true(getCloexec(got), `${type}: received fd is CLOEXEC`);
    closeOwned(t, p.writeFd);
    t.is(write(got, Buffer.from(`via ${type}`)), 4 + type.length);
    const buf = Buffer.alloc(32);
    t.is(buf.toString('latin1', 0, read(p.readFd, buf) ?? 0), `via ${type}`);
  }
});

test('fds beyond maxFds are refused by the kernel and reported as fdsTruncated', (t) => {
  const [a, b] = pair(t, 'dgram');
  const p = pipe();
  track(t, p.readFd, p.writeFd);
  t.is(sendmsg(a, Buffer.from('x'), { fds: [p.readFd, p.writeFd, p.writeFd] }), 1);
  const r = recvmsg(b, 8, { maxFds: 1 });
  t.is(r?.fds.length, 1);
  track(t, ...(r?.fds ?? []));
  t.true(r?.fdsTruncated);
  t.throws(() => sendmsg(a, Buffer.from('x'), { fds: new Array<number>(MAX_FDS + 1).fill(p.readFd) }), {
    code: 'ERR_OUT_OF_RANGE',
  });
  t.throws(() => sendmsg(a, Buffer.from('x'), { fds: [p.readFd, 1 << 30] }), { code: 'EBADF' });
});

test('a long datagram is truncated to maxLen and flagged', (t) => {
  const [a, b] = pair(t, 'dgram');
  t.is(sendmsg(a, Buffer.alloc(100, 0x41)), 100);
  const r = recvmsg(b, 10);
  t.is(r?.data.length, 10);
  t.true(r?.truncated);
});

test('SO_PASSCRED: received credentials match the sender', (t) => {
  for (const type of TYPES) {
    const [a, b] = pair(t, type);
    setPassCred(b, true);
    t.is(sendmsg(a, Buffer.from('who')), 3);
    const r = recvmsg(b, 16);
    t.deepEqual(r?.creds, { pid: process.pid, uid: process.getuid?.(), gid: process.getgid?.() }, type);
  }
});

test('SO_PEERCRED on stream and seqpacket pairs', (t) => {
  for (const type of ['stream', 'seqpacket'] as const) {
    const [a] = pair(t, type);
    t.deepEqual(getPeerCred(a), { pid: process.pid, uid: process.getuid?.(), gid: process.getgid?.() });
  }
});

test('a dgram larger than SO_SNDBUF, or than any buffer, fails with EMSGSIZE', (t) => {
  const [a] = pair(t, 'dgram');
  const granted = setSendBufferSize(a, 8192);
  t.is(granted, 16384); // the kernel doubles the request for bookkeeping
  t.is(getSendBufferSize(a), granted);
  const err = t.throws(() => sendmsg(a, Buffer.alloc(64 * 1024)), { instanceOf: SysError });
  t.is(err.code, 'EMSGSIZE');
  t.is(err.syscall, 'sendmsg');
  const [c] = pair(t, 'dgram');
  t.throws(() => sendmsg(c, Buffer.alloc(64 * 1024 * 1024)), { code: 'EMSGSIZE' });
});

test('buffer sizes: plain requests are capped by the sysctl, FORCE needs CAP_NET_ADMIN', (t) => {
  const [a, b] = pair(t, 'dgram');
  const wmemMax = Number(fs.readFileSync('/proc/sys/net/core/wmem_max', 'utf8'));
  const rmemMax = Number(fs.readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
  t.is(setSendBufferSize(a, wmemMax * 4), wmemMax * 2);
  t.is(setReceiveBufferSize(b, rmemMax * 4), rmemMax * 2);
  t.is(getReceiveBufferSize(b), rmemMax * 2);
  if (process.getuid?.() === 0) {
    t.is(setSendBufferSize(a, wmemMax * 4, { force: true }), wmemMax * 8);
    t.is(setReceiveBufferSize(b, rmemMax * 4, { force: true }), rmemMax * 8);
  } else {
    t.throws(() => setSendBufferSize(a, wmemMax * 4, { force: true }), { code: 'EPERM' });
  }
});

test('a stream reads 0 bytes at EOF; sending to a closed peer throws EPIPE', (t) => {
  const [a, b] = pair(t, 'stream');
  t.is(sendmsg(a, Buffer.from('last')), 4);
  closeOwned(t, a);
  t.is(recvmsg(b, 16)?.data.toString(), 'last');
  t.is(recvmsg(b, 16)?.data.length, 0);
  t.throws(() => sendmsg(b, Buffer.from('x')), { code: 'EPIPE' });
});

test('sendmsg by path on an unconnected dgram socket', (t) => {
  const dir = tempDir(t);
  const where = path.join(dir, 'd.sock');
  const server = socket('dgram');
  const client = socket('dgram');
  track(t, server, client);
  bind(server, where);
  t.is(sendmsg(client, Buffer.from('to path'), { path: where }), 7);
  t.is(recvmsg(server, 64)?.data.toString(), 'to path');
  t.throws(() => sendmsg(client, Buffer.from('x'), { path: path.join(dir, 'nobody.sock') }), { code: 'ENOENT' });
  t.throws(() => sendmsg(client, Buffer.from('x')), { code: 'ENOTCONN' });
});
