// SIGUSR1 repeated while the daemon re-execs: 20 signals 5 ms apart while the old process is
// suspending (folded into the upgrade under way), then signals every 5 ms while the new image is in
// Node's start-up (held pending by Node, then opening its inspector, which the daemon closes). The
// daemon survives both, the flood loses and repeats no line.
//
// The third test sends SIGUSR1 every millisecond across a whole re-exec, the execve window included:
// the native execve keeps SIGUSR1 blocked across the call (upgrade/reexec.ts); without that the
// process dies of the signal's default action in that window.
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { METHOD_IDS, type RpcClient } from '@logwarden/core/protocol';
import { exited, sleep, spawnDaemon, until } from '../helpers.js';
import { RawClient } from '../raw-client.js';
import { checkSequence, readReport, spawnSeqWriter } from './helpers.js';

const SIGUSR1_BIT = 1n << 9n;

/** SIGUSR1 in the main thread of `pid`: caught by a handler, and blocked. */
function usr1State(pid: number): { caught: boolean; blocked: boolean } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const mask = (field: string): bigint => BigInt(`0x${new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(status)?.[1] ?? '0'}`);
  return { caught: (mask('SigCgt') & SIGUSR1_BIT) !== 0n, blocked: (mask('SigBlk') & SIGUSR1_BIT) !== 0n };
}

/** Ports `pid` listens on over TCP (an inspector left open would show here). */
function tcpListeners(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1] !== undefined) inodes.add(m[1]);
    } catch {
      // Closed meanwhile.
    }
  }
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is field 1 (ADDR:PORT in hex), st field 3 (0A = LISTEN), inode field 9.
      if (f[3] === '0A' && f[9] !== undefined && inodes.has(f[9])) ports.push(parseInt(f[1]?.split(':')[1] ?? '0', 16));
    }
  }
  return ports;
}

async function upgrades(client: RpcClient): Promise<number> {
  return (await client.call('stats', {})).result.upgrades;
}

test('SIGUSR1 20 times 5 ms apart during a re-exec: folded into it, the daemon survives, no line lost', async (t) => {
  const d = await spawnDaemon(t);
  const pid = d.proc.pid ?? -1;
  const client = await d.connect();
  t.teardown(() => {
    client.close();
  });
  const open = await client.call('openLog', { driver: 'qemu', domain: null, path: 'flood.log', maxSize: 2 ** 32, maxBackups: 1 });
  const [fd] = open.fds;
  if (fd === undefined) throw new Error('openLog returned no fd');
  const stopFile = join(d.dir, 'stop');
  const reportFile = join(d.dir, 'report.json');
  const writer = spawnSeqWriter(fd, { stopFile, reportFile, maxBytes: 2 ** 30, batchBytes: 256 * 1024, pauseMs: 10 });
  const writerDone = exited(writer);
  const bytesIn = async (): Promise<number> => (await client.call('stats', { path: 'flood.log' })).result.logs[0]?.bytesIn ?? 0;
  await until(async () => (await bytesIn()) > 8 * 1024 * 1024, 'the log to hold 8 MiB');

  // 1. A client that asked for 4 MiB and stopped reading holds the old process in its suspend phase
  // (up to 2 x 1 s), before execve: every signal of the burst reaches the old process.
  const stalled = await RawClient.hello(d.socketPath);
  t.teardown(() => {
    stalled.close();
  });
  await stalled.call(1, METHOD_IDS.read, { path: 'flood.log', position: open.result.position, maxLen: 4 * 1024 * 1024 });
  await until(() => stalled.received > 0, 'the read reply to start');
  stalled.pause();
  for (let i = 0; i < 20; i++) {
    d.proc.kill('SIGUSR1');
    await sleep(5);
  }
  await until(async () => (await upgrades(client)) === 1, 'the first re-exec', 60_000);
  t.regex(d.stderr(), /SIGUSR1 during an upgrade: folded into it/);

  // 2. The next re-exec: signals every 5 ms while the new image is in Node's start-up with SIGUSR1
  // blocked; Node delivers one to its inspector once its handler is in, or main.ts's trap gets it.
  d.proc.kill('SIGUSR1');
  const deadline = Date.now() + 60_000;
  let inExec = false;
  for (;;) {
    const s = usr1State(pid);
    if (!s.caught && !s.blocked) inExec = true;
    else if (inExec || (!s.caught && s.blocked)) break;
    if (Date.now() > deadline) throw new Error('the new image never showed up');
  }
  let sent = 0;
  for (; sent < 20; sent++) {
    const s = usr1State(pid);
    if (s.caught || !s.blocked) break;
    d.proc.kill('SIGUSR1');
    const until5 = performance.now() + 5;
    while (performance.now() < until5) {
      // Busy: the window is tens of ms, a timer turn could be longer.
    }
  }
  t.true(sent > 0, 'signals were sent during the new image start-up');
  await until(async () => (await upgrades(client)) === 2, 'the second re-exec', 60_000);
  await sleep(500);
  t.is(await upgrades(client), 2, 'the signals during start-up started no further upgrade');
  t.is(d.proc.exitCode, null);
  t.is(d.proc.signalCode, null);
  if (/Debugger listening/.test(d.stderr())) t.regex(d.stderr(), /closed Node's inspector/);
  t.deepEqual(tcpListeners(pid), [], 'no inspector left listening');
  t.true(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('--inspect-publish-uid=stderr'));

  writeFileSync(stopFile, '');
  t.deepEqual(await writerDone, { code: 0, signal: null });
  const report = readReport(reportFile);
  t.is(report.error, null);
  await until(async () => !(await client.call('stats', { path: 'flood.log' })).result.logs[0]?.open, 'the log to close at EOF', 60_000);
  const seq = await checkSequence(client, 'flood.log', open.result.position);
  t.deepEqual(seq.errors, []);
  t.is(seq.lines, report.lines);
});

test('SIGUSR1 every millisecond across a whole re-exec, execve window included: the daemon survives', async (t) => {
  const d = await spawnDaemon(t);
  const pid = d.proc.pid ?? -1;
  const client = await d.connect();
  t.teardown(() => {
    client.close();
  });
  const alive = (): boolean => d.proc.exitCode === null && d.proc.signalCode === null;
  const burst = { stop: false, sent: 0 };
  const bursting = (async (): Promise<void> => {
    while (!burst.stop && alive()) {
      d.proc.kill('SIGUSR1');
      burst.sent++;
      await sleep(1);
    }
  })();
  // Calls made while the daemon re-execs may fail with its retryable error: ask again.
  const upgraded = async (): Promise<boolean> => (await upgrades(client).catch(() => 0)) >= 1;
  await until(async () => (await upgraded()) || !alive(), 'the first re-exec', 60_000);
  burst.stop = true;
  await bursting;
  // Signals caught after the new image's trap are replayed as upgrade requests: let them settle.
  let last = -1;
  await until(async () => {
    const now = await upgrades(client).catch(() => -1);
    const settled = now >= 1 && now === last;
    last = now;
    if (!settled) await sleep(500);
    return settled || !alive();
  }, 'the upgrades to settle', 60_000);
  t.is(d.proc.signalCode, null, 'not killed by a SIGUSR1 that arrived during the exec');
  t.is(d.proc.exitCode, null);
  t.true(burst.sent > 20, `${burst.sent} signals sent`);
  t.deepEqual(tcpListeners(pid), [], 'no inspector left listening');
});
