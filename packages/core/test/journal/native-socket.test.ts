// JournalClient against JournalNativeServer over real sockets in a temp dir.
import { writeSync } from 'node:fs';
import test, { type ExecutionContext } from 'ava';
import {
  JournalClient,
  JournalNativeServer,
  fieldText,
  type JournalField,
  type ReceivedEntry,
  type ServerProblem,
} from '../../src/journal/index.js';
import { SEAL, addSeals, bind, close, getCloexec, getNonblock, memfdCreate, sendmsg, socket } from '../../src/native/index.js';
import { codeOf, nextEvents, show, tempDir } from './helpers.js';

const userFields = (e: ReceivedEntry): JournalField[] => e.fields.filter((f) => !f.name.startsWith('_'));

/** A native server in a temp dir and a client (not yet open) pointed at it, all cleaned up at teardown. */
function serverAndClient(
  t: ExecutionContext,
  opts: { sendBufferSize?: number } = {},
): { tmp: ReturnType<typeof tempDir>; server: JournalNativeServer; client: JournalClient } {
  const tmp = tempDir();
  const server = JournalNativeServer.listen(tmp.path('socket'));
  const client = new JournalClient({ path: tmp.path('socket'), ...opts });
  t.teardown(() => {
    client.close();
    server.close();
    tmp.cleanup();
  });
  return { tmp, server, client };
}

test('entries arrive byte-exact with trusted fields; the fd is visible, CLOEXEC and non-blocking', async (t) => {
  const { server, client } = serverAndClient(t);
  t.is(client.fd, -1);
  client.open();
  t.true(client.fd > 2);
  t.true(getCloexec(client.fd));
  t.true(getNonblock(client.fd));

  const got = nextEvents<ReceivedEntry>(server, 'entry', 3);
  const bin = Buffer.from([0, 1, 0x0a, 0xff, 0xfe, 0x3d]);
  await client.send({ MESSAGE: 'hello', PRIORITY: '6', MULTI: 'a\nb', NUL: 'x\0y', BIN: bin, TAG: ['1', '2'] });
  await client.sendPieces([Buffer.from('MESSAGE='), Buffer.from('pieces'), Buffer.from('CODE_LINE='), Buffer.from('1\n2')]);
  await client.send([{ name: 'MESSAGE', value: Buffer.from('list') }]);
  const [a, b, c] = await got;
  if (!a || !b || !c) return t.fail();
  t.deepEqual(
    show(userFields(a)),
    show([
      { name: 'MESSAGE', value: Buffer.from('hello') },
      { name: 'PRIORITY', value: Buffer.from('6') },
      { name: 'MULTI', value: Buffer.from('a\nb') },
      { name: 'NUL', value: Buffer.from('x\0y') },
      { name: 'BIN', value: bin },
      { name: 'TAG', value: Buffer.from('1') },
      { name: 'TAG', value: Buffer.from('2') },
    ]),
  );
  t.is(fieldText(a.fields, '_TRANSPORT'), 'journal');
  t.is(fieldText(a.fields, '_PID'), String(process.pid));
  t.is(fieldText(a.fields, '_UID'), String(process.getuid?.()));
  t.is(fieldText(a.fields, '_GID'), String(process.getgid?.()));
  t.is(a.via, 'datagram');
  t.is(fieldText(b.fields, 'CODE_LINE'), '1\n2');
  t.is(fieldText(c.fields, 'MESSAGE'), 'list');
});

test('invalid names are refused before sending; closed and unconnected clients give coded errors', async (t) => {
  const { tmp, server, client } = serverAndClient(t);
  let entries = 0;
  server.on('entry', () => entries++);
  await t.throwsAsync(client.send({ MESSAGE: 'x' }), { code: 'LW_ERR_JOURNAL_CLOSED' });
  client.open();
  await t.throwsAsync(client.send({ MESSAGE: 'x', _PID: '1' }), { code: 'LW_ERR_JOURNAL_FIELD_NAME' });
  await t.throwsAsync(client.send({ message: 'x' }), { code: 'LW_ERR_JOURNAL_FIELD_NAME' });
  await t.throwsAsync(client.send({}), { code: 'LW_ERR_JOURNAL_EMPTY_ENTRY' });
  await t.throwsAsync(client.sendPieces([Buffer.from('1X='), Buffer.from('v')]), { code: 'LW_ERR_JOURNAL_FIELD_NAME' });
  // A marker proves the rejected ones never reached the server (the socket keeps order).
  const marker = nextEvents<ReceivedEntry>(server, 'entry', 1);
  await client.send({ MESSAGE: 'marker' });
  t.is(fieldText((await marker)[0]?.fields ?? [], 'MESSAGE'), 'marker');
  t.is(entries, 1);
  const nowhere = new JournalClient({ path: tmp.path('missing') });
  t.is(codeOf(() => { nowhere.open(); }), 'LW_ERR_JOURNAL_CONNECT');
});

test('an entry too big for a datagram goes as a sealed memfd, byte-exact', async (t) => {
  // A small send buffer makes a 1 MiB entry too big for a datagram.
  const { server, client } = serverAndClient(t, { sendBufferSize: 64 * 1024 });
  client.open();
  const big = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 9)) & 0xff;
  const got = nextEvents<ReceivedEntry>(server, 'entry', 2);
  await client.send({ MESSAGE: 'big', DATA: big });
  await client.send({ MESSAGE: 'small' });
  const [e, small] = await got;
  t.is(e?.via, 'memfd');
  t.true(fieldText(e?.fields ?? [], 'DATA') !== undefined);
  t.true(e?.fields.find((f) => f.name === 'DATA')?.value.equals(big));
  t.is(fieldText(e?.fields ?? [], '_PID'), String(process.pid));
  t.is(small?.via, 'datagram');
});

test('a full socket makes sends wait, in order, and none is lost', async (t) => {
  const tmp = tempDir();
  const path = tmp.path('socket');
  // A bound socket nobody reads yet: the kernel queue fills and sendmsg says EAGAIN.
  const raw = socket('dgram');
  bind(raw, path);
  const client = new JournalClient({ path });
  let server: JournalNativeServer | null = null;
  t.teardown(() => {
    client.close();
    if (server) server.close();
    else close(raw);
    tmp.cleanup();
  });
  client.open();
  // More than any usual net.unix.max_dgram_qlen (10 by default, 512 under systemd).
  const n = 2000;
  let resolved = 0;
  const sends = Array.from({ length: n }, (_, i) =>
    client.send({ MESSAGE: `m${i}`, PAD: 'x'.repeat(2000) }).then(() => {
      resolved++;
    }),
  );
  await new Promise((r) => setTimeout(r, 50));
  t.true(client.pendingCount > 0, 'the queue filled up');
  t.true(resolved < n);
  server = JournalNativeServer.fromFd(raw);
  const got = await nextEvents<ReceivedEntry>(server, 'entry', n);
  await Promise.all(sends);
  t.is(resolved, n);
  t.deepEqual(
    got.map((e) => fieldText(e.fields, 'MESSAGE')),
    Array.from({ length: n }, (_, i) => `m${i}`),
  );
});

test('close() rejects what still waits: not logged, and said so', async (t) => {
  const tmp = tempDir();
  const path = tmp.path('socket');
  const raw = socket('dgram');
  bind(raw, path);
  const client = new JournalClient({ path });
  t.teardown(() => {
    close(raw);
    tmp.cleanup();
  });
  client.open();
  const sends = Array.from({ length: 2000 }, (_, i) => client.send({ MESSAGE: `m${i}`, PAD: 'x'.repeat(1000) }));
  const results = Promise.allSettled(sends);
  await new Promise((r) => setTimeout(r, 20));
  client.close();
  const settled = await results;
  const rejected = settled.filter((s) => s.status === 'rejected');
  t.true(rejected.length > 0);
  for (const r of rejected) t.is((r.reason as { code?: string }).code, 'LW_ERR_JOURNAL_CLOSED');
  t.is(client.fd, -1);
});

test('the client reconnects when journald was restarted (new socket at the same path)', async (t) => {
  const tmp = tempDir();
  const path = tmp.path('socket');
  let server = JournalNativeServer.listen(path);
  const client = new JournalClient({ path });
  t.teardown(() => {
    client.close();
    server.close();
    tmp.cleanup();
  });
  client.open();
  const first = nextEvents<ReceivedEntry>(server, 'entry', 1);
  await client.send({ MESSAGE: 'before' });
  await first;
  server.close();
  server = JournalNativeServer.listen(path);
  const second = nextEvents<ReceivedEntry>(server, 'entry', 1);
  await client.send({ MESSAGE: 'after' });
  t.is(fieldText((await second)[0]?.fields ?? [], 'MESSAGE'), 'after');
});

test('server refuses what journald refuses: fds with data, several fds, unsealed memfds, long datagrams', async (t) => {
  const tmp = tempDir();
  const path = tmp.path('socket');
  const server = JournalNativeServer.listen(path, { maxDatagram: 4096 });
  const sender = socket('dgram');
  t.teardown(() => {
    close(sender);
    server.close();
    tmp.cleanup();
  });
  const problems: ServerProblem[] = [];
  server.on('problem', (p: ServerProblem) => problems.push(p));
  const entries: ReceivedEntry[] = [];
  server.on('entry', (e: ReceivedEntry) => entries.push(e));

  const memfd = (content: string, sealed: boolean): number => {
    const fd = memfdCreate('t');
    writeSync(fd, Buffer.from(content));
    if (sealed) addSeals(fd, SEAL.SEAL | SEAL.SHRINK | SEAL.GROW | SEAL.WRITE);
    return fd;
  };
  const send = (data: Buffer[], fds: number[] = []): void => {
    sendmsg(sender, data, { path, fds });
    for (const fd of fds) close(fd);
  };
  send([Buffer.from('MESSAGE=with-fd\n')], [memfd('MESSAGE=x\n', true)]);
  send([], [memfd('MESSAGE=a\n', true), memfd('MESSAGE=b\n', true)]);
  send([], [memfd('MESSAGE=unsealed\n', false)]);
  const partly = memfdCreate('t');
  writeSync(partly, Buffer.from('MESSAGE=partly\n'));
  addSeals(partly, SEAL.SHRINK | SEAL.GROW);
  send([], [partly]);
  send([Buffer.alloc(5000, 0x41)]);
  send([Buffer.from('MESSAGE=a\nB=x\nC')]);
  send([], [memfd('MESSAGE=sealed\n', true)]);
  send([Buffer.from('MESSAGE=last\n')]);
  await new Promise<void>((resolve) => {
    const check = (): void => {
      if (entries.length >= 3) resolve();
      else setTimeout(check, 10);
    };
    check();
  });
  t.deepEqual(
    entries.map((e) => [fieldText(e.fields, 'MESSAGE'), e.via]),
    [
      ['a', 'datagram'],
      ['sealed', 'memfd'],
      ['last', 'datagram'],
    ],
  );
  t.deepEqual(problems, ['fds-with-data', 'too-many-fds', 'unsealed-fd', 'unsealed-fd', 'truncated', 'trailing-noise']);
  t.is(server.problems.get('unsealed-fd'), 2);
});
