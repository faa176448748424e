// openStdoutStream against JournalStdoutServer over real sockets, with a real child process writing.
import { spawn } from 'node:child_process';
import test from 'ava';
import { JournalStdoutServer, fieldText, openStdoutStream, type StdoutEntry } from '../../src/journal/index.js';
import { close, connect, getCloexec, getNonblock, socket, write } from '../../src/native/index.js';
import { codeOf, nextEvents, tempDir } from './helpers.js';

test('a child writes to a stream fd; lines become entries with its credentials', async (t) => {
  const tmp = tempDir();
  const server = JournalStdoutServer.listen(tmp.path('stdout'));
  t.teardown(() => {
    server.close();
    tmp.cleanup();
  });
  const fd = openStdoutStream({ path: tmp.path('stdout'), identifier: 'child-id', priority: 5, levelPrefix: true });
  t.true(getCloexec(fd));
  t.false(getNonblock(fd));
  const got = nextEvents<StdoutEntry>(server, 'entry', 3);
  const child = spawn('sh', ['-c', 'printf "one\\n<2>two\\0three"'], { stdio: ['ignore', fd, 'inherit'] });
  close(fd);
  const exited = new Promise((r) => child.on('exit', r));
  const entries = await got;
  await exited;
  t.deepEqual(
    entries.map((e) => [fieldText(e.fields, 'MESSAGE'), fieldText(e.fields, 'PRIORITY'), fieldText(e.fields, '_LINE_BREAK') ?? 'newline']),
    [
      ['one', '5', 'newline'],
      ['two', '2', 'nul'],
      ['three', '5', 'eof'],
    ],
  );
  for (const e of entries) {
    t.is(fieldText(e.fields, 'SYSLOG_IDENTIFIER'), 'child-id');
    t.is(fieldText(e.fields, '_TRANSPORT'), 'stdout');
    t.is(fieldText(e.fields, '_PID'), String(child.pid));
    t.is(e.header.identifier, 'child-id');
    t.regex(e.streamId, /^[0-9a-f]{32}$/);
  }
  t.is(new Set(entries.map((e) => e.streamId)).size, 1);
});

test('a malformed header drops the connection with a coded stream-error', async (t) => {
  const tmp = tempDir();
  const server = JournalStdoutServer.listen(tmp.path('stdout'));
  const bad = socket('stream');
  t.teardown(() => {
    close(bad);
    server.close();
    tmp.cleanup();
  });
  const errors = nextEvents<Error & { code?: string }>(server, 'stream-error', 1);
  connect(bad, tmp.path('stdout'));
  write(bad, Buffer.from('id\n\nnot-a-number\n'));
  const [err] = await errors;
  t.is(err?.code, 'LW_ERR_JOURNAL_STREAM_HEADER');
  t.is(server.streamCount, 0);
});

test('openStdoutStream validates its header and reports connect failures with codes', (t) => {
  const tmp = tempDir();
  t.teardown(tmp.cleanup);
  t.is(codeOf(() => openStdoutStream({ path: tmp.path('none'), identifier: 'a\nb' })), 'LW_ERR_JOURNAL_STREAM_HEADER');
  t.is(codeOf(() => openStdoutStream({ path: tmp.path('none'), priority: 1000 })), 'LW_ERR_JOURNAL_STREAM_HEADER');
  t.is(codeOf(() => openStdoutStream({ path: tmp.path('none'), identifier: 'x'.repeat(255) })), 'LW_ERR_JOURNAL_STREAM_HEADER');
  t.is(codeOf(() => openStdoutStream({ path: tmp.path('none') })), 'LW_ERR_JOURNAL_CONNECT');
});
