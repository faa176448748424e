// RpcServer.inject(): the same validation, dispatch and encoding as a socket call, without a socket.
import test from 'ava';
import { writeSync } from 'node:fs';
import { close, pipe } from '../../src/native/index.js';
import { LwError, RpcServer, type StreamSink } from '../../src/protocol/index.js';
import { readToEof, until } from './rpc-helpers.js';

const position = { inode: '9', offset: 0 };

function server(readEnds: number[], sinks: StreamSink[] = []): RpcServer {
  return new RpcServer(
    {
      list: () => Promise.resolve({ result: { logs: [] } }),
      openLog: () => {
        const p = pipe();
        readEnds.push(p.readFd);
        return Promise.resolve({ result: { position }, fds: [p.writeFd] });
      },
      follow: (ctx) => {
        const sink = ctx.openStream();
        sinks.push(sink);
        void (async () => {
          for (let i = 1; i <= 3; i++) await sink.write({ data: Buffer.from([i]), position: { inode: '9', offset: i }, gap: 0 });
          sink.end();
        })();
        return Promise.resolve({ result: { streamId: sink.streamId } });
      },
    },
    { authorize: (peer) => peer.uid !== 4242, maxClients: 1, serverName: 'inject' },
  );
}

test('inject runs handlers and returns results through the codec', async (t) => {
  const s = server([]);
  t.deepEqual((await s.inject('list', {})).result, { logs: [] });
  t.is(s.clientCount, 0);
});

test('inject validates like the socket path', async (t) => {
  const s = server([]);
  const err = await t.throwsAsync(s.inject('getPosition', { path: '' }));
  t.true(err instanceof LwError && err.code === 'LW_ERR_PROTO_BAD_ARGS');
  const flags = await t.throwsAsync(s.inject('list', { flags: 8 }));
  t.true(flags instanceof LwError && flags.code === 'LW_ERR_PROTO_UNKNOWN_FLAGS');
  const missing = await t.throwsAsync(s.inject('upgrade', {}));
  t.true(missing instanceof LwError && missing.code === 'LW_ERR_RPC_NOT_IMPLEMENTED');
  const denied = await t.throwsAsync(s.inject('list', {}, { peer: { pid: 1, uid: 4242, gid: 0 } }));
  t.true(denied instanceof LwError && denied.code === 'LW_ERR_AUTH_DENIED');
});

test('inject hands back fds the caller owns; the server closed its own copy', async (t) => {
  const readEnds: number[] = [];
  const s = server(readEnds);
  const { fds } = await s.inject('openLog', { driver: 'qemu', domain: null, path: 'x.log' });
  t.is(fds.length, 1);
  const [fd] = fds as [number];
  writeSync(fd, 'via inject');
  close(fd);
  const readFd = readEnds[0] ?? -1;
  t.is((await readToEof(readFd, 10_000)).toString(), 'via inject');
  close(readFd);
});

test('inject delivers follow events and the end', async (t) => {
  const s = server([]);
  const got: number[] = [];
  let ended = false;
  const { result } = await s.inject(
    'follow',
    { path: 'x', position },
    {
      onEvent: (ev) => got.push(ev.data[0] ?? -1),
      onEnd: (_id, err) => {
        ended = err === null;
      },
    },
  );
  t.is(result.streamId, 1);
  await until(() => ended, 10_000, 'the stream to end');
  t.deepEqual(got, [1, 2, 3]);
});
