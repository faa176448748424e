// Hostile and broken clients against the real daemon process: each gets a coded error (on its call,
// or on the connection before it is closed) while a well-behaved client keeps being served.
import test, { type ExecutionContext } from 'ava';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { close, pipe } from '@logwarden/core/native';
import { MSG, METHOD_IDS, encodeFrameHeader, type Message, type RpcClient } from '@logwarden/core/protocol';
import { RawClient } from './raw-client.js';
import { domain, spawnDaemon, type RunningDaemon } from './helpers.js';

function errorCode(t: ExecutionContext, msg: Message, id: number | null): string {
  if (msg.type !== MSG.ERROR) {
    t.fail(`expected an error frame, got ${JSON.stringify(msg)}`);
    return '';
  }
  t.is(msg.id, id);
  return msg.error.code;
}

/** The good client's canary: it must be answered after every bad thing the others did. */
async function stillServed(t: ExecutionContext, good: RpcClient): Promise<void> {
  const { result } = await good.call('append', { driver: 'qemu', domain, path: 'good.log', data: Buffer.from('still here\n') });
  t.true(result.position.offset > 0);
}

async function withDaemon(t: ExecutionContext): Promise<{ d: RunningDaemon; good: RpcClient }> {
  const d = await spawnDaemon(t);
  const good = await d.connect();
  t.teardown(() => { good.close(); });
  return { d, good };
}

/** A frame whose header says `length` bytes of body follow, and whose body is `body`. */
function rawFrame(body: Buffer, fdCount = 0): Buffer[] {
  return [encodeFrameHeader(body.length, fdCount), body];
}

test('connection-level garbage: bad magic, malformed and truncated msgpack, oversized frame, too many fds', async (t) => {
  const { d, good } = await withDaemon(t);
  const cases: { name: string; code: string; send: (c: RawClient) => Promise<void> }[] = [
    { name: 'bad magic', code: 'LW_ERR_PROTO_BAD_MAGIC', send: (c) => c.send(Buffer.from('GET / HTTP/1.1\r\n\r\n')) },
    // 0xc1 is the one byte msgpack never uses.
    { name: 'malformed msgpack', code: 'LW_ERR_PROTO_MALFORMED', send: (c) => c.send(rawFrame(Buffer.from([0xc1, 0xc1, 0xc1]))) },
    // A map announcing 5 entries that holds one: the body ends inside the value.
    { name: 'truncated msgpack', code: 'LW_ERR_PROTO_MALFORMED', send: (c) => c.send(rawFrame(Buffer.from([0x85, 0xa4, 0x74, 0x79, 0x70, 0x65, 0x00]))) },
    { name: 'oversized frame', code: 'LW_ERR_PROTO_FRAME_TOO_LARGE', send: (c) => c.send(oversizedHeader()) },
    { name: 'too many fds declared', code: 'LW_ERR_PROTO_TOO_MANY_FDS', send: (c) => c.send(Buffer.from([0x4c, 0x57, 1, 5, 0, 0, 0, 1, 0xc0])) },
    {
      // More fds than any frame may carry arrive with a frame that declares one.
      name: 'too many fds sent',
      code: 'LW_ERR_PROTO_TOO_MANY_FDS',
      send: async (c) => {
        const fds: number[] = [];
        for (let i = 0; i < 3; i++) {
          const p = pipe();
          fds.push(p.readFd, p.writeFd);
        }
        try {
          await c.send(rawFrame(Buffer.from([0xc0]), 1), fds);
        } finally {
          for (const fd of fds) close(fd);
        }
      },
    },
  ];
  for (const k of cases) {
    const c = k.name === 'bad magic' ? RawClient.connect(d.socketPath) : await RawClient.hello(d.socketPath);
    t.teardown(() => { c.close(); });
    await k.send(c);
    const code = errorCode(t, await c.next(), null);
    t.is(code, k.code, k.name);
    t.true(await c.closedByPeer(), `${k.name}: connection closed`);
    await stillServed(t, good);
  }
});

function oversizedHeader(): Buffer {
  const h = Buffer.from([0x4c, 0x57, 1, 0, 0, 0, 0, 0]);
  h.writeUInt32BE(9 * 1024 * 1024, 4);
  return h;
}

test('call-level errors: unknown method, unknown flags, wrong argument types; the connection goes on', async (t) => {
  const { d, good } = await withDaemon(t);
  const c = await RawClient.hello(d.socketPath);
  t.teardown(() => { c.close(); });
  const calls: { args: unknown; method: number; flags?: number; code: string; field?: string }[] = [
    { method: 99, args: {}, code: 'LW_ERR_PROTO_UNKNOWN_METHOD' },
    { method: METHOD_IDS.openLog, args: { driver: 'qemu', domain, path: 'x.log' }, flags: 6, code: 'LW_ERR_PROTO_UNKNOWN_FLAGS' },
    { method: METHOD_IDS.list, args: {}, flags: 1, code: 'LW_ERR_PROTO_UNKNOWN_FLAGS' },
    { method: METHOD_IDS.read, args: { path: 'good.log', position: { inode: '0', offset: 0 }, maxLen: 'x' }, code: 'LW_ERR_PROTO_BAD_ARGS', field: 'maxLen' },
    { method: METHOD_IDS.read, args: { path: 5, position: { inode: '0', offset: 0 }, maxLen: 1 }, code: 'LW_ERR_PROTO_BAD_ARGS', field: 'path' },
    { method: METHOD_IDS.read, args: { path: 'good.log', position: { inode: -1, offset: 0 }, maxLen: 1 }, code: 'LW_ERR_PROTO_BAD_ARGS', field: 'position.inode' },
    { method: METHOD_IDS.openLog, args: { driver: 'qemu', domain: 'vm1', path: 'x.log' }, code: 'LW_ERR_PROTO_BAD_ARGS', field: 'domain' },
    { method: METHOD_IDS.openLog, args: { driver: 'qemu', domain, path: 'x.log', maxSize: 10 }, code: 'LW_ERR_PROTO_BAD_ARGS', field: 'maxSize' },
    { method: METHOD_IDS.append, args: { driver: 'qemu', domain, path: 'x.log', data: 'text, not bytes' }, code: 'LW_ERR_PROTO_BAD_ARGS', field: 'data' },
    { method: METHOD_IDS.setLogLevel, args: { level: 'verbose' }, code: 'LW_ERR_PROTO_BAD_ARGS', field: 'level' },
    { method: METHOD_IDS.list, args: { extra: true }, code: 'LW_ERR_PROTO_BAD_ARGS', field: 'extra' },
  ];
  let id = 10;
  for (const k of calls) {
    id++;
    await c.call(id, k.method, k.args, k.flags ?? 0);
    const msg = await c.next();
    t.is(errorCode(t, msg, id), k.code, JSON.stringify(k));
    if (k.field !== undefined && msg.type === MSG.ERROR) t.like(msg.error.data, { field: k.field });
  }
  // The same connection still works.
  await c.call(++id, METHOD_IDS.list, {});
  t.is((await c.next()).type, MSG.REPLY);
  await stillServed(t, good);
});

test('paths escaping the log root, directly or through symlinks, are refused with LW_ERR_PATH_*', async (t) => {
  const { d, good } = await withDaemon(t);
  const outside = join(d.dir, 'outside');
  mkdirSync(outside);
  mkdirSync(join(d.logRoot, 'real'));
  symlinkSync(outside, join(d.logRoot, 'linkdir'));
  writeFileSync(join(outside, 'target.log'), 'secret\n');
  symlinkSync(join(outside, 'target.log'), join(d.logRoot, 'linkfile.log'));
  const c = await RawClient.hello(d.socketPath);
  t.teardown(() => { c.close(); });
  const cases: { path: string; code: string }[] = [
    { path: '../x.log', code: 'LW_ERR_PATH_OUTSIDE_ROOT' },
    { path: 'real/../../x.log', code: 'LW_ERR_PATH_OUTSIDE_ROOT' },
    { path: '/etc/x.log', code: 'LW_ERR_PATH_OUTSIDE_ROOT' },
    { path: join(outside, 'x.log'), code: 'LW_ERR_PATH_OUTSIDE_ROOT' },
    { path: 'linkdir/x.log', code: 'LW_ERR_PATH_SYMLINK' },
    { path: 'linkfile.log', code: 'LW_ERR_PATH_SYMLINK' },
    { path: 'real', code: 'LW_ERR_PATH_NOT_REGULAR' },
    { path: 'real/', code: 'LW_ERR_PATH_INVALID' },
  ];
  let id = 0;
  for (const k of cases) {
    for (const method of ['openLog', 'append'] as const) {
      const args = method === 'openLog'
        ? { driver: 'qemu', domain, path: k.path }
        : { driver: 'qemu', domain, path: k.path, data: Buffer.from('x\n') };
      await c.call(++id, METHOD_IDS[method], args);
      t.is(errorCode(t, await c.next(), id), k.code, `${method} ${k.path}`);
    }
    await c.call(++id, METHOD_IDS.read, { path: k.path, position: { inode: '0', offset: 0 }, maxLen: 100 });
    t.is(errorCode(t, await c.next(), id), k.code, `read ${k.path}`);
  }
  await stillServed(t, good);
});
