// UnixSocket / UnixServer: promises, events and backpressure over real AF_UNIX sockets.
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import type { Message, SocketType } from '../../src/native/index.js';
import {
  NativeErrorCode,
  SysError,
  UnixServer,
  UnixSocket,
  bind,
  close,
  getCloexec,
  listen,
  pipe,
  socket,
  socketpair,
  write,
} from '../../src/native/index.js';
import { closeOwned, own, tempDir, waitFor, within } from './helpers.js';

function sockets(t: ExecutionContext, type: SocketType): [UnixSocket, UnixSocket] {
  const [a, b] = socketpair(type);
  const pair: [UnixSocket, UnixSocket] = [UnixSocket.fromFd(a, type), UnixSocket.fromFd(b, type)];
  t.teardown(() => {
    pair[0].close();
    pair[1].close();
  });
  return pair;
}

test('dgram: gathered send with fds and credentials, received by receive()', async (t) => {
  const [a, b] = sockets(t, 'dgram');
  b.setPassCred(true);
  const p = pipe();
  own(t, p.readFd, p.writeFd);
  await a.send([Buffer.from('hello '), Buffer.from('fds')], { fds: [p.writeFd] });
  closeOwned(t, p.writeFd);
  const msg = await within(b.receive(), 'dgram message');
  t.is(msg.data.toString(), 'hello fds');
  t.deepEqual(msg.creds, { pid: process.pid, uid: process.getuid?.(), gid: process.getgid?.() });
  t.is(msg.fds.length, 1);
  const fd = msg.fds[0] ?? -1;
  t.true(getCloexec(fd));
  // A pipe is no socket: the send fails, the received fd is still a working pipe end.
  const notSocket = UnixSocket.fromFd(fd, 'dgram');
  const err = await t.throwsAsync(notSocket.send(Buffer.from('x')), { instanceOf: SysError });
  t.is(err.code, 'ENOTSOCK');
  notSocket.close();
});

test('dgram: message events once a listener is added; pause stops them', async (t) => {
  const [a, b] = sockets(t, 'dgram');
  const got: string[] = [];
  b.on('message', (m: Message) => got.push(m.data.toString()));
  await a.send(Buffer.from('one'));
  await a.send(Buffer.from('two'));
  await waitFor(() => got.length === 2, 'two messages');
  t.deepEqual(got, ['one', 'two']);
  b.pause();
  await a.send(Buffer.from('three'));
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.deepEqual(got, ['one', 'two']);
  t.is((await within(b.receive(), 'receive while paused')).data.toString(), 'three');
  b.resume();
  await a.send(Buffer.from('four'));
  await waitFor(() => got.length === 3, 'fourth message');
  t.is(got[2], 'four');
});

test('dgram by path to a missing peer rejects ENOENT; the next send still works', async (t) => {
  const dir = tempDir(t);
  const where = path.join(dir, 'r.sock');
  const rfd = socket('dgram');
  bind(rfd, where);
  const receiver = UnixSocket.fromFd(rfd, 'dgram');
  const sender = UnixSocket.fromFd(socket('dgram'), 'dgram');
  t.teardown(() => {
    receiver.close();
    sender.close();
  });
  await t.throwsAsync(sender.send(Buffer.from('lost'), { path: path.join(dir, 'none.sock') }), { code: 'ENOENT' });
  await sender.send(Buffer.from('found'), { path: where });
  t.is((await within(receiver.receive(), 'by path')).data.toString(), 'found');
});

test('stream: many MB through a slow reader arrive whole and in order, with backpressure', async (t) => {
  const [a, b] = sockets(t, 'stream');
  const total = 16 * 1024 * 1024;
  const chunk = 256 * 1024;
  const pattern = (offset: number, length: number): Buffer => {
    const buf = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) buf[i] = (offset + i) % 251;
    return buf;
  };
  let received = 0;
  let mismatch = -1;
  let drains = 0;
  a.on('drain', () => drains++);
  b.on('message', (m: Message) => {
    for (let i = 0; i < m.data.length && mismatch < 0; i++) {
      if (m.data[i] !== (received + i) % 251) mismatch = received + i;
    }
    received += m.data.length;
    // Slow reader: a break after every megabyte.
    if (received % (1024 * 1024) < m.data.length) {
      b.pause();
      setTimeout(() => {
        b.resume();
      }, 10);
    }
  });
  let maxPending = 0;
  const sends: Promise<void>[] = [];
  for (let off = 0; off < total; off += chunk) {
    sends.push(a.send([pattern(off, chunk / 2), pattern(off + chunk / 2, chunk / 2)]));
    maxPending = Math.max(maxPending, a.pendingSendBytes);
  }
  t.true(maxPending > total / 2, `pendingSendBytes rose to ${maxPending}`);
  await within(Promise.all(sends), 'all sends', 60_000);
  t.is(a.pendingSendBytes, 0);
  await waitFor(() => received === total, 'all bytes', 60_000);
  t.is(mismatch, -1);
  t.true(drains >= 1);
});

test('stream: fds ride with the chunk they were sent with; fds need data', async (t) => {
  const [a, b] = sockets(t, 'stream');
  const p = pipe();
  own(t, p.readFd, p.writeFd);
  await t.throwsAsync(a.send(Buffer.alloc(0), { fds: [p.writeFd] }), { code: NativeErrorCode.InvalidArgument });
  await t.throwsAsync(a.send(Buffer.from('x'), { fds: [1 << 30] }), { code: 'EBADF' });
  await a.send(Buffer.from('with-fd'), { fds: [p.writeFd] });
  const msg = await within(b.receive(), 'chunk with fd');
  t.is(msg.data.toString(), 'with-fd');
  t.is(msg.fds.length, 1);
  close(msg.fds[0] ?? -1);
});

test('seqpacket server: mode 0600, boundaries kept, peer credentials, end on peer close', async (t) => {
  const dir = tempDir(t);
  const where = path.join(dir, 'rpc.sock');
  const server = UnixServer.listen(where, 'seqpacket', { mode: 0o600 });
  t.teardown(() => {
    server.close();
  });
  const st = fs.statSync(where);
  t.true(st.isSocket());
  t.is(st.mode & 0o777, 0o600);
  const accepted = once(server, 'connection') as Promise<[UnixSocket]>;
  const client = UnixSocket.connect(where, 'seqpacket');
  t.teardown(() => {
    client.close();
  });
  const [conn] = await within(accepted, 'connection');
  t.teardown(() => {
    conn.close();
  });
  t.is(conn.type, 'seqpacket');
  t.deepEqual(conn.peerCred(), { pid: process.pid, uid: process.getuid?.(), gid: process.getgid?.() });
  await client.send(Buffer.from('first'));
  await client.send(Buffer.from('second'));
  t.is((await within(conn.receive(), 'first')).data.toString(), 'first');
  t.is((await within(conn.receive(), 'second')).data.toString(), 'second');
  await conn.send(Buffer.from('reply'));
  t.is((await within(client.receive(), 'reply')).data.toString(), 'reply');
  const ended = once(conn, 'end');
  conn.resume();
  client.close();
  await within(ended, 'end');
  await t.throwsAsync(conn.receive(), { code: NativeErrorCode.SocketClosed });
  const closed = once(server, 'close');
  server.close();
  await closed;
  t.false(fs.existsSync(where));
});

test('stream server from an fd; connect to a missing path throws ENOENT', async (t) => {
  const dir = tempDir(t);
  const where = path.join(dir, 's.sock');
  t.throws(() => UnixSocket.connect(where, 'stream'), { code: 'ENOENT' });
  const fd = socket('stream');
  bind(fd, where);
  listen(fd, 4);
  const server = UnixServer.fromFd(fd, 'stream');
  t.teardown(() => {
    server.close();
  });
  t.is(server.path, null);
  const accepted = once(server, 'connection') as Promise<[UnixSocket]>;
  const client = UnixSocket.connect(where, 'stream');
  const [conn] = await within(accepted, 'connection');
  t.teardown(() => {
    conn.close();
  });
  await client.send(Buffer.from('ping'));
  t.is((await within(conn.receive(), 'ping')).data.toString(), 'ping');
  const ended = once(conn, 'end');
  conn.resume();
  client.close();
  await within(ended, 'end');
});

test('close rejects pending receives and later sends; sends to a closed peer reject EPIPE', async (t) => {
  const [a, b] = sockets(t, 'stream');
  const pending = b.receive();
  b.close();
  b.close();
  await t.throwsAsync(pending, { code: NativeErrorCode.SocketClosed });
  await t.throwsAsync(b.send(Buffer.from('x')), { code: NativeErrorCode.SocketClosed });
  await t.throwsAsync(a.send(Buffer.from('x')), { code: 'EPIPE' });
  await t.throwsAsync(a.send(Buffer.from('y')), { code: 'EPIPE' });
  const closed = once(a, 'close');
  a.close();
  await within(closed, 'close event');
  t.true(a.closed);
});

test('stream: a peer that closes with our data unread still delivers what it sent before the end', async (t) => {
  const [rawA, rawB] = socketpair('stream');
  // b leaves a's bytes unread and closes: the kernel flags a with ECONNRESET, yet b's reply is queued.
  t.is(write(rawA, Buffer.from('unread by b')), 11);
  t.is(write(rawB, Buffer.from('last words')), 10);
  close(rawB);
  const a = UnixSocket.fromFd(rawA, 'stream');
  t.teardown(() => {
    a.close();
  });
  const chunks: Buffer[] = [];
  a.on('message', (msg: Message) => chunks.push(msg.data));
  await within(once(a, 'end'), 'end after the queued data');
  t.is(Buffer.concat(chunks).toString(), 'last words');
});
