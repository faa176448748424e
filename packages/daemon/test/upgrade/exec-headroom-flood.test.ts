// Exec headroom under a full-speed writer: re-execs with each widening the pipe (pipe_size 64 KiB,
// exec_headroom 1 MiB, within any user's pipe-max-size) while a guest writes as fast as the pipe
// takes it. The pipe is widened while the guest keeps filling it, carried to the next image full,
// shrunk back while the guest goes on writing (EBUSY until the daemon catches up): every line
// arrives once and in order, and the pipe ends at pipe_size.
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import test from 'ava';
import { close, dup, getPipeSize } from '@logwarden/core/native';
import type { RpcClient } from '@logwarden/core/protocol';
import { exited, spawnDaemon, until } from '../helpers.js';
import { checkSequence, LINE_BYTES, readReport, spawnSeqWriter } from './helpers.js';

const UPGRADES = 5;
const PIPE_SIZE = 64 * 1024;
const MAX_BYTES = 2 ** 33;

async function logStats(client: RpcClient): Promise<{ upgrades: number; bytesIn: number; open: boolean }> {
  const { result } = await client.call('stats', { path: 'flood.log' });
  const log = result.logs[0];
  if (log === undefined) throw new Error('no stats for flood.log');
  return { upgrades: result.upgrades, bytesIn: log.bytesIn, open: log.open };
}

test('re-execs that widen the pipe under a full-speed writer lose and duplicate no line, and the pipe ends at pipe_size', async (t) => {
  const d = await spawnDaemon(t, { config: `pipe_size = ${PIPE_SIZE}\nexec_headroom = 1048576\nlog_level = "debug"\n` });
  const client = await d.connect();
  t.teardown(() => {
    client.close();
  });
  const open = await client.call('openLog', { driver: 'qemu', domain: null, path: 'flood.log', maxSize: MAX_BYTES * 2, maxBackups: 1 });
  const [fd] = open.fds;
  if (fd === undefined) throw new Error('openLog returned no fd');
  // Our own copy of the write end: the pipe's size stays observable, and the log open, after the writer exits.
  let probe = dup(fd);
  t.teardown(() => {
    if (probe >= 0) close(probe);
  });
  t.is(getPipeSize(probe), PIPE_SIZE);
  const stopFile = join(d.dir, 'stop');
  const reportFile = join(d.dir, 'report.json');
  const writer = spawnSeqWriter(fd, { stopFile, reportFile, maxBytes: MAX_BYTES, batchBytes: 64 * 1024, pauseMs: 0 });
  const writerDone = exited(writer);

  let lastIn = 0;
  for (let i = 1; i <= UPGRADES; i++) {
    await until(async () => (await logStats(client)).bytesIn > lastIn, 'the writer to make progress');
    if (i % 2 === 0) await client.call('upgrade', {});
    else d.proc.kill('SIGUSR1');
    await until(async () => (await logStats(client)).upgrades === i, `upgrade ${i} to complete`);
    lastIn = (await logStats(client)).bytesIn;
  }
  writeFileSync(stopFile, '');
  t.deepEqual(await writerDone, { code: 0, signal: null });
  const report = readReport(reportFile);
  t.is(report.error, null);

  // Once the guest stops, the daemon catches up and the pipe gets its size back.
  await until(() => getPipeSize(probe) === PIPE_SIZE, 'the pipe to be back at pipe_size', 60_000);
  close(probe);
  probe = -1;
  await until(async () => !(await logStats(client)).open, 'the log to close at EOF', 60_000);

  const seq = await checkSequence(client, 'flood.log', open.result.position);
  t.deepEqual(seq.errors, []);
  t.is(seq.lines, report.lines);
  t.is((await logStats(client)).bytesIn, report.lines * LINE_BYTES);
  const widenings = d.stderr().match(/exec headroom: pipes widened for the exec pipes=\d/g) ?? [];
  t.is(widenings.length, UPGRADES, d.stderr());
  // A widening finds the pipe at pipe_size unless the guest kept it full since the last one.
  t.true(widenings.some((w) => w.endsWith('pipes=1')));
  t.regex(d.stderr(), /took over from the previous process from=exec logs=1 clients=1 upgrades=5/);
  t.log(`${((report.lines * LINE_BYTES) / 2 ** 20).toFixed(0)} MiB, longest write ${report.maxStallMs.toFixed(0)} ms, ${widenings.filter((w) => w.endsWith('pipes=1')).length} of ${UPGRADES} widenings found room`);
});
