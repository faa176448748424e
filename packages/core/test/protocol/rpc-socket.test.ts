// RpcServer + RpcClient over real UNIX sockets, with small real handlers defined here.
import test from 'ava';
import { writeSync } from 'node:fs';
import { UnixSocket, bind, close, constants, fcntlGetFd, getNonblock, listen, pipe, socket } from '../../src/native/index.js';
import {
  FRAME_HEADER_BYTES,
  LwError,
  METHOD_IDS,
  MSG,
  OPEN_FLAGS,
  PROTOCOL_VERSION,
  RpcClient,
  RpcServer,
  encodeFrame,
  encodeFrameHeader,
  type Message,
  type Peer,
  type RpcHandlers,
  type StreamSink,
} from '../../src/protocol/index.js';
import { closeAll, collectUntilEnd, readToEof, sleep, tempDir, until, within } from './rpc-helpers.js';

const pos = (offset: number): { inode: string; offset: number } => ({ inode: '4242', offset });

interface Harness {
  server: RpcServer;
  sock: string;
  /** read ends of the pipes handed out by openLog, by path */
  pipes: Map<string, number>;
  peers: Peer[];
  aborted: string[];
  follow: { sink: StreamSink | null; written: number; writeError: unknown };
  cleanup(): Promise<void>;
}

function harness(opts: { maxClients?: number; authorize?: (p: Peer) => boolean; handlers?: Partial<RpcHandlers> } = {}): Harness {
  const tmp = tempDir();
  const pipes = new Map<string, number>();
  const peers: Peer[] = [];
  const aborted: string[] = [];
  const follow: Harness['follow'] = { sink: null, written: 0, writeError: null };
  const handlers: RpcHandlers = {
    list: () => Promise.resolve({ result: { logs: [] } }),
    getPosition: (_ctx, args) => Promise.resolve({ result: { position: pos(Buffer.byteLength(args.path)) } }),
    append: (_ctx, args) => Promise.resolve({ result: { position: pos(args.data.length) } }),
    read: (_ctx, args) =>
      Promise.resolve({
        result: { data: Buffer.alloc(args.maxLen, 0x61), position: pos(args.position.offset + args.maxLen), gap: 0 },
      }),
    // A real pipe: the write end goes to the client, the read end stays here for the test to check.
    openLog: async (ctx, args) => {
      if (args.path.startsWith('slow')) await sleep(600);
      const p = pipe();
      pipes.set(args.path, p.readFd);
      peers.push(ctx.peer);
      return { result: { position: pos(args.flags) }, fds: [p.writeFd] };
    },
    removeLog: (_ctx, args) => Promise.reject(new LwError('LW_ERR_LOG_NOT_FOUND', `no log ${args.path}`, { path: args.path })),
    closeLog: () => Promise.reject(new Error('secret internal detail')),
    // Waits until the client goes away (or a long time), recording the abort.
    stats: async (ctx, args) => {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, args.path === 'short' ? 300 : 20_000);
        ctx.signal.addEventListener('abort', () => {
          clearTimeout(t);
          aborted.push(String(args.path));
          resolve();
        });
      });
      return { result: { uptimeMs: 1, upgrades: 0, logs: [] } };
    },
    follow: (ctx, args) => {
      const sink = ctx.openStream();
      follow.sink = sink;
      const total = args.path === 'endless' ? Infinity : Number(args.path.split(':')[1] ?? '0');
      void (async () => {
        try {
          for (let i = 0; i < total; i++) {
            await sink.write({ data: Buffer.from(`event ${i}\n`), position: pos(i + 1), gap: i === 0 ? 7 : 0 });
            follow.written++;
          }
          if (args.path.startsWith('fail')) sink.end(new LwError('LW_ERR_LOG_IO', 'disk gone'));
          else sink.end();
        } catch (err) {
          follow.writeError = err;
        }
      })();
      return Promise.resolve({ result: { streamId: sink.streamId } });
    },
    ...opts.handlers,
  };
  const server = new RpcServer(handlers, {
    authorize: opts.authorize ?? (() => true),
    maxClients: opts.maxClients ?? 16,
    serverName: 'test-server',
  });
  server.listen(tmp.sock);
  return {
    server,
    sock: tmp.sock,
    pipes,
    peers,
    aborted,
    follow,
    cleanup: async () => {
      await server.close();
      closeAll([...pipes.values()]);
      tmp.cleanup();
    },
  };
}

async function errorOf(p: Promise<unknown>): Promise<LwError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof LwError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

test('hello, calls, typed results, binary data', async (t) => {
  const h = harness();
  const c = await RpcClient.connect(h.sock, { clientName: 'ava' });
  try {
    t.is(c.server.version, PROTOCOL_VERSION);
    t.is(c.server.server, 'test-server');
    t.true(c.server.methods.includes('follow') && !c.server.methods.includes('upgrade'));
    t.deepEqual((await c.call('list', {})).result, { logs: [] });
    t.is((await c.call('getPosition', { path: 'héllo' })).result.position.offset, 6);
    const r = await c.call('read', { path: 'x', position: pos(10), maxLen: 300_000 });
    t.is(r.result.data.length, 300_000);
    t.true(r.result.data.every((b) => b === 0x61));
    t.deepEqual(r.result.position, pos(300_010));
    const bin = new Uint8Array([0, 255, 10, 13, 0]);
    t.is((await c.call('append', { driver: 'cli', domain: null, path: 'a', data: bin })).result.position.offset, 5);
  } finally {
    c.close();
    await h.cleanup();
  }
});

test('openLog hands back a real pipe write end; the server closes its copy', async (t) => {
  const h = harness();
  const c = await RpcClient.connect(h.sock);
  try {
    const { result, fds } = await c.call('openLog', {
      driver: 'qemu',
      domain: { uuid: '9b2f4c1e-2a44-4bd5-8f0c-6f1b7f0e0a11', name: 'g1' },
      path: 'g1.log',
      flags: OPEN_FLAGS.TRUNCATE,
    });
    t.is(result.position.offset, OPEN_FLAGS.TRUNCATE);
    t.is(fds.length, 1);
    const [fd] = fds as [number];
    t.is(fcntlGetFd(fd) & constants.FD_CLOEXEC, constants.FD_CLOEXEC, 'received fds are CLOEXEC');
    t.true(getNonblock(fd));
    t.is(h.peers[0]?.pid, process.pid);
    t.is(h.peers[0]?.uid, process.getuid?.());
    writeSync(fd, 'guest says hi\n');
    close(fd);
    const readFd = h.pipes.get('g1.log');
    if (readFd === undefined) throw new Error('no pipe');
    // EOF proves no other copy of the write end is left open in this process (the server closed its own).
    t.is((await readToEof(readFd, 10_000)).toString(), 'guest says hi\n');
  } finally {
    c.close();
    await h.cleanup();
  }
});

test('errors are coded; handler internals never leak; the connection stays usable', async (t) => {
  const h = harness();
  const c = await RpcClient.connect(h.sock);
  try {
    const nf = await errorOf(c.call('removeLog', { path: 'nope' }));
    t.is(nf.code, 'LW_ERR_LOG_NOT_FOUND');
    t.deepEqual(nf.data, { path: 'nope' });
    const internal = await errorOf(c.call('closeLog', { path: 'x' }));
    t.is(internal.code, 'LW_ERR_INTERNAL');
    t.notRegex(internal.message, /secret/);
    t.is((await errorOf(c.call('getPosition', { path: 'x', flags: 2 }))).code, 'LW_ERR_PROTO_UNKNOWN_FLAGS');
    t.is((await errorOf(c.call('getPosition', { path: '' }))).code, 'LW_ERR_PROTO_BAD_ARGS');
    t.is((await errorOf(c.call('getPosition', { path: 3 } as unknown as { path: string }))).code, 'LW_ERR_PROTO_BAD_ARGS');
    t.is((await errorOf(c.call('upgrade', {}))).code, 'LW_ERR_RPC_NOT_IMPLEMENTED');
    t.is((await errorOf(c.call('cancel', { streamId: 99 }))).code, 'LW_ERR_RPC_UNKNOWN_STREAM');
    // A call with an fd to a method that takes none: refused, and the server closed what it got.
    const p = pipe();
    const unexpected = await errorOf(c.call('list', {}, { fds: [p.writeFd] }));
    t.is(unexpected.code, 'LW_ERR_PROTO_UNEXPECTED_FDS');
    close(p.writeFd);
    t.is((await readToEof(p.readFd, 10_000)).length, 0);
    close(p.readFd);
    t.deepEqual((await c.call('list', {})).result, { logs: [] });
  } finally {
    c.close();
    await h.cleanup();
  }
});

/** A raw client that sends `bytes` (+fds) once connected and returns what it gets until the server closes. */
async function hostile(path: string, send: (s: UnixSocket) => Promise<void>): Promise<Message[]> {
  const s = UnixSocket.connect(path, 'stream');
  const collected = collectUntilEnd(s);
  await send(s).catch(() => undefined);
  const { messages, fds } = await within(collected, 20_000, 'the server to close a hostile client');
  closeAll(fds);
  s.close();
  return messages;
}

function helloFrame(): Buffer[] {
  return encodeFrame({ type: MSG.CALL, id: 1, method: METHOD_IDS.hello, flags: 0, args: { version: 1 } });
}

function connectionError(messages: Message[]): string | undefined {
  const last = messages.at(-1);
  return last?.type === MSG.ERROR && last.id === null ? last.error.code : undefined;
}

test('hostile clients get their coded error and are closed while another client is served', async (t) => {
  const h = harness();
  const good = await RpcClient.connect(h.sock);
  try {
    const cases: [string, (s: UnixSocket) => Promise<void>, string][] = [
      ['garbage', (s) => s.send(Buffer.from('GET / HTTP/1.1\r\n\r\n')), 'LW_ERR_PROTO_BAD_MAGIC'],
      ['oversized header', (s) => s.send(encodeFrameHeader(100, 0).fill(0xff, 4)), 'LW_ERR_PROTO_FRAME_TOO_LARGE'],
      ['malformed msgpack', async (s) => {
        await s.send(helloFrame());
        const body = Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff, 0x01]);
        await s.send([encodeFrameHeader(body.length, 0), body]);
      }, 'LW_ERR_PROTO_MALFORMED'],
      ['call before hello', (s) => s.send(encodeFrame({ type: MSG.CALL, id: 1, method: METHOD_IDS.list, flags: 0, args: {} })), 'LW_ERR_PROTO_HELLO_REQUIRED'],
      ['wrong version', (s) => s.send(encodeFrame({ type: MSG.CALL, id: 1, method: METHOD_IDS.hello, flags: 0, args: { version: 99 } })), 'LW_ERR_PROTO_VERSION'],
      ['declared fd never sent', async (s) => {
        await s.send(helloFrame());
        const [, body] = encodeFrame({ type: MSG.CALL, id: 2, method: METHOD_IDS.list, flags: 0, args: {} });
        await s.send([encodeFrameHeader(body.length, 1), body]);
      }, 'LW_ERR_PROTO_FD_MISMATCH'],
      ['server-only message type', async (s) => {
        await s.send(helloFrame());
        await s.send(encodeFrame({ type: MSG.REPLY, id: 5, result: {} }));
      }, 'LW_ERR_PROTO_MALFORMED'],
    ];
    for (const [title, send, code] of cases) {
      const served = good.call('getPosition', { path: title });
      const messages = await hostile(h.sock, send);
      t.is(connectionError(messages), code, `${title}: ${JSON.stringify(messages)}`);
      t.is((await served).result.position.offset, Buffer.byteLength(title), `${title}: the good client is served`);
    }
    t.is((await good.call('getPosition', { path: 'still' })).result.position.offset, 5);
  } finally {
    good.close();
    await h.cleanup();
  }
});

test('10 fds on one frame: refused with TOO_MANY_FDS, and the server closes every one it received', async (t) => {
  const h = harness();
  const good = await RpcClient.connect(h.sock);
  const pipes = Array.from({ length: 10 }, () => pipe());
  try {
    const messages = await hostile(h.sock, async (s) => {
      await s.send(helloFrame());
      const [, body] = encodeFrame({ type: MSG.CALL, id: 2, method: METHOD_IDS.list, flags: 0, args: {} });
      // The header lies (4 fds) so only the received count can give it away.
      await s.send([encodeFrameHeader(body.length, 4), body], { fds: pipes.map((p) => p.writeFd) });
    });
    t.is(connectionError(messages), 'LW_ERR_PROTO_TOO_MANY_FDS');
    closeAll(pipes.map((p) => p.writeFd));
    // Every write end the server got (and the ones the kernel dropped) is closed: each read end sees EOF.
    for (const p of pipes) t.is((await readToEof(p.readFd, 10_000)).length, 0);
    t.deepEqual((await good.call('list', {})).result, { logs: [] });
  } finally {
    closeAll(pipes.map((p) => p.readFd));
    good.close();
    await h.cleanup();
  }
});

test('a client that disconnects mid-frame does not disturb the server', async (t) => {
  const h = harness();
  const good = await RpcClient.connect(h.sock);
  try {
    const s = UnixSocket.connect(h.sock, 'stream');
    await s.send(helloFrame());
    const [header, body] = encodeFrame({ type: MSG.CALL, id: 2, method: METHOD_IDS.list, flags: 0, args: {} });
    await s.send(Buffer.concat([header, body]).subarray(0, FRAME_HEADER_BYTES + 2));
    s.close();
    await until(() => h.server.clientCount === 1, 10_000, 'the truncated client to be dropped');
    t.deepEqual((await good.call('list', {})).result, { logs: [] });
  } finally {
    good.close();
    await h.cleanup();
  }
});

test('authorize() sees SO_PEERCRED; a refused client gets LW_ERR_AUTH_DENIED', async (t) => {
  const seen: Peer[] = [];
  const h = harness({
    authorize: (peer) => {
      seen.push(peer);
      return seen.length > 1;
    },
  });
  try {
    const denied = await errorOf(RpcClient.connect(h.sock));
    t.is(denied.code, 'LW_ERR_AUTH_DENIED');
    t.false(denied.retryable);
    t.is(seen[0]?.pid, process.pid);
    t.is(seen[0]?.uid, process.getuid?.());
    t.is(seen[0]?.gid, process.getgid?.());
    const ok = await RpcClient.connect(h.sock);
    t.deepEqual((await ok.call('list', {})).result, { logs: [] });
    ok.close();
  } finally {
    await h.cleanup();
  }
});

test('maxClients: one too many is refused with a retryable code', async (t) => {
  const h = harness({ maxClients: 1 });
  const first = await RpcClient.connect(h.sock);
  try {
    const err = await errorOf(RpcClient.connect(h.sock));
    t.is(err.code, 'LW_ERR_RPC_TOO_MANY_CLIENTS');
    t.true(err.retryable);
    first.close();
    await until(() => h.server.clientCount === 0, 10_000, 'the first client to go');
    const again = await RpcClient.connect(h.sock);
    again.close();
  } finally {
    await h.cleanup();
  }
});

test('a timed-out call rejects retryably; its late reply is discarded and its fd closed', async (t) => {
  const h = harness();
  const c = await RpcClient.connect(h.sock);
  try {
    const err = await errorOf(c.call('openLog', { driver: 'qemu', domain: null, path: 'slow.log' }, { timeoutMs: 100 }));
    t.is(err.code, 'LW_ERR_RPC_TIMEOUT');
    t.true(err.retryable);
    await until(() => h.pipes.has('slow.log'), 10_000, 'the slow handler to finish');
    const readFd = h.pipes.get('slow.log') ?? -1;
    // The server closed its copy after sending, the client closed the late one: EOF.
    t.is((await readToEof(readFd, 10_000)).length, 0);
    t.deepEqual((await c.call('list', {})).result, { logs: [] });
  } finally {
    c.close();
    await h.cleanup();
  }
});

test('AbortSignal rejects a call; a disconnect aborts the server-side handler signal', async (t) => {
  const h = harness();
  const c = await RpcClient.connect(h.sock);
  const ac = new AbortController();
  const p = c.call('stats', { path: 'long-1' }, { signal: ac.signal, timeoutMs: 0 });
  setTimeout(() => { ac.abort(); }, 50);
  t.is((await errorOf(p)).code, 'LW_ERR_RPC_ABORTED');
  const pending = c.call('stats', { path: 'long-2' }, { timeoutMs: 0 });
  await sleep(100);
  c.close();
  t.is((await errorOf(pending)).code, 'LW_ERR_RPC_CLOSED');
  await until(() => h.aborted.includes('long-2') && h.aborted.includes('long-1'), 10_000, 'handlers to see the abort');
  t.pass();
  await h.cleanup();
});

test('follow: events in order, gap, clean end', async (t) => {
  const h = harness();
  const c = await RpcClient.connect(h.sock);
  try {
    const got: string[] = [];
    let firstGap = -1;
    for await (const ev of c.follow({ path: 'n:50', position: pos(0) }, { credit: { events: 4, bytes: 1 << 20 } })) {
      if (firstGap < 0) firstGap = ev.gap;
      got.push(Buffer.from(ev.data).toString());
    }
    t.is(got.length, 50);
    t.is(got[49], 'event 49\n');
    t.is(firstGap, 7);
  } finally {
    c.close();
    await h.cleanup();
  }
});

test('follow backpressure: a slow consumer holds the server writes to the credit window', async (t) => {
  const h = harness();
  const c = await RpcClient.connect(h.sock);
  try {
    const stream = c.follow({ path: 'endless', position: pos(0) }, { credit: { events: 4, bytes: 1 << 20 } });
    const it = stream[Symbol.asyncIterator]();
    const first = await it.next();
    t.false(first.done);
    // Consumer stops: the server may send at most the window (4) and then its writes wait.
    await sleep(500);
    t.true(h.follow.written <= 4, `server wrote ${h.follow.written} with a window of 4`);
    t.true(stream.buffered <= 4);
    // Consuming grants credit back in half-window batches, and the server moves on.
    for (let i = 0; i < 20; i++) await it.next();
    await until(() => h.follow.written >= 20, 10_000, 'the server to continue');
    await sleep(300);
    t.true(h.follow.written <= 21 + 4, `server wrote ${h.follow.written} after 21 consumed`);
    // Leaving the loop cancels: the server's pending write rejects with a coded error.
    await it.return();
    await until(() => h.follow.writeError !== null, 10_000, 'the pump to stop');
    t.is((h.follow.writeError as LwError).code, 'LW_ERR_RPC_STREAM_CLOSED');
    await within(h.follow.sink?.closed ?? Promise.resolve(), 10_000, 'sink.closed');
    t.deepEqual((await c.call('list', {})).result, { logs: [] });
  } finally {
    c.close();
    await h.cleanup();
  }
});

test('follow: a stream ended with an error throws it; a dropped connection ends it with RPC_CLOSED', async (t) => {
  const h = harness();
  const c = await RpcClient.connect(h.sock);
  try {
    const got: number[] = [];
    const err = await errorOf((async () => {
      for await (const ev of c.follow({ path: 'fail:3', position: pos(0) })) got.push(ev.position.offset);
    })());
    t.is(err.code, 'LW_ERR_LOG_IO');
    t.deepEqual(got, [1, 2, 3]);
    const endless = c.follow({ path: 'endless', position: pos(0) }, { credit: { events: 2, bytes: 1 << 20 } });
    const it = endless[Symbol.asyncIterator]();
    await it.next();
    setTimeout(() => { c.close(); }, 100);
    const closed = await errorOf((async () => { for (;;) { const r = await it.next(); if (r.done === true) return; } })());
    t.is(closed.code, 'LW_ERR_RPC_CLOSED');
    await until(() => h.follow.writeError !== null, 10_000, 'the server pump to see the disconnect');
    t.is((h.follow.writeError as LwError).code, 'LW_ERR_RPC_STREAM_CLOSED');
  } finally {
    c.close();
    await h.cleanup();
  }
});

test('connect to a missing socket is a retryable LW_ERR_RPC_CONNECT', async (t) => {
  const tmp = tempDir();
  const err = await errorOf(RpcClient.connect(tmp.sock));
  t.is(err.code, 'LW_ERR_RPC_CONNECT');
  t.true(err.retryable);
  t.like(err.data, { errno: 'ENOENT' });
  tmp.cleanup();
});

test('server close disconnects clients with a retryable code; a stale socket path is replaced', async (t) => {
  const h = harness();
  const c = await RpcClient.connect(h.sock);
  const pending = c.call('stats', { path: 'long-3' }, { timeoutMs: 0 });
  await sleep(50);
  await h.server.close();
  const err = await errorOf(pending);
  t.is(err.code, 'LW_ERR_RPC_CLOSED');
  t.true(err.retryable);
  // A dead daemon's socket file: bind fails with EADDRINUSE, nobody answers, listen() replaces it.
  const dead = socket('stream');
  bind(dead, h.sock);
  listen(dead, 1);
  close(dead);
  const s2 = new RpcServer({}, { authorize: () => true, maxClients: 1, serverName: 'b' });
  s2.listen(h.sock);
  const c2 = await RpcClient.connect(h.sock);
  t.is(c2.server.server, 'b');
  c2.close();
  await s2.close();
  await h.cleanup();
});

test('a client with too many calls running is not read from until some finish', async (t) => {
  const tmp = tempDir();
  let active = 0;
  let maxActive = 0;
  const server = new RpcServer(
    {
      getPosition: async () => {
        active++;
        maxActive = Math.max(maxActive, active);
        await sleep(50);
        active--;
        return { result: { position: pos(0) } };
      },
    },
    { authorize: () => true, maxClients: 2, serverName: 'busy', maxCallsInFlight: 2 },
  );
  server.listen(tmp.sock);
  const c = await RpcClient.connect(tmp.sock);
  try {
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => c.call('getPosition', { path: `p${i}` })));
    t.is(results.length, 8);
    t.is(maxActive, 2);
  } finally {
    c.close();
    await server.close();
    tmp.cleanup();
  }
});

test('streams per connection are bounded; cancelling one makes room', async (t) => {
  const tmp = tempDir();
  const server = new RpcServer(
    {
      follow: (ctx) => Promise.resolve({ result: { streamId: ctx.openStream().streamId } }),
    },
    { authorize: () => true, maxClients: 2, serverName: 'streams', maxStreamsPerConnection: 2 },
  );
  server.listen(tmp.sock);
  const c = await RpcClient.connect(tmp.sock);
  try {
    const a = c.follow({ path: 'a', position: pos(0) });
    const b = c.follow({ path: 'b', position: pos(0) });
    const started = (s: typeof a): Promise<void> =>
      new Promise((resolve, reject) => {
        s.next().then(() => { reject(new Error('no event expected')); }, reject);
        void until(() => s.streamId !== null, 10_000, 'the stream id').then(resolve, reject);
      });
    await started(a);
    await started(b);
    const third = await errorOf(c.follow({ path: 'c', position: pos(0) }).next());
    t.is(third.code, 'LW_ERR_RPC_TOO_MANY_STREAMS');
    t.true(third.retryable);
    await a.return();
    const d = c.follow({ path: 'd', position: pos(0) });
    const dNext = d.next();
    await until(() => d.streamId !== null, 10_000, 'room for a new stream');
    t.not(d.streamId, null);
    void dNext.catch(() => undefined);
  } finally {
    c.close();
    await server.close();
    tmp.cleanup();
  }
});

test('a client that sends big reads and never takes the replies makes the server stop admitting reads', async (t) => {
  const tmp = tempDir();
  const maxLen = 4 * 1024 * 1024;
  let started = 0;
  const server = new RpcServer(
    {
      read: async (ctx, args) => {
        started++;
        const data = Buffer.alloc(args.maxLen);
        await sleep(100);
        return { result: { data, position: pos(args.maxLen), gap: 0 } };
      },
    },
    { authorize: () => true, maxClients: 2, serverName: 'reads', maxPendingSendBytes: 16 * 1024 * 1024 },
  );
  server.listen(tmp.sock);
  const s = UnixSocket.connect(tmp.sock, 'stream');
  try {
    const frames = [helloFrame()];
    for (let id = 2; id < 102; id++) {
      frames.push(encodeFrame({ type: MSG.CALL, id, method: METHOD_IDS.read, flags: 0, args: { path: 'x', position: pos(0), maxLen } }));
    }
    await s.send(frames.flat());
    await sleep(1000);
    // 16 MiB of promised replies = 4 reads of 4 MiB; without the reservation all 64 allowed calls would run.
    t.true(started >= 1 && started <= 4, `${started} reads admitted`);
  } finally {
    s.close();
    await server.close();
    tmp.cleanup();
  }
});
