// A journal mirror across in-place re-execs: core's JournalNativeServer, bound in a temp dir, stands
// in for journald's socket (a real native-protocol server). A writer floods sequence-numbered lines
// into a mirrored log that rotates, the daemon is re-exec'd five times mid-stream (pipe chunks cut
// lines, so a mirror is often stopped with half a line pending), and every line reaches the server
// exactly once, in order.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { JournalNativeServer, fieldText, type ReceivedEntry } from '@logwarden/core/journal';
import { OPEN_FLAGS } from '@logwarden/core/protocol';
import { exited, spawnDaemon, tempDir, until } from '../helpers.js';
import { LINE_BYTES, readReport, spawnSeqWriter } from './helpers.js';

const UPGRADES = 5;

test('a mirror goes on after each re-exec where it stood: every line in journald once, in order', async (t) => {
  const dir = tempDir(t);
  const socket = join(dir, 'journal.sock');
  const server = JournalNativeServer.listen(socket);
  t.teardown(() => {
    server.close();
  });
  const got: string[] = [];
  server.on('entry', (e: ReceivedEntry) => {
    got.push(fieldText(e.fields, 'MESSAGE') ?? '');
  });
  const d = await spawnDaemon(t, { dir, config: `[journal]\nmirror_socket = "${socket}"\n` });
  const client = await d.connect();
  t.teardown(() => {
    client.close();
  });
  // 1 MiB files, enough backups that nothing is rotated away before it is mirrored.
  const open = await client.call('openLog', { driver: 'qemu', domain: null, path: 'vm.log', flags: OPEN_FLAGS.MIRROR_JOURNAL, maxSize: 1024 * 1024, maxBackups: 100 });
  const [fd] = open.fds;
  if (fd === undefined) throw new Error('openLog returned no fd');
  const stopFile = join(dir, 'stop');
  const reportFile = join(dir, 'report.json');
  // 400 lines (25 KiB) every 10 ms or so, until told to stop after the upgrades.
  const writer = spawnSeqWriter(fd, { stopFile, reportFile, maxBytes: 2 ** 30, batchBytes: 400 * LINE_BYTES, pauseMs: 10 });
  const writerDone = exited(writer);

  let mirrored = 0;
  for (let i = 1; i <= UPGRADES; i++) {
    // Upgrade while the mirror is busy: it has sent more since the last upgrade, and lags the file.
    await until(() => got.length > mirrored, 'the mirror to make progress');
    mirrored = got.length;
    d.proc.kill('SIGUSR1');
    await until(async () => (await client.call('stats', {})).result.upgrades === i, `upgrade ${i}`, 60_000);
  }
  writeFileSync(stopFile, '');
  t.deepEqual(await writerDone, { code: 0, signal: null });
  const report = readReport(reportFile);
  t.is(report.error, null);
  await until(async () => (await client.call('stats', { path: 'vm.log' })).result.logs[0]?.open === false, 'the log to close at EOF', 60_000);
  // The mirror sends in order: once the last line is in, a line sent twice would be in too.
  await until(() => got.length >= report.lines, 'every line in journald', 120_000);

  const problems: string[] = [];
  for (let i = 0; i < got.length && problems.length < 10; i++) {
    const want = `${String(i).padStart(12, '0')} ${'x'.repeat(LINE_BYTES - 14)}`;
    if (got[i] !== want) problems.push(`entry ${i}: ${JSON.stringify(got[i]?.slice(0, 40))}`);
  }
  t.deepEqual(problems, []);
  t.is(got.length, report.lines, 'no line twice');
  t.regex(d.stderr(), /took over from the previous process from=exec logs=1 clients=1 upgrades=5 mirrors=1/);
});
