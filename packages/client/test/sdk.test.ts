// The SDK against a real RpcServer with file-backed handlers: real pipes, files and child processes.
import test from 'ava';
import { once } from 'node:events';
import { readFileSync, writeSync } from 'node:fs';
import { constants, fcntlGetFd, getNonblock, close } from '@logwarden/core/native';
import { LwError, POSITION_START, connect, defaultSocketPath, spawnLogged, OPEN_FLAGS } from '../src/index.js';
import { startLogService } from './log-service.js';

const domain = { uuid: '5d3c0f38-8a3e-4c55-9d0a-0c1f0b2a7e61', name: 'guest-a' };

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('defaultSocketPath: $LOGWARDEN_SOCKET, else ./var/run/logwardend.sock', (t) => {
  t.is(defaultSocketPath({ LOGWARDEN_SOCKET: '/run/x.sock' }), '/run/x.sock');
  t.is(defaultSocketPath({}), './var/run/logwardend.sock');
  t.is(defaultSocketPath({ LOGWARDEN_SOCKET: '' }), './var/run/logwardend.sock');
});

test('connect failure is a coded, retryable error', async (t) => {
  const err = await t.throwsAsync(connect('/nonexistent/dir/x.sock'));
  t.true(err instanceof LwError && err.code === 'LW_ERR_RPC_CONNECT' && err.retryable);
});

test('openLog gives a blocking, close-on-exec pipe write end that lands in the log', async (t) => {
  const svc = startLogService();
  const c = await connect(svc.sock);
  try {
    t.is(c.server.server, 'test-logd');
    const { fd, position } = await c.openLog({ driver: 'qemu', domain, path: 'qemu/a.log', flags: OPEN_FLAGS.TRUNCATE });
    t.is(position.offset, 0);
    t.false(getNonblock(fd), 'ready for a child that expects a blocking stdout');
    t.is(fcntlGetFd(fd) & constants.FD_CLOEXEC, constants.FD_CLOEXEC, 'our copy is not inherited by accident');
    writeSync(fd, 'boot ok\n');
    close(fd);
    await until(() => svc.logs.get('qemu/a.log')?.open === false, 10_000, 'the log to see EOF');
    t.is(readFileSync(svc.fileOf('qemu/a.log'), 'utf8'), 'boot ok\n');
    t.is((await c.getPosition('qemu/a.log')).offset, 8);
  } finally {
    c.close();
    await svc.close();
  }
});

test('spawnLogged: child stdout and stderr go to the log, and our copy of the pipe is closed', async (t) => {
  const svc = startLogService();
  const c = await connect(svc.sock);
  try {
    const { child, position } = await spawnLogged('sh', ['-c', 'echo to-stdout; echo to-stderr >&2; exit 3'], {
      client: c,
      log: { driver: 'container', domain: null, path: 'ctr/b.log' },
    });
    const exited = once(child, 'exit');
    t.is(position.offset, 0);
    const [code] = (await exited) as [number];
    t.is(code, 3);
    // EOF at the daemon end only happens when no write end is left anywhere, ours included.
    await until(() => svc.logs.get('ctr/b.log')?.open === false, 10_000, 'the log pipe to reach EOF');
    const text = readFileSync(svc.fileOf('ctr/b.log'), 'utf8');
    t.true(text.includes('to-stdout\n') && text.includes('to-stderr\n'));
  } finally {
    c.close();
    await svc.close();
  }
});

test('spawnLogged: a command that cannot start reports it as the child error', async (t) => {
  const svc = startLogService();
  const c = await connect(svc.sock);
  try {
    const { child } = await spawnLogged('/nonexistent/binary', [], { client: c, log: { driver: 'qemu', domain, path: 'x.log' } });
    const [err] = (await once(child, 'error')) as [NodeJS.ErrnoException];
    t.is(err.code, 'ENOENT');
    await until(() => svc.logs.get('x.log')?.open === false, 10_000, 'the unused pipe to close');
  } finally {
    c.close();
    await svc.close();
  }
});

test('append, read, readAll are binary-safe; list and stats describe the logs', async (t) => {
  const svc = startLogService();
  const c = await connect(svc.sock);
  try {
    const bytes = Buffer.from([0, 1, 2, 255, 10, 13, 0x80]);
    const after = await c.append({ driver: 'cli', domain: null, path: 'bin.log', data: bytes });
    t.is(after.offset, bytes.length);
    const chunk = await c.read('bin.log', POSITION_START, 3);
    t.deepEqual(Buffer.from(chunk.data), bytes.subarray(0, 3));
    const parts: Buffer[] = [];
    for await (const part of c.readAll('bin.log', chunk.position, { chunk: 2 })) parts.push(Buffer.from(part.data));
    t.deepEqual(Buffer.concat(parts), bytes.subarray(3));
    const [log] = await c.list();
    t.like(log, { path: 'bin.log', driver: 'cli', domain: null, bytesWritten: 7 });
    const stats = await c.stats();
    t.is(stats.logs.length, 1);
    t.true(stats.uptimeMs >= 0);
    await c.setLogLevel('debug');
    t.is(svc.level, 'debug');
    await c.upgrade();
    t.true(svc.calls.includes('upgrade'));
    t.is(await c.removeLog('bin.log'), 1);
    const err = await t.throwsAsync(c.removeLog('bin.log'));
    t.true(err instanceof LwError && err.code === 'LW_ERR_LOG_NOT_FOUND');
    const bad = await t.throwsAsync(c.read('x', { inode: '1', offset: 0 }, 0));
    t.true(bad instanceof LwError && bad.code === 'LW_ERR_PROTO_BAD_ARGS');
  } finally {
    c.close();
    await svc.close();
  }
});

test('follow sees what a spawned child writes, in order, until the loop is left', async (t) => {
  const svc = startLogService();
  const c = await connect(svc.sock);
  try {
    const start = await c.append({ driver: 'cli', domain: null, path: 'f.log', data: Buffer.from('before\n') });
    const { child } = await spawnLogged('sh', ['-c', 'for i in 1 2 3 4 5; do echo line $i; done'], {
      client: c,
      log: { driver: 'qemu', domain, path: 'f.log' },
    });
    const exited = once(child, 'exit');
    let text = '';
    for await (const ev of c.follow('f.log', start, { credit: { events: 2, bytes: 64 } })) {
      text += Buffer.from(ev.data).toString();
      if (text.includes('line 5\n')) break;
    }
    t.is(text, 'line 1\nline 2\nline 3\nline 4\nline 5\n');
    await exited;
  } finally {
    c.close();
    await svc.close();
  }
});

test('follow of a missing log rejects with its code; a closed client rejects calls retryably', async (t) => {
  const svc = startLogService();
  const c = await connect(svc.sock, { callTimeoutMs: 5_000 });
  try {
    const p = c.follow('none.log', POSITION_START);
    const err = await t.throwsAsync(p.next());
    t.true(err instanceof LwError && err.code === 'LW_ERR_LOG_NOT_FOUND');
    c.close();
    const closed = await t.throwsAsync(c.list());
    t.true(closed instanceof LwError && closed.code === 'LW_ERR_RPC_CLOSED' && closed.retryable);
    t.is((await c.closed).code, 'LW_ERR_RPC_CLOSED');
  } finally {
    await svc.close();
  }
});
