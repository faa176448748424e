// In-place re-exec under a flooding writer: every line arrives once and in order, the pid, the
// client connection, uptime and the upgrade count carry over, a follow stream ends retryably.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { LwError, type RpcClient } from '@logwarden/core/protocol';
import { exited, spawnDaemon, until } from '../helpers.js';
import { checkSequence, readReport, spawnSeqWriter } from './helpers.js';

const UPGRADES = 10;
const MAX_BYTES = 2 ** 33;

async function stats(client: RpcClient): Promise<{ upgrades: number; uptimeMs: number; bytesIn: number; open: boolean }> {
  const { result } = await client.call('stats', { path: 'flood.log' });
  const log = result.logs[0];
  if (log === undefined) throw new Error('no stats for flood.log');
  return { upgrades: result.upgrades, uptimeMs: result.uptimeMs, bytesIn: log.bytesIn, open: log.open };
}

test('10 re-execs under a flooding writer lose and duplicate no line', async (t) => {
  const d = await spawnDaemon(t);
  const pid = d.proc.pid;
  const client = await d.connect();
  t.teardown(() => {
    client.close();
  });
  const open = await client.call('openLog', { driver: 'qemu', domain: null, path: 'flood.log', maxSize: MAX_BYTES * 2, maxBackups: 1 });
  const openedAt = Date.now();
  const [fd] = open.fds;
  if (fd === undefined) throw new Error('openLog returned no fd');
  const stopFile = join(d.dir, 'stop');
  const reportFile = join(d.dir, 'report.json');
  // Full speed: the writer blocks only on the full pipe. The file is large enough that nothing
  // rotates away before the sequence check.
  const writer = spawnSeqWriter(fd, { stopFile, reportFile, maxBytes: MAX_BYTES, batchBytes: 256 * 1024, pauseMs: 0 });
  const writerDone = exited(writer);

  // A follow stream open across the first upgrade ends with the retryable upgrade error.
  const followed = (async () => {
    try {
      for await (const ev of client.follow({ path: 'flood.log', position: open.result.position })) t.true(ev.data.length >= 0);
      return null;
    } catch (err) {
      return err;
    }
  })();

  let lastIn = 0;
  for (let i = 1; i <= UPGRADES; i++) {
    // Upgrade while bytes are flowing.
    await until(async () => (await stats(client)).bytesIn > lastIn, 'the writer to make progress');
    if (i % 2 === 0) {
      await client.call('upgrade', {});
    } else {
      d.proc.kill('SIGUSR1');
    }
    // The same connection is served by the new image: calls sent meanwhile wait in the socket.
    await until(async () => (await stats(client)).upgrades === i, `upgrade ${i} to complete`);
    lastIn = (await stats(client)).bytesIn;
  }
  const followErr = await followed;
  t.true(followErr instanceof LwError, 'follow ended with an error');
  t.is((followErr as LwError).code, 'LW_ERR_UPGRADE_INTERRUPTED');
  t.true((followErr as LwError).retryable);

  writeFileSync(stopFile, '');
  t.deepEqual(await writerDone, { code: 0, signal: null });
  const report = readReport(reportFile);
  t.is(report.error, null);
  t.true(report.lines > 0);
  // The writer's exit closes the pipe: the log closes once the daemon has read it all.
  await until(async () => !(await stats(client)).open, 'the log to close at EOF', 60_000);

  const seq = await checkSequence(client, 'flood.log', open.result.position);
  t.deepEqual(seq.errors, []);
  t.is(seq.lines, report.lines);
  const s = await stats(client);
  t.is(s.upgrades, UPGRADES);
  t.is(s.bytesIn, report.lines * 64);
  t.is(d.proc.pid, pid);
  t.is(d.proc.exitCode, null, 'execve kept the process');
  t.regex(d.stderr(), /took over from the previous process from=exec logs=1 clients=1 upgrades=10/);
  t.true(s.uptimeMs >= Date.now() - openedAt, 'uptime counts from the first start');
  t.log(`${(report.lines * 64 / 2 ** 20).toFixed(0)} MiB in ${(report.elapsedMs / 1000).toFixed(1)} s, longest write ${report.maxStallMs.toFixed(0)} ms`);
});
