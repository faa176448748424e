// FdPoller: libuv readiness on real fds, and clean teardown in worker threads.
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import test from 'ava';
import type { FdEvent } from '../../src/native/index.js';
import { FdPoller, pipe, read, write } from '../../src/native/index.js';
import { closeOwned, own, waitFor, within } from './helpers.js';

test('readable fires when data arrives, and again while data stays (level-triggered)', async (t) => {
  const p = pipe();
  own(t, p.readFd, p.writeFd); // registered first: teardowns run last-in first-out, poller first
  const events: FdEvent[] = [];
  let wake: (() => void) | undefined;
  const poller = new FdPoller(p.readFd, (ev) => {
    events.push(ev);
    wake?.();
  });
  t.teardown(() => {
    poller.close();
  });
  poller.start({ readable: true });
  setTimeout(() => write(p.writeFd, Buffer.from('ping')), 20);
  await within(new Promise<void>((resolve) => (wake = resolve)), 'first readable');
  await within(new Promise<void>((resolve) => (wake = resolve)), 'second readable (not drained)');
  t.true(events.every((ev) => ev.readable && ev.error === 0));
  const buf = Buffer.alloc(8);
  t.is(read(p.readFd, buf), 4);
  poller.stop();
});

test('writable fires on a pipe with room; start({}) stops; close is final', async (t) => {
  const p = pipe();
  own(t, p.readFd, p.writeFd);
  let writable = 0;
  const poller = new FdPoller(p.writeFd, (ev) => {
    if (ev.writable) writable++;
    poller.start({});
  });
  poller.start({ writable: true });
  await within(
    (async () => {
      while (writable === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    })(),
    'writable',
  );
  t.is(writable, 1);
  poller.close();
  poller.close();
  t.throws(() => {
    poller.start({ readable: true });
  }, { code: 'LW_ERR_NATIVE_POLLER_CLOSED' });
});

test('a poll error (pipe without readers) is reported with its errno and stops the poller', async (t) => {
  const p = pipe();
  own(t, p.readFd, p.writeFd);
  closeOwned(t, p.readFd);
  const events: FdEvent[] = [];
  const poller = new FdPoller(p.writeFd, (ev) => events.push(ev));
  t.teardown(() => {
    poller.close();
  });
  poller.start({ writable: true });
  await waitFor(() => events.length > 0, 'error event');
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.is(events.length, 1); // libuv stopped the handle: no spinning on the error
  t.is(events[0]?.error, 9); // EPOLLERR is reported as EBADF by libuv
  t.throws(() => write(p.writeFd, Buffer.from('x')), { code: 'EPIPE' });
});

test('a callback that throws reaches uncaughtException-like handling, not silence', async (t) => {
  const worker = new Worker(
    `
    const { FdPoller, pipe, write } = await import(${JSON.stringify(new URL('../../src/native/index.js', import.meta.url).href)});
    const p = pipe();
    const poller = new FdPoller(p.readFd, () => { throw new Error('boom from poller'); });
    poller.start({ readable: true });
    write(p.writeFd, Buffer.from('x'));
    `,
    { eval: true },
  );
  const [err] = (await within(once(worker, 'error'), 'worker error')) as [Error];
  t.is(err.message, 'boom from poller');
});

test('worker threads with active pollers exit cleanly (terminate and process.exit)', async (t) => {
  const code = (how: string) => `
    const { FdPoller, pipe } = await import(${JSON.stringify(new URL('../../src/native/index.js', import.meta.url).href)});
    const { parentPort } = await import('node:worker_threads');
    for (let i = 0; i < 10; i++) {
      const p = pipe();
      new FdPoller(p.readFd, () => {}).start({ readable: true });
      new FdPoller(p.writeFd, () => {}).start({ readable: true });
    }
    parentPort.postMessage('ready');
    ${how}
  `;
  const a = new Worker(code(''), { eval: true });
  await within(once(a, 'message'), 'worker a ready');
  const exitA = once(a, 'exit');
  await a.terminate();
  t.is(((await within(exitA, 'worker a exit')) as [number])[0], 1);
  const b = new Worker(code('process.exit(7);'), { eval: true });
  t.is(((await within(once(b, 'exit'), 'worker b exit')) as [number])[0], 7);
});
