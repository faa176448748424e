// JournalClient's native sender thread against real AF_UNIX datagram sockets: the receiver is a
// socket of core's own native layer that starts out not reading, so the kernel's short datagram
// queue (net.unix.max_dgram_qlen) fills and sendmsg really says EAGAIN; what the client then holds
// goes through the thread.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import {
  JournalClient,
  JournalNativeServer,
  fieldText,
  parseNativeMessage,
  type JournalField,
  type ReceivedEntry,
} from '../../src/journal/index.js';
import { UnixSocket, bind, close, socket } from '../../src/native/index.js';
import { nextEvents, tempDir } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** A bound datagram socket nobody reads yet, and a client connected to it; all cleaned up at teardown. */
function blockedReceiver(t: ExecutionContext, opts: { sendBufferSize?: number; shareDatagrams?: boolean } = {}): { path: string; takeRaw: () => number; client: JournalClient } {
  const tmp = tempDir();
  const path = tmp.path('socket');
  const raw = socket('dgram');
  bind(raw, path);
  const client = new JournalClient({ path, ...opts });
  let rawOpen = true;
  t.teardown(() => {
    client.close();
    if (rawOpen) close(raw);
    tmp.cleanup();
  });
  client.open();
  const takeRaw = (): number => {
    rawOpen = false; // whoever takes it closes it
    return raw;
  };
  return { path, takeRaw, client };
}

async function until(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Reads datagrams from fd: the entries of each (journald's parser rules), in arrival order. */
function collect(fd: number): { datagrams: JournalField[][][]; entries: () => JournalField[][]; socket: UnixSocket } {
  const sock = UnixSocket.fromFd(fd, 'dgram');
  const datagrams: JournalField[][][] = [];
  sock.on('message', (m: { data: Buffer }) => {
    datagrams.push(parseNativeMessage(m.data, { fieldCountMax: 4096 }).entries);
  });
  return { datagrams, entries: () => datagrams.flat(), socket: sock };
}

const seqOf = (e: JournalField[]): number => Number(fieldText(e, 'SEQ'));

test('a burst waits in the sender thread: every entry arrives once, in order, several to a datagram', async (t) => {
  const r = blockedReceiver(t);
  const n = 3000;
  let resolved = 0;
  const sends = Array.from({ length: n }, (_, i) =>
    r.client.send({ MESSAGE: `entry ${i}`, SEQ: String(i) }).then(() => {
      resolved++;
    }),
  );
  await until('the client holds entries', () => r.client.pendingCount > 0);
  t.true(resolved < n, 'the socket was full');
  const rx = collect(r.takeRaw());
  t.teardown(() => {
    rx.socket.close();
  });
  await Promise.all(sends);
  await until('all entries arrived', () => rx.entries().length >= n);
  const seqs = rx.entries().map(seqOf);
  t.deepEqual(seqs, Array.from({ length: n }, (_, i) => i));
  t.true(rx.entries().every((e, i) => fieldText(e, 'MESSAGE') === `entry ${i}`));
  t.true(rx.datagrams.length < n / 4, `${n} entries in ${rx.datagrams.length} datagrams: waiting entries shared them`);
  t.is(r.client.stats.sent, n);
  t.true(r.client.stats.waits > 0);
  t.is(r.client.pendingCount, 0);
});

test('shareDatagrams: false: one datagram per entry, through the thread all the same', async (t) => {
  const r = blockedReceiver(t, { shareDatagrams: false });
  const n = 500;
  const sends = Array.from({ length: n }, (_, i) => r.client.send({ MESSAGE: `entry ${i}`, SEQ: String(i) }));
  await until('the client holds entries', () => r.client.pendingCount > 0);
  const rx = collect(r.takeRaw());
  t.teardown(() => {
    rx.socket.close();
  });
  await Promise.all(sends);
  await until('all entries arrived', () => rx.entries().length >= n);
  t.deepEqual(rx.entries().map(seqOf), Array.from({ length: n }, (_, i) => i));
  t.is(rx.datagrams.length, n);
  t.true(r.client.stats.waits > 0);
});

test('an entry that might have more fields than journald keeps travels alone', async (t) => {
  const r = blockedReceiver(t);
  const filler = Array.from({ length: 40 }, (_, i) => r.client.send({ MESSAGE: 'filler', SEQ: String(i) }));
  await until('the client holds entries', () => r.client.pendingCount > 0);
  // 1100 fields: journald would drop it and, with it, the rest of its datagram.
  const wide = [{ name: 'SEQ', value: Buffer.from('40') }, ...Array.from({ length: 1099 }, (_, i) => ({ name: `F${i}`, value: Buffer.from('v') }))];
  const sends = [...filler, r.client.send(wide), r.client.send({ MESSAGE: 'after', SEQ: '41' }), r.client.send({ MESSAGE: 'after', SEQ: '42' })];
  const rx = collect(r.takeRaw());
  t.teardown(() => {
    rx.socket.close();
  });
  await Promise.all(sends);
  await until('all entries arrived', () => rx.entries().length >= 43);
  t.deepEqual(rx.entries().map(seqOf), Array.from({ length: 43 }, (_, i) => i));
  const holding = rx.datagrams.find((d) => d.some((e) => seqOf(e) === 40));
  t.is(holding?.length, 1);
  t.is(holding?.[0]?.length, 1100);
});

test('the memfd path keeps its place in the queue', async (t) => {
  // A 64 KiB send buffer makes a 1 MiB entry too big for a datagram.
  const r = blockedReceiver(t, { sendBufferSize: 64 * 1024 });
  const big = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 13 + (i >> 11)) & 0xff;
  const sends: Promise<void>[] = [];
  for (let i = 0; i < 30; i++) sends.push(r.client.send({ MESSAGE: 'small', SEQ: String(i) }));
  sends.push(r.client.send({ MESSAGE: 'big', SEQ: '30', DATA: big }));
  for (let i = 31; i < 60; i++) sends.push(r.client.send({ MESSAGE: 'small', SEQ: String(i) }));
  await until('the client holds entries', () => r.client.pendingCount > 0);
  const server = JournalNativeServer.fromFd(r.takeRaw());
  t.teardown(() => {
    server.close();
  });
  const got = nextEvents<ReceivedEntry>(server, 'entry', 60);
  await Promise.all(sends);
  const entries = await got;
  t.deepEqual(entries.map((e) => seqOf(e.fields)), Array.from({ length: 60 }, (_, i) => i));
  const bigEntry = entries[30];
  t.is(bigEntry?.via, 'memfd');
  t.true(bigEntry?.fields.find((f) => f.name === 'DATA')?.value.equals(big));
  t.is(r.client.stats.viaMemfd, 1);
  t.is(r.client.stats.sent, 60);
});

test('a receiver that goes away fails what waits with a coded error; nothing is reported sent that was not', async (t) => {
  const r = blockedReceiver(t);
  const n = 2000;
  const sends = Array.from({ length: n }, (_, i) => r.client.send({ MESSAGE: `m${i}`, PAD: 'x'.repeat(200) }));
  await until('the client holds entries', () => r.client.pendingCount > 0);
  close(r.takeRaw());
  rmSync(r.path); // no socket to reconnect to
  const settled = await Promise.allSettled(sends);
  const fulfilled = settled.filter((s) => s.status === 'fulfilled').length;
  const rejected = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
  t.true(rejected.length > 0);
  t.is(fulfilled + rejected.length, n);
  for (const s of rejected) {
    const reason = s.reason as { code?: string; cause?: { code?: string; syscall?: string } };
    t.is(reason.code, 'LW_ERR_JOURNAL_SEND');
    t.true(['ECONNREFUSED', 'ENOENT', 'ENOTCONN'].includes(reason.cause?.code ?? ''), String(reason.cause?.code));
  }
  // Sent means sent: fulfilled ones are exactly those the kernel took before the receiver closed.
  t.is(r.client.stats.sent, fulfilled);
  // The direct path says the same for a new entry.
  await t.throwsAsync(r.client.send({ MESSAGE: 'late' }), { code: 'LW_ERR_JOURNAL_SEND' });
});

test('close() with sends in the thread: what the kernel took resolves, the rest is rejected, and exactly that arrived', async (t) => {
  const r = blockedReceiver(t);
  const n = 2000;
  const sends = Array.from({ length: n }, (_, i) => r.client.send({ MESSAGE: `m${i}`, SEQ: String(i) }));
  await until('the client holds entries', () => r.client.pendingCount > 0);
  const raw = r.takeRaw();
  const rx = collect(raw);
  t.teardown(() => {
    rx.socket.close();
  });
  // The receiver drains while entries are still moving: close() lands mid-stream.
  await until('some arrived', () => rx.entries().length > 0);
  r.client.close();
  const settled = await Promise.allSettled(sends);
  const fulfilled = settled.filter((s) => s.status === 'fulfilled').length;
  t.true(fulfilled > 0);
  settled.forEach((s, i) => {
    if (s.status === 'rejected') t.is((s.reason as { code?: string }).code, 'LW_ERR_JOURNAL_CLOSED', `entry ${i}`);
    else if (i > 0) t.is(settled[i - 1]?.status, 'fulfilled', `entry ${i} resolved after a rejected one`);
  });
  await until('the kernel queue drained', () => rx.entries().length >= fulfilled);
  await new Promise((res) => setTimeout(res, 50));
  t.deepEqual(rx.entries().map(seqOf), Array.from({ length: fulfilled }, (_, i) => i));
  await t.throwsAsync(r.client.send({ MESSAGE: 'closed' }), { code: 'LW_ERR_JOURNAL_CLOSED' });
});

test('sender threads end with close() and with a worker that is terminated mid-send (no leak, no hang)', (t) => {
  const tmp = tempDir();
  t.teardown(() => {
    tmp.cleanup();
  });
  const child = spawnSync(process.execPath, [path.join(here, 'fixtures', 'sender-threads.js'), tmp.path('socket')], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  t.is(child.status, 0, child.stderr);
  const report = JSON.parse(child.stdout) as { busy: number; afterClose: number; inWorker: number; afterTerminate: number; closedRejected: number };
  t.deepEqual(report, { busy: 1, afterClose: 0, inWorker: 1, afterTerminate: 0, closedRejected: report.closedRejected });
  t.true(report.closedRejected > 0);
});

test('a client idle on a full socket does not keep the process alive', (t) => {
  const tmp = tempDir();
  t.teardown(() => {
    tmp.cleanup();
  });
  const child = spawnSync(process.execPath, [path.join(here, 'fixtures', 'idle-exit.js'), tmp.path('socket')], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  t.is(child.signal, null, 'the child had to be killed: something held its event loop');
  t.is(child.status, 0, child.stderr);
  t.is(child.stdout, 'sent\n');
});
