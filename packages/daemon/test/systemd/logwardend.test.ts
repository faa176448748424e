// The shipped logwardend.socket and logwardend.service, unchanged, under systemd 252 as PID 1 of a
// container: the first RPC connection starts the real daemon (dist/src/main.js), which reports
// READY=1, feeds the watchdog, reloads on `systemctl reload` and is restarted after a crash.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import test from 'ava';

import { RpcClient } from '@logwarden/core/protocol';

import { Container, daemonDir, nspawnTest, waitFor } from './harness.js';

const SOCKET = '/run/logwarden/logwardend.sock';

function units(): Record<string, string> {
  const read = (name: string): string => readFileSync(join(daemonDir, 'systemd', name), 'utf8');
  return { 'logwardend.socket': read('logwardend.socket'), 'logwardend.service': read('logwardend.service') };
}

async function hello(c: Container): Promise<string> {
  const client = await RpcClient.connect(c.hostPath(SOCKET), { timeoutMs: 60_000 });
  try {
    return client.server.server;
  } finally {
    client.close();
  }
}

nspawnTest(test, 'logwardend.socket starts the daemon, which stays up, reloads and survives a crash', async (t) => {
  // The unit runs /usr/local/bin/logwardend, as the install steps provide it. A bind needs an
  // existing mount point and /usr is read-only, so the whole directory is replaced.
  const bin = mkdtempSync(join(tmpdir(), 'lw-bin-'));
  const launcher = join(bin, 'logwardend');
  writeFileSync(launcher, `#!/bin/sh\nexec ${process.execPath} ${daemonDir}/dist/src/main.js "$@"\n`);
  chmodSync(launcher, 0o755);
  const c = await Container.boot({ units: units(), bindReadOnly: { [bin]: '/usr/local/bin' } });
  try {
    // A short watchdog period, so that the test sees the daemon feed it.
    mkdirSync(join(c.unitDir, 'logwardend.service.d'));
    await c.installUnits({ 'logwardend.service.d/watchdog.conf': '[Service]\nWatchdogSec=2s\n' });
    const start = await c.systemctl('start', 'logwardend.socket');
    t.is(start.code, 0, start.stderr);
    t.is(await c.property('logwardend.service', 'ActiveState'), 'inactive');

    const server = await hello(c).catch(async (err: unknown) => {
      t.log(await c.journal('logwardend.service'));
      throw err;
    });
    t.regex(server, /logwarden/);
    t.is(await c.property('logwardend.service', 'ActiveState'), 'active');
    const pid = await c.property('logwardend.service', 'MainPID');
    t.not(pid, '0');
    t.is(await c.property('logwardend.service', 'StateDirectory'), 'logwarden');

    // Three watchdog periods later the same process is still there.
    await new Promise((r) => setTimeout(r, 6000));
    t.is(await c.property('logwardend.service', 'MainPID'), pid, await c.journal('logwardend.service'));
    t.is(await c.property('logwardend.service', 'Result'), 'success');

    const reload = await c.systemctl('reload', 'logwardend.service');
    t.is(reload.code, 0, reload.stderr);
    t.is(await c.property('logwardend.service', 'ActiveState'), 'active');
    t.is(await c.property('logwardend.service', 'MainPID'), pid, 'reloaded in place');

    // A crash: Restart=on-failure brings up a new process on the same socket.
    t.is((await c.run(['kill', '-KILL', pid])).code, 0);
    const newPid = await waitFor('a restarted daemon', async () => {
      const p = await c.property('logwardend.service', 'MainPID');
      const state = await c.property('logwardend.service', 'ActiveState');
      return p !== '0' && p !== pid && state === 'active' ? p : null;
    }, 60_000);
    t.not(newPid, pid);
    t.is(await c.property('logwardend.service', 'NRestarts'), '1');
    t.regex(await hello(c), /logwarden/);

    // A clean stop leaves the socket listening: the next client starts the daemon again.
    t.is((await c.systemctl('stop', 'logwardend.service')).code, 0);
    t.is(await c.property('logwardend.service', 'Result'), 'success');
    t.is(await c.property('logwardend.socket', 'ActiveState'), 'active');
    t.regex(await hello(c), /logwarden/);
    t.is(await c.property('logwardend.service', 'ActiveState'), 'active');
  } finally {
    await c.stop();
    rmSync(bin, { recursive: true, force: true });
  }
});
