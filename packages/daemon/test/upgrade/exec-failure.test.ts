// An upgrade that cannot happen leaves the daemon serving everything it held: a new image that is
// missing, that starts and dies, that hangs, that refuses the configuration (each caught by the
// --check-upgrade canary before anything is let go), and an execve that fails after the canary passed.
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { LwError, type RpcClient } from '@logwarden/core/protocol';
import { exited, spawnDaemon, tempDir, until } from '../helpers.js';
import { CANARY_TIMEOUT_MS, UPGRADE_EXEC_ENV } from '../../src/upgrade/index.js';
import { checkSequence, readReport, spawnSeqWriter } from './helpers.js';

async function refusedUpgrade(client: RpcClient): Promise<LwError> {
  const err = await client.call('upgrade', {}).then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof LwError)) throw new Error(`upgrade was not refused: ${String(err)}`);
  return err;
}

test('a failed upgrade (missing, dying, hanging or misconfigured new image; failed execve) is a coded error and the daemon keeps its log, pipe and clients', async (t) => {
  const dir = tempDir(t);
  // The program the daemon runs for the new image: rewritten between attempts.
  const image = join(dir, 'image');
  const setImage = (script: string): void => {
    writeFileSync(image, `#!/bin/sh\n${script}\n`);
    chmodSync(image, 0o755);
  };
  // This file's only test: the daemon it spawns inherits the variable.
  process.env[UPGRADE_EXEC_ENV] = image;
  const d = await spawnDaemon(t, { dir, config: '' });
  const configPath = join(dir, 'logwardend.toml');
  const client = await d.connect();
  t.teardown(() => {
    client.close();
  });
  const open = await client.call('openLog', { driver: 'qemu', domain: null, path: 'kept.log', maxSize: 2 ** 31, maxBackups: 1 });
  const [fd] = open.fds;
  if (fd === undefined) throw new Error('openLog returned no fd');
  const stopFile = join(dir, 'stop');
  const reportFile = join(dir, 'report.json');
  // Paced (about 10 MiB/s at most) so that it outlasts every attempt, the canary's timeout included.
  const writer = spawnSeqWriter(fd, { stopFile, reportFile, maxBytes: 2 ** 30, batchBytes: 64 * 1024, pauseMs: 5 });
  const writerDone = exited(writer);
  const bytesIn = async (): Promise<number> => (await client.call('stats', { path: 'kept.log' })).result.logs[0]?.bytesIn ?? 0;
  const flowing = async (): Promise<void> => {
    const before = await bytesIn();
    await until(async () => (await bytesIn()) > before, 'bytes to keep flowing');
  };

  const attempts: [string, () => void, RegExp][] = [
    ['missing', () => { rmSync(image, { force: true }); }, /^--check-upgrade: spawn .*\/image: ENOENT$/],
    ['dies at once', () => { setImage('exit 1'); }, /^--check-upgrade: the new image exited with status 1$/],
    ['hangs', () => { setImage('exec sleep 600'); }, new RegExp(`^--check-upgrade: no answer within ${CANARY_TIMEOUT_MS} ms$`)],
    ['refuses the configuration', () => {
      setImage(`exec ${process.execPath} "$@"`);
      writeFileSync(configPath, 'max_size = "big"\n');
    }, /^--check-upgrade: the new image exited with status 1: logwardend: upgrade check failed: LW_ERR_CONFIG_INVALID: .*max_size/],
    // The canary passes, then the program is gone: execve itself fails.
    ['execve fails', () => {
      writeFileSync(configPath, '');
      setImage(`case " $* " in *" --check-upgrade "*) rm -f "$0";; esac\nexec ${process.execPath} "$@"`);
    }, /^execve: ENOENT$/],
  ];
  for (const [what, prepare, reason] of attempts) {
    prepare();
    const err = await refusedUpgrade(client);
    t.is(err.code, 'LW_ERR_UPGRADE_FAILED', what);
    t.true(err.retryable, what);
    t.regex(String((err.data as { reason?: unknown } | undefined)?.reason), reason, what);
    await flowing();
  }

  // SIGUSR1 fails the same way; the daemon logs why and runs on.
  setImage('exit 1');
  d.proc.kill('SIGUSR1');
  await until(() => (d.stderr().match(/upgrade failed; running on/g) ?? []).length === attempts.length + 1, 'the SIGUSR1 failure to be logged');
  t.regex(d.stderr(), /reason="--check-upgrade: the new image exited with status 1"/);

  // Still serving: the same connection and a new one, with the log still reading its pipe.
  await flowing();
  const other = await d.connect();
  const { result } = await other.call('stats', {});
  other.close();
  t.is(result.upgrades, 0);
  t.true(result.logs[0]?.open);

  // A working image again: the upgrade goes through, the flood carries on.
  setImage(`exec ${process.execPath} "$@"`);
  await client.call('upgrade', {});
  t.is((await client.call('stats', {})).result.upgrades, 1);
  await flowing();

  writeFileSync(stopFile, '');
  t.deepEqual(await writerDone, { code: 0, signal: null });
  const report = readReport(reportFile);
  t.is(report.error, null);
  await until(async () => !(await client.call('stats', { path: 'kept.log' })).result.logs[0]?.open, 'the log to close at EOF', 60_000);
  const seq = await checkSequence(client, 'kept.log', open.result.position);
  t.deepEqual(seq.errors, []);
  t.is(seq.lines, report.lines);
  t.is(d.proc.exitCode, null);
});
