// Exec headroom across a crash, under systemd 252 (PID 1 of a container) with the shipped units: a
// pipe still widened when the daemon dies (a crash during the exec, or before a widened pipe was
// shrunk back) comes back from the fd store, and the restarted daemon shrinks it to pipe_size.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { close, getPipeSize, setPipeSize, write } from '@logwarden/core/native';
import { RpcClient } from '@logwarden/core/protocol';
import { Container, daemonDir, nspawnTest, waitFor } from './harness.js';

const SOCKET = '/run/logwarden/logwardend.sock';
const PIPE_SIZE = 64 * 1024;
const WIDE = 1024 * 1024;

function units(): Record<string, string> {
  const read = (name: string): string => readFileSync(join(daemonDir, 'systemd', name), 'utf8');
  return { 'logwardend.socket': read('logwardend.socket'), 'logwardend.service': read('logwardend.service') };
}

nspawnTest(test, 'a pipe found wider than pipe_size after a crash (fd store) is shrunk back to pipe_size, its bytes kept', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'lw-headroom-crash-'));
  const bin = join(work, 'bin');
  mkdirSync(bin);
  // The container sees this directory as /usr/local/bin: the launcher and its configuration.
  writeFileSync(join(bin, 'logwardend.toml'), `pipe_size = ${PIPE_SIZE}\nlog_level = "debug"\n`);
  writeFileSync(join(bin, 'logwardend'), `#!/bin/sh\nexec ${process.execPath} ${daemonDir}/dist/src/main.js --config /usr/local/bin/logwardend.toml "$@"\n`);
  chmodSync(join(bin, 'logwardend'), 0o755);
  const c = await Container.boot({ units: units(), bindReadOnly: { [bin]: '/usr/local/bin' } });
  let client: RpcClient | null = null;
  let fd = -1;
  try {
    t.is((await c.systemctl('start', 'logwardend.socket')).code, 0);
    const connect = (): Promise<RpcClient> => waitFor('the daemon to answer', () => RpcClient.connect(c.hostPath(SOCKET), { timeoutMs: 60_000 }).catch(() => null), 60_000);
    client = await connect();
    const open = await client.call('openLog', { driver: 'qemu', domain: null, path: 'vm.log' });
    fd = open.fds[0] ?? -1;
    t.is(getPipeSize(fd), PIPE_SIZE);
    // Stored: the log's pipe and its staging pipe, beside the state record.
    await waitFor('the pipes in the fd store', async () => (Number(await c.property('logwardend.service', 'NFileDescriptorStore')) >= 2 ? true : null), 60_000);

    // As an exec would have left it (the guest's write end is the same pipe).
    setPipeSize(fd, WIDE);
    const old = await c.property('logwardend.service', 'MainPID');
    const line = Buffer.from('written while the pipe was wide\n');
    t.is(write(fd, line), line.length);
    await c.run(['kill', '-KILL', old]);
    client.close();
    await waitFor('a new daemon process', async () => {
      const p = await c.property('logwardend.service', 'MainPID');
      return p !== '0' && p !== old && (await c.property('logwardend.service', 'ActiveState')) === 'active' ? p : null;
    }, 60_000);
    client = await connect();

    await waitFor('the pipe back at pipe_size', () => (getPipeSize(fd) === PIPE_SIZE ? true : null), 60_000);
    const c2 = client;
    await waitFor('the line in the log', async () => ((await c2.call('getPosition', { path: 'vm.log' })).result.position.offset >= line.length ? true : null), 60_000);
    const { result } = await client.call('read', { path: 'vm.log', position: open.result.position, maxLen: 4096 });
    t.is(Buffer.from(result.data).toString(), line.toString());
    const journal = await c.journal('logwardend.service');
    t.regex(journal, new RegExp(`exec headroom: pipe back to its size path=vm.log size=${PIPE_SIZE}`));
  } finally {
    client?.close();
    if (fd >= 0) close(fd);
    await c.stop();
    rmSync(work, { recursive: true, force: true });
  }
});
