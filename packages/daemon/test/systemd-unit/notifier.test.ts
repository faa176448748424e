import { setTimeout as sleep } from 'node:timers/promises';

import test from 'ava';

import { close, fstat, getCloexec, pipe, write } from '@logwarden/core/native';

import { Notifier, NOTIFY_MAX_BYTES } from '../../src/systemd/index.js';
import { NotifySink } from './helpers.js';

function withSink(fn: (sink: NotifySink, n: Notifier) => Promise<void>, opts?: { abstract?: boolean }) {
  return async () => {
    const sink = new NotifySink(opts);
    const n = new Notifier(sink.address);
    try {
      await fn(sink, n);
    } finally {
      n.close();
      sink.close();
    }
  };
}

test('state changes go out as one datagram each, exactly as systemd parses them', async (t) => {
  await withSink(async (sink, n) => {
    await n.ready();
    t.deepEqual(await sink.next(), { text: 'READY=1', fds: [] });
    await n.ready('serving 3 logs');
    t.is((await sink.next()).text, 'READY=1\nSTATUS=serving 3 logs');
    await n.status('draining');
    t.is((await sink.next()).text, 'STATUS=draining');
    await n.stopping();
    t.is((await sink.next()).text, 'STOPPING=1');
    await n.mainPid(4242);
    t.is((await sink.next()).text, 'MAINPID=4242');
    await n.notify('EXTEND_TIMEOUT_USEC=5000000');
    t.is((await sink.next()).text, 'EXTEND_TIMEOUT_USEC=5000000');
  })();
});

test('reloading() carries CLOCK_MONOTONIC in microseconds', async (t) => {
  await withSink(async (sink, n) => {
    const before = process.hrtime.bigint() / 1000n;
    await n.reloading();
    const after = process.hrtime.bigint() / 1000n;
    const m = /^RELOADING=1\nMONOTONIC_USEC=([0-9]+)$/.exec((await sink.next()).text);
    t.truthy(m);
    const usec = BigInt(m?.[1] ?? '0');
    t.true(usec >= before && usec <= after);
  })();
});

test('storeFds hands the very same open files to the manager, named, optionally unpolled', async (t) => {
  await withSink(async (sink, n) => {
    const p = pipe();
    try {
      await n.storeFds([p.readFd, p.writeFd], 'log./var/log/vm1.log');
      const got = await sink.next();
      t.is(got.text, 'FDSTORE=1\nFDNAME=log./var/log/vm1.log');
      t.is(got.fds.length, 2);
      t.deepEqual(got.fds.map((fd) => fstat(fd).ino), [fstat(p.readFd).ino, fstat(p.writeFd).ino]);
      t.true(got.fds.every(getCloexec));
      // Same pipe: bytes written through our end come out of the received copy.
      write(p.writeFd, Buffer.from('x'));
      for (const fd of got.fds) close(fd);

      await n.storeFds([p.readFd], 'state', { poll: false });
      const unpolled = await sink.next();
      t.is(unpolled.text, 'FDSTORE=1\nFDNAME=state\nFDPOLL=0');
      for (const fd of unpolled.fds) close(fd);

      await n.removeFds('state');
      t.deepEqual(await sink.next(), { text: 'FDSTOREREMOVE=1\nFDNAME=state', fds: [] });
    } finally {
      close(p.readFd);
      close(p.writeFd);
    }
  })();
});

test('more fds than one sendmsg may carry are split into datagrams with the same name', async (t) => {
  await withSink(async (sink, n) => {
    const pipes = Array.from({ length: 150 }, () => pipe());
    const fds = pipes.flatMap((p) => [p.readFd, p.writeFd]);
    try {
      await n.storeFds(fds, 'many');
      const first = await sink.next();
      const second = await sink.next();
      t.is(first.text, 'FDSTORE=1\nFDNAME=many');
      t.is(second.text, 'FDSTORE=1\nFDNAME=many');
      t.is(first.fds.length, 253);
      t.is(second.fds.length, 47);
      const inodes = [...first.fds, ...second.fds].map((fd) => fstat(fd).ino);
      t.deepEqual(inodes, fds.map((fd) => fstat(fd).ino), 'in order');
      for (const fd of [...first.fds, ...second.fds]) close(fd);
    } finally {
      for (const fd of fds) close(fd);
    }
  })();
});

test('concurrent calls arrive in call order, waiting for room when the queue is full', async (t) => {
  await withSink(async (sink, n) => {
    // Far more than net.unix.max_dgram_qlen (10): later sends meet EAGAIN until we read.
    const sends = Promise.all(Array.from({ length: 200 }, (_, i) => n.status(`step ${i}`)));
    await sleep(100);
    const texts: string[] = [];
    for (let i = 0; i < 200; i++) texts.push((await sink.next()).text);
    await sends;
    t.deepEqual(texts, Array.from({ length: 200 }, (_, i) => `STATUS=step ${i}`));
  })();
});

test('barrier resolves only once the manager closed the pipe end it was given', async (t) => {
  await withSink(async (sink, n) => {
    await n.status('before');
    let settled = false;
    const barrier = n.barrier().then(() => (settled = true));
    t.is((await sink.next()).text, 'STATUS=before');
    const msg = await sink.next();
    t.is(msg.text, 'BARRIER=1');
    t.is(msg.fds.length, 1);
    await sleep(200);
    t.false(settled, 'still waiting while the manager holds the fd');
    close(msg.fds[0] ?? -1);
    await barrier;
    t.true(settled);
  })();
});

test('barrier gives up with a coded error when the manager never answers', async (t) => {
  await withSink(async (sink, n) => {
    await t.throwsAsync(n.barrier(300), { code: 'LW_ERR_SYSTEMD_BARRIER_TIMEOUT' });
    const msg = await sink.next();
    for (const fd of msg.fds) close(fd);
  })();
});

test('fromEnv reads NOTIFY_SOCKET (abstract names too) and unsets it', async (t) => {
  await withSink(async (sink) => {
    const env: Record<string, string | undefined> = { NOTIFY_SOCKET: sink.address, KEEP: '1' };
    const n = Notifier.fromEnv(env);
    t.deepEqual(env, { KEEP: '1' });
    t.truthy(n);
    await n?.ready();
    t.is((await sink.next()).text, 'READY=1');
    n?.close();
  }, { abstract: true })();
  t.is(Notifier.fromEnv({}), null);
  t.is(Notifier.fromEnv({ NOTIFY_SOCKET: '' }), null);
  t.throws(() => Notifier.fromEnv({ NOTIFY_SOCKET: 'relative/path' }), { code: 'LW_ERR_SYSTEMD_ENV_INVALID' });
  t.throws(() => Notifier.fromEnv({ NOTIFY_SOCKET: '@' }), { code: 'LW_ERR_SYSTEMD_ENV_INVALID' });
});

test('the watchdog pings every half period and only when meant for this process', async (t) => {
  await withSink(async (sink) => {
    const env = { NOTIFY_SOCKET: sink.address, WATCHDOG_USEC: '200000', WATCHDOG_PID: String(process.pid) };
    const n = Notifier.fromEnv(env);
    t.deepEqual(env, {});
    t.is(n?.watchdogUsec, 200_000);
    const errors: unknown[] = [];
    t.true(n?.startWatchdog((err) => errors.push(err)));
    const started = Date.now();
    for (let i = 0; i < 4; i++) t.is((await sink.next()).text, 'WATCHDOG=1');
    // Four pings at 100 ms: at least three periods passed (no upper bound on a loaded machine).
    t.true(Date.now() - started >= 250);
    n?.stopWatchdog();
    await sleep(300);
    while (sink.poll() !== null) {
      // Drains a ping that was already in flight when the watchdog stopped.
    }
    await sleep(300);
    t.is(sink.poll(), null, 'no pings after stopWatchdog');
    t.deepEqual(errors, []);
    n?.close();

    const other = Notifier.fromEnv({ NOTIFY_SOCKET: sink.address, WATCHDOG_USEC: '200000', WATCHDOG_PID: '1' });
    t.is(other?.watchdogEnabled, false);
    t.false(other?.startWatchdog(() => undefined));
    other?.close();
    t.true(Notifier.fromEnv({ NOTIFY_SOCKET: sink.address, WATCHDOG_USEC: '1000000' })?.watchdogEnabled);
  })();
  t.throws(() => Notifier.fromEnv({ NOTIFY_SOCKET: '/x', WATCHDOG_USEC: '1s' }), { code: 'LW_ERR_SYSTEMD_ENV_INVALID' });
  t.throws(() => Notifier.fromEnv({ NOTIFY_SOCKET: '/x', WATCHDOG_USEC: '1', WATCHDOG_PID: 'me' }), {
    code: 'LW_ERR_SYSTEMD_ENV_INVALID',
  });
});

test('bad messages are refused before anything is sent', async (t) => {
  await withSink(async (sink, n) => {
    await t.throwsAsync(n.status('two\nlines'), { code: 'LW_ERR_SYSTEMD_MESSAGE_INVALID' });
    await t.throwsAsync(n.ready('nul\0'), { code: 'LW_ERR_SYSTEMD_MESSAGE_INVALID' });
    await t.throwsAsync(n.notify(''), { code: 'LW_ERR_SYSTEMD_MESSAGE_INVALID' });
    await t.throwsAsync(n.notify(`STATUS=${'x'.repeat(NOTIFY_MAX_BYTES)}`), { code: 'LW_ERR_SYSTEMD_MESSAGE_INVALID' });
    await t.throwsAsync(n.storeFds([], 'x'), { code: 'LW_ERR_SYSTEMD_MESSAGE_INVALID' });
    await t.throwsAsync(n.storeFds([0], 'a:b'), { code: 'LW_ERR_SYSTEMD_FDNAME_INVALID' });
    await t.throwsAsync(n.removeFds(''), { code: 'LW_ERR_SYSTEMD_FDNAME_INVALID' });
    await t.throwsAsync(n.mainPid(0), { code: 'LW_ERR_SYSTEMD_MESSAGE_INVALID' });
    await n.status('y'.repeat(NOTIFY_MAX_BYTES - 'STATUS='.length));
    t.is((await sink.next()).text.length, NOTIFY_MAX_BYTES, 'the largest allowed datagram goes through');
    t.is(sink.poll(), null, 'nothing else was sent');
    n.close();
    await t.throwsAsync(n.ready(), { code: 'LW_ERR_SYSTEMD_CLOSED' });
  })();
});

test('a missing manager is a coded send error; a replaced socket is reconnected to', async (t) => {
  const sink = new NotifySink();
  const gone = new Notifier(`${sink.path}-nobody`);
  await t.throwsAsync(gone.ready(), { code: 'LW_ERR_SYSTEMD_SEND_FAILED' });
  gone.close();

  const n = new Notifier(sink.path);
  try {
    await n.status('first');
    t.is((await sink.next()).text, 'STATUS=first');
    // The manager re-creates its socket at the same path.
    sink.replace();
    await n.status('second');
    t.is((await sink.next()).text, 'STATUS=second');
  } finally {
    n.close();
    sink.close();
  }
});
