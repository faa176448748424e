// Where the daemon's own messages go: journald's native socket (a real datagram socket here, served
// by core's JournalNativeServer), or stderr.
import test from 'ava';
import { JournalNativeServer, fieldText, type ReceivedEntry } from '@logwarden/core/journal';
import { bind, close, socket } from '@logwarden/core/native';
import { daemonLogOutput } from '../../src/journal/index.js';
import { Logger } from '../../src/logger.js';
import { tempDir, until } from '../helpers.js';

function collect(server: JournalNativeServer): ReceivedEntry[] {
  const got: ReceivedEntry[] = [];
  server.on('entry', (e: ReceivedEntry) => got.push(e));
  return got;
}

test('outside systemd: plain timestamped lines on stderr', (t) => {
  const lines: string[] = [];
  const out = daemonLogOutput({ stderrIsJournal: false, stderr: (l) => lines.push(l) });
  t.is(out.target, 'stderr');
  new Logger(out).warn('plain');
  t.regex(lines[0] ?? '', /^\d{4}-.* WARN plain\n$/);
});

test('under systemd: one native entry per message with PRIORITY from the level and SYSLOG_IDENTIFIER', async (t) => {
  const dir = tempDir(t);
  const server = JournalNativeServer.listen(`${dir}/socket`);
  t.teardown(() => { server.close(); });
  const got = collect(server);
  const lines: string[] = [];
  const out = daemonLogOutput({ stderrIsJournal: true, socketPath: `${dir}/socket`, stderr: (l) => lines.push(l) });
  t.teardown(() => { out.close(); });
  t.is(out.target, 'journal');
  const logger = new Logger({ ...out, level: 'debug' });
  logger.error('disk failed', { path: 'qemu/vm1.log' });
  logger.warn('two\nlines');
  logger.info('started');
  logger.debug('detail');
  await until(() => got.length === 4, 'four entries');
  t.deepEqual(
    got.map((e) => [fieldText(e.fields, 'MESSAGE'), fieldText(e.fields, 'PRIORITY'), fieldText(e.fields, 'SYSLOG_IDENTIFIER')]),
    [
      ['disk failed path=qemu/vm1.log', '3', 'logwardend'],
      ['two\\nlines', '4', 'logwardend'],
      ['started', '6', 'logwardend'],
      ['detail', '7', 'logwardend'],
    ],
  );
  t.is(fieldText(got[0]?.fields ?? [], '_PID'), String(process.pid));
  t.deepEqual(lines, [], 'nothing went to stderr');
});

test('under systemd without a reachable socket: <N>-prefixed lines on stderr', (t) => {
  const dir = tempDir(t);
  const lines: string[] = [];
  const out = daemonLogOutput({ stderrIsJournal: true, socketPath: `${dir}/none`, stderr: (l) => lines.push(l) });
  t.is(out.target, 'stderr');
  new Logger(out).error('no journal');
  t.deepEqual(lines, ['<3>no journal\n']);
});

test('journald gone after start: messages fall back to stderr, none lost', async (t) => {
  const dir = tempDir(t);
  const server = JournalNativeServer.listen(`${dir}/socket`);
  const got = collect(server);
  const lines: string[] = [];
  const out = daemonLogOutput({ stderrIsJournal: true, socketPath: `${dir}/socket`, stderr: (l) => lines.push(l) });
  t.teardown(() => { out.close(); });
  const logger = new Logger(out);
  logger.info('before');
  await until(() => got.length === 1, 'the first entry');
  server.close();
  logger.info('after');
  await until(() => lines.length === 1, 'the fallback line');
  t.deepEqual(lines, ['<6>after\n']);
});

test('a journald that stops reading: the backlog is bounded, drops are counted and reported once it reads again', async (t) => {
  const dir = tempDir(t);
  const path = `${dir}/socket`;
  // Bound but unread: the kernel queue fills and sends wait.
  const fd = socket('dgram');
  bind(fd, path);
  let fdOwned = true;
  t.teardown(() => { if (fdOwned) close(fd); });
  const lines: string[] = [];
  const out = daemonLogOutput({ stderrIsJournal: true, socketPath: path, stderr: (l) => lines.push(l), maxPending: 5 });
  t.teardown(() => { out.close(); });
  const logger = new Logger(out);
  const total = 5000;
  for (let i = 0; i < total; i++) logger.info(`message ${i}`);
  t.true(out.dropped > 0, 'some messages were dropped');
  t.true(out.dropped < total);
  fdOwned = false;
  const server = JournalNativeServer.fromFd(fd);
  t.teardown(() => { server.close(); });
  const got = collect(server);
  await until(() => got.length === total - out.dropped, 'every message not dropped');
  logger.info('reading again');
  await until(() => got.length === total - out.dropped + 2, 'the drop note and the new message');
  const note = got.at(-2);
  t.is(fieldText(note?.fields ?? [], 'MESSAGE'), `${out.dropped} logwardend messages dropped while journald was not reading`);
  t.is(fieldText(note?.fields ?? [], 'PRIORITY'), '4');
  t.is(fieldText(got.at(-1)?.fields ?? [], 'MESSAGE'), 'reading again');
  t.deepEqual(lines, []);
});
