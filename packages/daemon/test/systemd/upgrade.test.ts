// Upgrade and crash recovery under systemd 252 (PID 1 of a container) with the shipped units: a host
// writer floods a log through a pipe while the daemon is re-exec'd (SIGUSR1: same MainPID), restarted
// (`systemctl restart`) and killed (SIGKILL). Each time the pipe comes back from the fd store; at the
// end every line is in the file once, in order. After the kill, the log's counters come back from
// the fd store's state record no lower than they were RECORD_PERIOD_MS + a margin before the kill.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { RpcClient } from '@logwarden/core/protocol';
import { RECORD_PERIOD_MS } from '../../src/upgrade/index.js';
import { exited, sleep } from '../helpers.js';
import { checkSequence, readReport, spawnSeqWriter } from '../upgrade/helpers.js';
import { Container, daemonDir, nspawnTest, waitFor } from './harness.js';

const SOCKET = '/run/logwarden/logwardend.sock';
const LOG = 'flood.log';

function units(): Record<string, string> {
  const read = (name: string): string => readFileSync(join(daemonDir, 'systemd', name), 'utf8');
  return { 'logwardend.socket': read('logwardend.socket'), 'logwardend.service': read('logwardend.service') };
}

nspawnTest(test, 're-exec, systemctl restart and kill -9 mid-flood: the pipe comes back from the fd store, no line lost or doubled', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'lw-upgrade-'));
  const bin = join(work, 'bin');
  const launcher = join(bin, 'logwardend');
  mkdirSync(bin);
  writeFileSync(launcher, `#!/bin/sh\nexec ${process.execPath} ${daemonDir}/dist/src/main.js "$@"\n`);
  chmodSync(launcher, 0o755);
  const c = await Container.boot({ units: units(), bindReadOnly: { [bin]: '/usr/local/bin' } });
  // Replaced at each reconnect (a restarted daemon drops its clients).
  const conn: { client: RpcClient | null } = { client: null };
  try {
    t.is((await c.systemctl('start', 'logwardend.socket')).code, 0);
    const connect = async (): Promise<RpcClient> => {
      conn.client?.close();
      conn.client = await waitFor('the daemon to answer', () => RpcClient.connect(c.hostPath(SOCKET), { timeoutMs: 60_000 }).catch(() => null), 60_000);
      return conn.client;
    };
    const stats = async (): Promise<{ open: boolean; bytesIn: number; bytesWritten: number; upgrades: number }> => {
      const { result } = await (conn.client ?? (await connect())).call('stats', { path: LOG });
      const log = result.logs[0];
      return { open: log?.open ?? false, bytesIn: log?.bytesIn ?? 0, bytesWritten: log?.bytesWritten ?? 0, upgrades: result.upgrades };
    };
    const mainPid = (): Promise<string> => c.property('logwardend.service', 'MainPID');
    const flowing = async (what: string): Promise<void> => {
      const before = (await stats()).bytesIn;
      await waitFor(what, async () => ((await stats()).bytesIn > before ? true : null), 60_000);
    };
    const restarted = async (old: string): Promise<string> => {
      const pid = await waitFor('a new daemon process', async () => {
        const p = await mainPid();
        return p !== '0' && p !== old && (await c.property('logwardend.service', 'ActiveState')) === 'active' ? p : null;
      }, 60_000);
      await connect();
      return pid;
    };

    const first = await connect();
    const open = await first.call('openLog', { driver: 'qemu', domain: null, path: LOG, maxSize: 2 ** 34, maxBackups: 1 });
    const [fd] = open.fds;
    if (fd === undefined) throw new Error('openLog returned no fd');
    const stopFile = join(work, 'stop');
    const reportFile = join(work, 'report.json');
    const writer = spawnSeqWriter(fd, { stopFile, reportFile, maxBytes: 2 ** 33, batchBytes: 256 * 1024, pauseMs: 0 });
    const writerDone = exited(writer);
    await flowing('the writer to start');
    const pid0 = await mainPid();

    // Re-exec in place: same MainPID, RELOADING=1 then READY=1, the unit stays active.
    t.is((await c.systemctl('kill', '--kill-who=main', '-s', 'USR1', 'logwardend.service')).code, 0);
    await waitFor('the re-exec', async () => ((await stats()).upgrades === 1 ? true : null), 60_000);
    t.is(await mainPid(), pid0);
    t.is(await c.property('logwardend.service', 'ActiveState'), 'active');
    await flowing('bytes after the re-exec');

    // systemctl restart: SIGTERM, the daemon writes out its pipes and leaves them in the store.
    t.is((await c.systemctl('restart', 'logwardend.service')).code, 0);
    const pid1 = await restarted(pid0);
    t.true((await stats()).open, 'the log is open again with its pipe from the fd store');
    await flowing('bytes after systemctl restart');

    // kill -9: nothing written out, the pipe and what it holds wait in the store. The counters
    // seen one record period (and a margin) before the kill were in a record by then.
    await sleep(2 * RECORD_PERIOD_MS);
    const before = await stats();
    await sleep(RECORD_PERIOD_MS + 500);
    t.is((await c.run(['kill', '-KILL', pid1])).code, 0);
    const pid2 = await restarted(pid1);
    t.not(pid2, pid1);
    const after = await stats();
    t.true(after.open, 'the log is open again after the crash');
    t.true(after.bytesIn >= before.bytesIn, `bytesIn ${after.bytesIn} after the crash, ${before.bytesIn} before`);
    t.true(after.bytesWritten >= before.bytesWritten, `bytesWritten ${after.bytesWritten} after the crash, ${before.bytesWritten} before`);
    await flowing('bytes after kill -9');
    t.is(await c.property('logwardend.service', 'NRestarts'), '1');

    writeFileSync(stopFile, '');
    t.deepEqual(await writerDone, { code: 0, signal: null });
    const report = readReport(reportFile);
    t.is(report.error, null);
    await waitFor('the log to close at EOF', async () => (!(await stats()).open ? true : null), 60_000);
    const seq = await checkSequence(conn.client ?? (await connect()), LOG, open.result.position);
    t.deepEqual(seq.errors, []);
    t.is(seq.lines, report.lines);
    t.log(`${(report.lines * 64 / 2 ** 20).toFixed(0)} MiB in ${(report.elapsedMs / 1000).toFixed(1)} s, longest write ${report.maxStallMs.toFixed(0)} ms`);
    const journal = await c.journal('logwardend.service');
    t.regex(journal, /took over from the previous process from=fd-store logs=1/);
    t.regex(journal, /left the log pipes in the fd store logs=1/);
  } catch (err) {
    t.log(await c.journal('logwardend.service'));
    throw err;
  } finally {
    conn.client?.close();
    await c.stop();
    rmSync(work, { recursive: true, force: true });
  }
});
