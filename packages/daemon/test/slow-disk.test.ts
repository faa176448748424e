// A stalled disk, for real: the daemon runs in its own mount namespace with its log root on an ext4
// image on a loop device, and `fsfreeze -f` stalls every write there (writers sit in D state) until
// `fsfreeze -u`. The guest must not block past the stall timeout, RPC must keep answering, and the
// file must end up a prefix-consistent subset of the stream with one marker line. Then, with the
// disk thawed, nothing was lost that the daemon did not count: the file holds the stream's prefix,
// the marker, and the stream from just past the dropped bytes to its end.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { close } from '@logwarden/core/native';
import { RpcClient } from '@logwarden/core/protocol';
import { domain, exited, MAIN, needsRoot, sleep, tempDir, testNeeding, until } from './helpers.js';

const STALL_MS = 500;
const FREEZE_MS = 5000;
const LINE = 1000;

function missing(): string | undefined {
  const root = needsRoot('mount a loop device and freeze it');
  if (root !== undefined) return root;
  for (const tool of ['unshare', 'nsenter', 'fsfreeze', 'mkfs.ext4', 'losetup']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `needs ${tool}`;
  }
  if (spawnSync('losetup', ['-f']).status !== 0) return 'needs a free loop device';
  return undefined;
}

// The guest: 1000-byte numbered lines at ~1 MB/s (a 64 KiB pipe fills in ~64 ms); reports on
// stderr the lines written and its longest write() wait.
const GUEST = `
const fs = require('node:fs');
const end = Date.now() + Number(process.argv[1]);
let n = 0, maxWait = 0;
while (Date.now() < end) {
  const line = Buffer.from(String(n).padStart(8, '0') + '.'.repeat(${LINE - 9}) + '\\n');
  const t0 = Date.now();
  fs.writeSync(1, line);
  maxWait = Math.max(maxWait, Date.now() - t0);
  n++;
  const until = Date.now() + 1;
  while (Date.now() < until);
}
process.stderr.write(JSON.stringify({ lines: n, maxWait }));
`;

function stream(lines: number): Buffer {
  const out = Buffer.alloc(lines * LINE, 0x2e);
  for (let i = 0; i < lines; i++) {
    out.write(String(i).padStart(8, '0'), i * LINE, 'latin1');
    out[i * LINE + LINE - 1] = 0x0a;
  }
  return out;
}

testNeeding('a frozen disk: the guest never blocks past the stall timeout, RPC answers, drops are counted and recorded by one marker', missing(), async (t) => {
  const dir = tempDir(t, 'lw-slow-disk-');
  const stateDir = join(dir, 'state');
  const mnt = join(stateDir, 'log');
  mkdirSync(mnt, { recursive: true });
  const img = join(dir, 'disk.img');
  execFileSync('truncate', ['-s', '64M', img]);
  execFileSync('mkfs.ext4', ['-q', img]);
  const config = join(dir, 'logwardend.toml');
  writeFileSync(config, `stall_timeout_ms = ${STALL_MS}\npipe_size = 65536\n`);
  // unshare and sh exec in place: the child's pid is the daemon's, in the private namespace.
  const proc = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c',
    'mount -o loop "$0" "$1" && exec "$2" "$3" --state-dir "$4" --config "$5"',
    img, mnt, process.execPath, MAIN, stateDir, config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  const pid = proc.pid as number;
  const freeze = (how: '-f' | '-u'): boolean => spawnSync('nsenter', ['-t', String(pid), '-m', 'fsfreeze', how, mnt]).status === 0;
  // Registered after spawn: ava runs teardowns last-registered first, so the thaw precedes the kill.
  t.teardown(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      freeze('-u');
      proc.kill('SIGKILL');
      await exited(proc);
    }
  });
  const socketPath = join(stateDir, 'run/logwardend.sock');
  let client: RpcClient | undefined;
  await until(async () => {
    if (proc.exitCode !== null) throw new Error(`daemon exited ${proc.exitCode}: ${stderr}`);
    try {
      client = await RpcClient.connect(socketPath, { timeoutMs: 20_000 });
      return true;
    } catch {
      return false;
    }
  }, 'the daemon to answer');
  const c = client as RpcClient;
  t.teardown(() => {
    c.close();
  });
  const path = 'slow.log';
  const open = await c.call('openLog', { driver: 'qemu', domain, path, maxSize: 32 * 1024 * 1024, maxBackups: 1 });
  const guest = spawn(process.execPath, ['-e', GUEST, String(FREEZE_MS + 4000)], { stdio: ['ignore', open.fds[0], 'pipe'] });
  close(open.fds[0] as number);
  let report = '';
  if (guest.stderr === null) throw new Error('no stderr pipe');
  guest.stderr.setEncoding('utf8').on('data', (s: string) => {
    report += s;
  });

  await sleep(1500);
  t.true(freeze('-f'), 'fsfreeze -f');
  let slowest = 0;
  const frozenAt = Date.now();
  const frozenUntil = frozenAt + FREEZE_MS;
  try {
    while (Date.now() < frozenUntil) {
      const t0 = Date.now();
      await c.call('list', {});
      await c.call('stats', { path });
      // A stalled log answers position queries at once (it sheds: nothing to wait for).
      if (Date.now() - frozenAt > STALL_MS * 2) await c.call('getPosition', { path });
      slowest = Math.max(slowest, Date.now() - t0);
      await sleep(200);
    }
  } finally {
    t.true(freeze('-u'), 'fsfreeze -u');
  }
  t.true(slowest < 2000, `list + stats (+ getPosition) took ${slowest} ms while the disk was frozen`);

  t.deepEqual(await exited(guest), { code: 0, signal: null });
  const { lines, maxWait } = JSON.parse(report) as { lines: number; maxWait: number };
  t.log(`guest: ${lines} lines, longest write() ${maxWait} ms; slowest RPC pair while frozen ${slowest} ms`);
  t.true(maxWait < STALL_MS + 2000, `the guest waited ${maxWait} ms in write()`);

  const end = (await c.call('getPosition', { path })).result.position;
  const data = Buffer.from((await c.call('read', { path, position: { inode: end.inode, offset: 0 }, maxLen: 4 * 1024 * 1024 })).result.data);
  const text = data.toString('latin1');
  const markers = [...text.matchAll(/\[logwarden: dropped (\d+) bytes: disk stalled\]\n/g)];
  t.is(markers.length, 1, 'exactly one marker line');
  const m = markers[0];
  if (m === undefined) return;
  const dropped = Number(m[1]);
  const stats = (await c.call('stats', { path })).result.logs[0];
  t.is(stats?.bytesDropped, dropped, 'stats count what the marker records');
  t.true(dropped > 0);
  const all = stream(lines);
  const at = m.index;
  const before = data.subarray(0, at);
  const after = data.subarray(at + m[0].length);
  t.true(before.length > 0 && before.equals(all.subarray(0, at)), 'before the marker: the stream from its start');
  t.true(after.equals(all.subarray(at + dropped)), 'after the marker: the stream past the dropped bytes, to its end');
  t.is(before.length + dropped + after.length, all.length, 'every byte written or counted');
});
