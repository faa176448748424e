// An exec that cannot happen (the program is missing) leaves the daemon serving everything it held.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { LwError } from '@logwarden/core/protocol';
import { exited, spawnDaemon, until } from '../helpers.js';
import { UPGRADE_EXEC_ENV } from '../../src/upgrade/index.js';
import { checkSequence, readReport, spawnSeqWriter } from './helpers.js';

// This file's only test: the daemon it spawns inherits the variable.
process.env[UPGRADE_EXEC_ENV] = '/nonexistent/logwarden/node';

test('a failed re-exec is reported with a coded error and the daemon keeps its log, pipe and clients', async (t) => {
  const d = await spawnDaemon(t);
  const client = await d.connect();
  t.teardown(() => {
    client.close();
  });
  const open = await client.call('openLog', { driver: 'qemu', domain: null, path: 'kept.log', maxSize: 2 ** 30, maxBackups: 1 });
  const [fd] = open.fds;
  if (fd === undefined) throw new Error('openLog returned no fd');
  const stopFile = join(d.dir, 'stop');
  const reportFile = join(d.dir, 'report.json');
  const writer = spawnSeqWriter(fd, { stopFile, reportFile, maxBytes: 2 ** 28, batchBytes: 256 * 1024, pauseMs: 5 });
  const writerDone = exited(writer);

  const err = await client.call('upgrade', {}).then(
    () => null,
    (e: unknown) => e,
  );
  t.true(err instanceof LwError);
  t.is((err as LwError).code, 'LW_ERR_UPGRADE_FAILED');
  t.true((err as LwError).retryable);
  t.regex((err as LwError).message, /execve: ENOENT/);

  // SIGUSR1 fails the same way; the daemon logs why and runs on.
  d.proc.kill('SIGUSR1');
  await until(() => (d.stderr().match(/upgrade failed; running on/g) ?? []).length === 2, 'the second failure to be logged');
  t.regex(d.stderr(), /reason="execve: ENOENT"/);

  // Still serving: the same connection and a new one, with the log still reading its pipe.
  const before = (await client.call('stats', { path: 'kept.log' })).result.logs[0]?.bytesIn ?? 0;
  await until(async () => ((await client.call('stats', { path: 'kept.log' })).result.logs[0]?.bytesIn ?? 0) > before, 'bytes to keep flowing');
  const other = await d.connect();
  const { result } = await other.call('stats', {});
  other.close();
  t.is(result.upgrades, 0);
  t.true(result.logs[0]?.open);

  writeFileSync(stopFile, '');
  t.deepEqual(await writerDone, { code: 0, signal: null });
  const report = readReport(reportFile);
  await until(async () => !(await client.call('stats', { path: 'kept.log' })).result.logs[0]?.open, 'the log to close at EOF', 60_000);
  const seq = await checkSequence(client, 'kept.log', open.result.position);
  t.deepEqual(seq.errors, []);
  t.is(seq.lines, report.lines);
  t.is(d.proc.exitCode, null);
});
