// Mirroring logs into journald. Core's JournalNativeServer, bound in a temp dir, stands in for
// journald's socket: it is a real native-protocol server, not a mock. Logs are opened over the
// daemon's RPC dispatch (inject) and written through their real pipes.
import test from 'ava';
import { join } from 'node:path';
import { JournalNativeServer, fieldText, type JournalField, type ReceivedEntry } from '@logwarden/core/journal';
import { close, write } from '@logwarden/core/native';
import { OPEN_FLAGS } from '@logwarden/core/protocol';
import { domain, sleep, tempDir, until } from '../helpers.js';
import { startDaemon } from './helpers.js';

function writeAll(fd: number, data: Buffer | string): void {
  const b = typeof data === 'string' ? Buffer.from(data) : data;
  let off = 0;
  while (off < b.length) off += write(fd, b, off) ?? 0;
}

function collect(server: JournalNativeServer): ReceivedEntry[] {
  const got: ReceivedEntry[] = [];
  server.on('entry', (e: ReceivedEntry) => got.push(e));
  return got;
}

const msg = (f: readonly JournalField[]): string | undefined => fieldText(f, 'MESSAGE');

test('a log opened with MIRROR_JOURNAL: one entry per line with the logwarden fields; long and unterminated lines flagged partial', async (t) => {
  const dir = tempDir(t);
  const server = JournalNativeServer.listen(join(dir, 'journal.sock'));
  t.teardown(() => { server.close(); });
  const got = collect(server);
  const s = await startDaemon(t, `[journal]\nmirror_socket = "${join(dir, 'journal.sock')}"\nmirror_max_line = 256\n`, dir);
  const open = await s.daemon.server.inject('openLog', { driver: 'qemu', domain, path: 'qemu/vm1.log', flags: OPEN_FLAGS.MIRROR_JOURNAL });
  const fd = open.fds[0] as number;
  const long = 'L'.repeat(600);
  writeAll(fd, 'first line\nserial line\r\n\n');
  writeAll(fd, Buffer.from([0x62, 0x69, 0x6e, 0xff, 0x01, 0x0a]));
  writeAll(fd, `${long}\nno newline at the end`);
  close(fd);
  await until(() => got.length === 7, 'seven entries');
  t.deepEqual(
    got.map((e) => [msg(e.fields), fieldText(e.fields, 'LOGWARDEN_PARTIAL')]),
    [
      ['first line', undefined],
      ['serial line', undefined],
      [Buffer.from([0x62, 0x69, 0x6e, 0xff, 0x01]).toString(), undefined],
      ['L'.repeat(256), '1'],
      ['L'.repeat(256), '1'],
      ['L'.repeat(88), undefined],
      ['no newline at the end', '1'],
    ],
  );
  t.true(got[2]?.fields.find((f) => f.name === 'MESSAGE')?.value.equals(Buffer.from([0x62, 0x69, 0x6e, 0xff, 0x01])), 'binary-safe');
  const f = got[0]?.fields ?? [];
  t.is(fieldText(f, 'PRIORITY'), '6');
  t.is(fieldText(f, 'SYSLOG_IDENTIFIER'), 'qemu-vm1');
  t.is(fieldText(f, 'LOGWARDEN_PATH'), join(s.daemon.handler.root.dir, 'qemu/vm1.log'));
  t.is(fieldText(f, 'LOGWARDEN_DRIVER'), 'qemu');
  t.is(fieldText(f, 'LOGWARDEN_DOMAIN_NAME'), domain.name);
  t.is(fieldText(f, 'LOGWARDEN_DOMAIN_UUID'), domain.uuid);
  await until(() => s.daemon.journal.mirrors.active === 0, 'the mirror to end with its log');
});

test('only flagged logs are mirrored unless mirror = true; identifier and priority are configurable', async (t) => {
  const dir = tempDir(t);
  const server = JournalNativeServer.listen(join(dir, 'journal.sock'));
  t.teardown(() => { server.close(); });
  const got = collect(server);
  const s = await startDaemon(t, `[journal]\nmirror_socket = "${join(dir, 'journal.sock')}"\n`, dir);
  const plain = await s.daemon.server.inject('openLog', { driver: 'qemu', domain, path: 'plain.log' });
  const flagged = await s.daemon.server.inject('openLog', { driver: 'lxc', domain: null, path: 'flagged.log', flags: OPEN_FLAGS.MIRROR_JOURNAL });
  writeAll(plain.fds[0] as number, 'not mirrored\n');
  await s.daemon.server.inject('getPosition', { path: 'plain.log' });
  writeAll(flagged.fds[0] as number, 'mirrored\n');
  await until(() => got.length === 1, 'the flagged line');
  t.is(msg(got[0]?.fields ?? []), 'mirrored');
  t.is(fieldText(got[0]?.fields ?? [], 'SYSLOG_IDENTIFIER'), 'lxc', 'no domain: the driver alone');
  t.is(fieldText(got[0]?.fields ?? [], 'LOGWARDEN_DOMAIN_NAME'), undefined);
  close(plain.fds[0] as number);
  close(flagged.fds[0] as number);

  const dir2 = tempDir(t);
  const server2 = JournalNativeServer.listen(join(dir2, 'journal.sock'));
  t.teardown(() => { server2.close(); });
  const got2 = collect(server2);
  const s2 = await startDaemon(
    t,
    `[journal]\nmirror = true\nmirror_socket = "${join(dir2, 'journal.sock')}"\nmirror_identifier = "guests"\nmirror_priority = 5\n`,
    dir2,
  );
  const byDefault = await s2.daemon.server.inject('openLog', { driver: 'qemu', domain, path: 'd.log' });
  writeAll(byDefault.fds[0] as number, 'by default\n');
  close(byDefault.fds[0] as number);
  await until(() => got2.length === 1, 'the default-mirrored line');
  t.is(fieldText(got2[0]?.fields ?? [], 'SYSLOG_IDENTIFIER'), 'guests');
  t.is(fieldText(got2[0]?.fields ?? [], 'PRIORITY'), '5');
});

test('journald absent: the guest is never blocked, the file keeps every line and the mirror catches up once journald is there', async (t) => {
  const dir = tempDir(t);
  const sock = join(dir, 'journal.sock');
  const s = await startDaemon(t, `[journal]\nmirror_socket = "${sock}"\n`, dir);
  const open = await s.daemon.server.inject('openLog', { driver: 'qemu', domain, path: 'late.log', flags: OPEN_FLAGS.MIRROR_JOURNAL });
  const fd = open.fds[0] as number;
  t.teardown(() => { close(fd); });
  const n = 300;
  for (let i = 0; i < n; i++) writeAll(fd, `line ${i}\n`);
  const pos = await s.daemon.server.inject('getPosition', { path: 'late.log' });
  t.is(pos.result.position.offset, Buffer.byteLength(Array.from({ length: n }, (_, i) => `line ${i}\n`).join('')), 'all in the file');
  await until(() => s.lines.some((l) => l.includes('journald not reachable')), 'the outage to be logged');
  const server = JournalNativeServer.listen(sock);
  t.teardown(() => { server.close(); });
  const got = collect(server);
  await until(() => got.length === n, 'every line mirrored after the outage', 60_000);
  t.deepEqual(got.map((e) => msg(e.fields)), Array.from({ length: n }, (_, i) => `line ${i}`));
});

test('lines rotated away before journald could take them are reported as a gap entry', async (t) => {
  const dir = tempDir(t);
  const sock = join(dir, 'journal.sock');
  const s = await startDaemon(t, `[journal]\nmirror_socket = "${sock}"\n`, dir);
  const open = await s.daemon.server.inject('openLog', {
    driver: 'qemu', domain, path: 'small.log', flags: OPEN_FLAGS.MIRROR_JOURNAL, maxSize: 4096, maxBackups: 1,
  });
  const fd = open.fds[0] as number;
  const n = 1000;
  for (let i = 0; i < n; i++) writeAll(fd, `line ${String(i).padStart(4, '0')} ${'x'.repeat(40)}\n`);
  close(fd);
  await until(() => !s.daemon.handler.info('small.log').open, 'the log closed');
  await sleep(300);
  const server = JournalNativeServer.listen(sock);
  t.teardown(() => { server.close(); });
  const got = collect(server);
  await until(() => s.daemon.journal.mirrors.active === 0, 'the mirror to finish', 60_000);
  // The mirror is done once its datagrams are queued; the server here takes them on later loop turns.
  const last = `line ${String(n - 1).padStart(4, '0')} `;
  await until(() => got.some((e) => msg(e.fields)?.startsWith(last) === true), 'the newest line to arrive', 60_000);
  // The mirror may have taken the first lines before they were rotated away (the file is written in
  // steps): those come first, then the gap entry, then an unbroken run to the newest line.
  const at = got.findIndex((e) => fieldText(e.fields, 'LOGWARDEN_GAP') !== undefined);
  t.true(at >= 0, 'a gap entry');
  const gap = got[at]?.fields ?? [];
  t.is(fieldText(gap, 'PRIORITY'), '4');
  const lost = Number(fieldText(gap, 'LOGWARDEN_GAP'));
  t.true(lost > 0, 'the gap entry counts bytes');
  t.regex(msg(gap) ?? '', /bytes of this log were rotated away/);
  const lineNo = (e: (typeof got)[number]): number => Number(/^line (\d+) /.exec(msg(e.fields) ?? '')?.[1]);
  const before = got.slice(0, at).map(lineNo);
  const lines = got.slice(at + 1).map(lineNo);
  t.deepEqual(before, before.map((_, i) => i), 'before the gap, the first lines in order');
  t.true(lines.length > 0 && before.length + lines.length < n);
  t.is(lines.at(-1), n - 1, 'the newest line is mirrored');
  t.deepEqual(lines, lines.map((_, i) => (lines[0] ?? 0) + i), 'after the gap, an unbroken run');
  t.is(lost, ((lines[0] ?? 0) - before.length) * 51, 'the gap is exactly the lines between');
});
