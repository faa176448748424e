// Dispatch in process: every method through RpcServer.inject (same validation and codec as a
// socket, no socket), against a real Daemon with real pipes and files in a temp dir.
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { close, dup, getNonblock, write } from '@logwarden/core/native';
import { LwError, OPEN_FLAGS, POSITION_START, type ErrorCode, type FollowEvent } from '@logwarden/core/protocol';
import { loadConfig } from '../src/config.js';
import { Daemon } from '../src/daemon.js';
import { Logger } from '../src/logger.js';
import { domain, exited, needsRoot, sleep, spawnWriter, tempDir, testNeeding, until } from './helpers.js';

interface Setup {
  daemon: Daemon;
  dir: string;
  configPath: string;
  root: string;
  lines: string[];
}

async function setup(t: ExecutionContext, configText = '', dir = tempDir(t)): Promise<Setup> {
  const configPath = join(dir, 'logwardend.toml');
  writeFileSync(configPath, configText);
  const flags = { configPath, stateDir: join(dir, 'state') };
  const config = loadConfig(flags);
  const lines: string[] = [];
  const logger = new Logger({ level: config.logLevel, write: (l) => lines.push(l) });
  const daemon = await Daemon.start(config, { flags, logger, version: 'test' });
  t.teardown(() => daemon.stop());
  return { daemon, dir, configPath, root: config.logRoot, lines };
}

async function refused(t: ExecutionContext, p: Promise<unknown>, code: ErrorCode): Promise<LwError> {
  const err = await t.throwsAsync(p, { instanceOf: LwError });
  t.is(err.code, code, err.message);
  return err;
}

function writeAll(fd: number, data: Buffer): void {
  let off = 0;
  while (off < data.length) off += write(fd, data, off) ?? 0;
}

test('openLog hands out a blocking pipe write end; getPosition drains the pipe first', async (t) => {
  const { daemon } = await setup(t);
  const s = daemon.server;
  const { result, fds } = await s.inject('openLog', { driver: 'qemu', domain, path: 'vm1.log' });
  t.deepEqual(result.position.offset, 0);
  t.is(fds.length, 1);
  const fd = fds[0] as number;
  t.teardown(() => { close(fd); });
  t.false(getNonblock(fd), 'guests expect blocking writes');
  // Written and queried in the same tick: the poller has not run, only the drain can see it.
  writeAll(fd, Buffer.alloc(100_000, 0x41));
  const pos = await s.inject('getPosition', { path: 'vm1.log' });
  t.is(pos.result.position.offset, 100_000);
  t.is(pos.result.position.inode, result.position.inode);
});

test('openLog refuses a second opener, bad limits and unknown flags', async (t) => {
  const { daemon } = await setup(t);
  const s = daemon.server;
  const first = await s.inject('openLog', { driver: 'qemu', domain, path: 'a.log' });
  t.teardown(() => { close(first.fds[0] as number); });
  await refused(t, s.inject('openLog', { driver: 'qemu', domain, path: 'a.log' }), 'LW_ERR_LOG_BUSY');
  await refused(t, s.inject('openLog', { driver: 'qemu', domain, path: './a.log' }), 'LW_ERR_LOG_BUSY');
  const small = await refused(t, s.inject('openLog', { driver: 'qemu', domain, path: 'b.log', maxSize: 100 }), 'LW_ERR_PROTO_BAD_ARGS');
  t.like(small.data, { field: 'maxSize' });
  await refused(t, s.inject('openLog', { driver: 'qemu', domain, path: 'b.log', maxBackups: 1001 }), 'LW_ERR_PROTO_BAD_ARGS');
  await refused(t, s.inject('openLog', { driver: 'qemu', domain, path: 'b.log', flags: 4 }), 'LW_ERR_PROTO_UNKNOWN_FLAGS');
  await refused(t, s.inject('openLog', { driver: 'Bad Driver', domain, path: 'b.log' }), 'LW_ERR_PROTO_BAD_ARGS');
  t.false(existsSync(join(daemon.config.logRoot, 'b.log')), 'refused calls create nothing');
  // Closing frees the path for a new opener.
  await s.inject('closeLog', { path: 'a.log' });
  const again = await s.inject('openLog', { driver: 'qemu', domain, path: 'a.log' });
  close(again.fds[0] as number);
});

test('TRUNCATE starts the log empty, backups included', async (t) => {
  const { daemon, root } = await setup(t);
  const s = daemon.server;
  for (let i = 0; i < 4; i++) {
    await s.inject('append', { driver: 'qemu', domain, path: 't.log', data: Buffer.alloc(3000, 0x61 + i), maxSize: 4096, maxBackups: 3 });
  }
  t.true(existsSync(join(root, 't.log.0')));
  const old = (await s.inject('getPosition', { path: 't.log' })).result.position;
  const { result, fds } = await s.inject('openLog', { driver: 'qemu', domain, path: 't.log', flags: OPEN_FLAGS.TRUNCATE, maxSize: 4096, maxBackups: 3 });
  close(fds[0] as number);
  t.false(existsSync(join(root, 't.log.0')));
  t.is(readFileSync(join(root, 't.log')).length, 0);
  // Stream offsets go on counting, so a position from before reads as a gap, never as new data.
  t.is(result.position.offset, 12_000);
  t.is(old.offset, 12_000);
  const fromStart = await s.inject('read', { path: 't.log', position: POSITION_START, maxLen: 100 });
  t.is(fromStart.result.data.length, 0);
});

test('append and read are binary-safe and say where they end', async (t) => {
  const { daemon } = await setup(t);
  const s = daemon.server;
  const bytes = Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256));
  const appended = await s.inject('append', { driver: 'qemu', domain: null, path: 'bin.log', data: bytes });
  t.is(appended.result.position.offset, 512);
  const r = await s.inject('read', { path: 'bin.log', position: POSITION_START, maxLen: 4096 });
  t.true(Buffer.from(r.result.data).equals(bytes));
  t.deepEqual(r.result.position, appended.result.position);
  t.is(r.result.gap, 0);
  const part = await s.inject('read', { path: 'bin.log', position: { ...appended.result.position, offset: 500 }, maxLen: 5 });
  t.true(Buffer.from(part.result.data).equals(bytes.subarray(500, 505)));
  await refused(t, s.inject('read', { path: 'bin.log', position: POSITION_START, maxLen: 4 * 1024 * 1024 + 1 }), 'LW_ERR_PROTO_BAD_ARGS');
  await refused(t, s.inject('read', { path: 'bin.log', position: { ...appended.result.position, offset: 513 }, maxLen: 10 }), 'LW_ERR_LOG_POSITION_INVALID');
});

test('unknown logs and escaping paths are coded errors', async (t) => {
  const { daemon, root, dir } = await setup(t);
  const s = daemon.server;
  await refused(t, s.inject('read', { path: 'nope.log', position: POSITION_START, maxLen: 10 }), 'LW_ERR_LOG_NOT_FOUND');
  await refused(t, s.inject('read', { path: 'nodir/nope.log', position: POSITION_START, maxLen: 10 }), 'LW_ERR_LOG_NOT_FOUND');
  await refused(t, s.inject('getPosition', { path: 'nope.log' }), 'LW_ERR_LOG_NOT_FOUND');
  await refused(t, s.inject('closeLog', { path: 'nope.log' }), 'LW_ERR_LOG_NOT_FOUND');
  await refused(t, s.inject('removeLog', { path: 'nope.log' }), 'LW_ERR_LOG_NOT_FOUND');
  await refused(t, s.inject('stats', { path: 'nope.log' }), 'LW_ERR_LOG_NOT_FOUND');
  await refused(t, s.inject('follow', { path: 'nope.log', position: POSITION_START }), 'LW_ERR_LOG_NOT_FOUND');
  await refused(t, s.inject('openLog', { driver: 'qemu', domain, path: '../x.log' }), 'LW_ERR_PATH_OUTSIDE_ROOT');
  await refused(t, s.inject('append', { driver: 'qemu', domain, path: join(dir, 'x.log'), data: Buffer.from('x') }), 'LW_ERR_PATH_OUTSIDE_ROOT');
  mkdirSync(join(dir, 'elsewhere'));
  symlinkSync(join(dir, 'elsewhere'), join(root, 'link'));
  await refused(t, s.inject('openLog', { driver: 'qemu', domain, path: 'link/x.log' }), 'LW_ERR_PATH_SYMLINK');
  await refused(t, s.inject('append', { driver: 'qemu', domain, path: 'link/y.log', data: Buffer.from('x') }), 'LW_ERR_PATH_SYMLINK');
  t.deepEqual(readdirSync(join(dir, 'elsewhere')), []);
  // Absolute inside the root is the same log as relative.
  await s.inject('append', { driver: 'qemu', domain, path: join(root, 'abs.log'), data: Buffer.from('x\n') });
  t.is((await s.inject('getPosition', { path: 'abs.log' })).result.position.offset, 2);
});

test('refused openLog and append leave list and stats unchanged', async (t) => {
  const { daemon, root, dir } = await setup(t);
  const s = daemon.server;
  await s.inject('append', { driver: 'qemu', domain, path: 'ok.log', data: Buffer.from('ok\n') });
  const before = (await s.inject('list', {})).result.logs;
  t.deepEqual(before.map((l) => l.path), ['ok.log']);
  mkdirSync(join(dir, 'elsewhere'));
  symlinkSync(join(dir, 'elsewhere'), join(root, 'evil'));
  mkdirSync(join(root, 'adir.log'));
  const attempts: [string, ErrorCode][] = [
    ['evil/x.log', 'LW_ERR_PATH_SYMLINK'],
    ['../x.log', 'LW_ERR_PATH_OUTSIDE_ROOT'],
    ['adir.log', 'LW_ERR_PATH_NOT_REGULAR'],
    ['ok.log/x.log', 'LW_ERR_PATH_NOT_REGULAR'],
  ];
  for (const [path, code] of attempts) {
    await refused(t, s.inject('append', { driver: 'qemu', domain, path, data: Buffer.from('x') }), code);
    await refused(t, s.inject('openLog', { driver: 'qemu', domain, path }), code);
  }
  t.deepEqual((await s.inject('list', {})).result.logs, before);
  t.deepEqual((await s.inject('stats', {})).result.logs, before);
  await refused(t, s.inject('stats', { path: 'evil/x.log' }), 'LW_ERR_LOG_NOT_FOUND');
});

test('removeLog deletes the whole chain and only a closed log', async (t) => {
  const { daemon, root } = await setup(t);
  const s = daemon.server;
  for (let i = 0; i < 6; i++) {
    await s.inject('append', { driver: 'qemu', domain, path: 'd/r.log', data: Buffer.alloc(3000, 0x30 + i), maxSize: 4096, maxBackups: 3 });
  }
  writeFileSync(join(root, 'd/r.log.other'), 'not part of the chain');
  writeFileSync(join(root, 'd/r.log.2024'), 'another log');
  const open = await s.inject('openLog', { driver: 'qemu', domain, path: 'd/r.log', maxSize: 4096, maxBackups: 3 });
  close(open.fds[0] as number);
  await until(async () => !(await s.inject('list', {})).result.logs.some((l) => l.open), 'EOF to close the log');
  const files = readdirSync(join(root, 'd')).filter((f) => /^r\.log(\.[0-2])?$/.test(f));
  t.is(files.length, 4);
  const { result } = await s.inject('removeLog', { path: 'd/r.log' });
  t.is(result.removed, 4);
  t.deepEqual(readdirSync(join(root, 'd')).sort(), ['r.log.2024', 'r.log.other']);
  t.deepEqual((await s.inject('list', {})).result.logs, []);
  const busy = await s.inject('openLog', { driver: 'qemu', domain, path: 'busy.log' });
  t.teardown(() => { close(busy.fds[0] as number); });
  await refused(t, s.inject('removeLog', { path: 'busy.log' }), 'LW_ERR_LOG_BUSY');
});

test('list and stats count bytes in, written and dropped per log', async (t) => {
  const { daemon } = await setup(t);
  const s = daemon.server;
  await s.inject('append', { driver: 'qemu', domain, path: 'one.log', data: Buffer.from('hello\n') });
  const open = await s.inject('openLog', { driver: 'xen', domain: null, path: 'two.log' });
  const fd = open.fds[0] as number;
  writeAll(fd, Buffer.alloc(10_000, 0x42));
  close(fd);
  await until(async () => (await s.inject('stats', { path: 'two.log' })).result.logs[0]?.open === false, 'two.log to close');
  const stats = await s.inject('stats', {});
  t.is(stats.result.upgrades, 0);
  t.true(stats.result.uptimeMs >= 0);
  const byPath = new Map(stats.result.logs.map((l) => [l.path, l]));
  t.like(byPath.get('one.log'), { driver: 'qemu', domain, open: false, bytesIn: 6, bytesWritten: 6, bytesDropped: 0 });
  t.like(byPath.get('two.log'), { driver: 'xen', domain: null, open: false, bytesIn: 10_000, bytesWritten: 10_000, bytesDropped: 0 });
  t.is(byPath.get('two.log')?.position.offset, 10_000);
  t.deepEqual((await s.inject('list', {})).result.logs, stats.result.logs);
});

test('follow sends what is there, then new bytes as they come, until cancelled', async (t) => {
  const { daemon } = await setup(t);
  const s = daemon.server;
  await s.inject('append', { driver: 'qemu', domain, path: 'f.log', data: Buffer.from('before\n'), maxSize: 4096, maxBackups: 10 });
  const events: FollowEvent[] = [];
  const ac = new AbortController();
  const ended: (LwError | null)[] = [];
  const { result } = await s.inject('follow', { path: 'f.log', position: POSITION_START }, {
    signal: ac.signal,
    onEvent: (ev) => events.push(ev),
    onEnd: (_id, err) => ended.push(err),
  });
  t.true(result.streamId > 0);
  await until(() => events.length === 1, 'the first event');
  t.is(Buffer.from(events[0]?.data ?? []).toString(), 'before\n');
  // Through a rotation (4 KiB files): nothing is missed.
  const more = Buffer.alloc(10_000, 0x7a);
  const open = await s.inject('openLog', { driver: 'qemu', domain, path: 'f.log', maxSize: 4096, maxBackups: 10 });
  writeAll(open.fds[0] as number, more);
  close(open.fds[0] as number);
  const total = (): number => events.reduce((n, e) => n + e.data.length, 0);
  await until(() => total() === 7 + more.length, 'the streamed bytes');
  t.true(Buffer.concat(events.map((e) => Buffer.from(e.data))).equals(Buffer.concat([Buffer.from('before\n'), more])));
  t.true(events.every((e) => e.gap === 0));
  const last = events[events.length - 1];
  t.deepEqual(last?.position, (await s.inject('getPosition', { path: 'f.log' })).result.position);
  ac.abort();
  t.deepEqual(ended, []);
});

test('removeLog ends a follow stream with LW_ERR_LOG_NOT_FOUND', async (t) => {
  const { daemon } = await setup(t);
  const s = daemon.server;
  await s.inject('append', { driver: 'qemu', domain, path: 'gone.log', data: Buffer.from('x\n') });
  const ended: (LwError | null)[] = [];
  await s.inject('follow', { path: 'gone.log', position: POSITION_START }, { onEnd: (_id, err) => ended.push(err) });
  await s.inject('removeLog', { path: 'gone.log' });
  await until(() => ended.length === 1, 'the stream to end');
  t.is(ended[0]?.code, 'LW_ERR_LOG_NOT_FOUND');
});

test('setLogLevel changes what the daemon logs', async (t) => {
  const { daemon, lines } = await setup(t);
  t.is(daemon.logger.level, 'info');
  await daemon.server.inject('setLogLevel', { level: 'debug' });
  t.is(daemon.logger.level, 'debug');
  const open = await daemon.server.inject('openLog', { driver: 'qemu', domain, path: 'lvl.log' });
  close(open.fds[0] as number);
  t.true(lines.some((l) => l.includes('DEBUG log opened')));
  await refused(t, daemon.server.inject('setLogLevel', { level: 'trace' as 'debug' }), 'LW_ERR_PROTO_BAD_ARGS');
});

test('reloadConfig applies new limits to logs opened after it; a bad file changes nothing', async (t) => {
  const { daemon, configPath, root } = await setup(t, 'max_size = 1048576\n');
  const s = daemon.server;
  writeFileSync(configPath, 'max_size = 4096\nmax_backups = 1\nlog_level = "warn"\n');
  await s.inject('reloadConfig', {});
  t.is(daemon.config.maxSize, 4096);
  t.is(daemon.logger.level, 'warn');
  await s.inject('append', { driver: 'qemu', domain, path: 'r.log', data: Buffer.alloc(6000, 0x61) });
  t.true(existsSync(join(root, 'r.log.0')), 'rotated at the new max_size');
  t.false(existsSync(join(root, 'r.log.1')), 'one backup');
  writeFileSync(configPath, 'max_size = "big"\n');
  const err = await refused(t, s.inject('reloadConfig', {}), 'LW_ERR_CONFIG_INVALID');
  t.like(err.data, { key: 'max_size' });
  t.is(daemon.config.maxSize, 4096);
  writeFileSync(configPath, 'log_root = "/elsewhere"\n');
  await s.inject('reloadConfig', {});
  t.is(daemon.config.logRoot, root, 'the root cannot move under running logs');
});

test('a quiet guest is drained on a timer, promptly; a burst after it is not throttled', async (t) => {
  const { daemon, root } = await setup(t, 'pipe_size = 65536\n');
  const s = daemon.server;
  const open = await s.inject('openLog', { driver: 'qemu', domain, path: 'quiet.log' });
  const fd = open.fds[0] as number;
  t.teardown(() => { close(fd); });
  const line = Buffer.from(`${'q'.repeat(99)}\n`);
  // A line every 20 ms: small drains, so the log is served by the quiet timer.
  for (let i = 1; i <= 25; i++) {
    writeAll(fd, line);
    await sleep(20);
  }
  await until(() => readFileSync(join(root, 'quiet.log')).length === 2500, 'the quiet lines in the file', 5000);
  // Then a flood from another process: far more than the pipe holds per quiet period.
  const burst = 16 * 1024 * 1024;
  const writer = spawnWriter(dup(fd), burst, 7);
  const started = Date.now();
  t.deepEqual(await exited(writer), { code: 0, signal: null });
  // Throttled to one pipe-full per 100 ms it would need well over a minute.
  t.true(Date.now() - started < 30_000, `burst took ${Date.now() - started} ms`);
  await until(async () => (await s.inject('stats', { path: 'quiet.log' })).result.logs[0]?.bytesIn === 2500 + burst, 'the burst in the file');
});

test('upgrade is refused by an embedded daemon, which cannot re-exec', async (t) => {
  const { daemon } = await setup(t);
  await refused(t, daemon.server.inject('upgrade', {}), 'LW_ERR_RPC_NOT_IMPLEMENTED');
});

// Needs root: a 64 KiB tmpfs is the only honest way to make the disk full.
testNeeding('a full disk drops counted bytes, never stops the log, and a marker records the loss', needsRoot('mount a tmpfs'), async (t) => {
  const dir = tempDir(t);
  const mnt = join(dir, 'small');
  mkdirSync(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'lw-test', mnt]);
  t.teardown(() => {
    execFileSync('umount', ['-l', mnt]);
  });
  const { daemon } = await setup(t, `log_root = "${join(mnt, 'log')}"\n`, dir);
  const s = daemon.server;
  const filler = join(mnt, 'filler');
  writeFileSync(filler, Buffer.alloc(40 * 1024));
  const open = await s.inject('openLog', { driver: 'qemu', domain, path: 'full.log' });
  const fd = open.fds[0] as number;
  t.teardown(() => { close(fd); });
  const line = Buffer.from(`${'x'.repeat(99)}\n`);
  for (let i = 0; i < 500; i++) writeAll(fd, line);
  // bytesIn counts what left the guest's pipe; written + dropped what then reached the file or was lost.
  await until(async () => {
    const l = (await s.inject('stats', { path: 'full.log' })).result.logs[0];
    return (l?.bytesWritten ?? 0) + (l?.bytesDropped ?? 0) === 50_000;
  }, 'the pipe to drain');
  const full = (await s.inject('stats', { path: 'full.log' })).result.logs[0];
  t.true((full?.bytesDropped ?? 0) > 0, 'some bytes were dropped');
  t.is((full?.bytesWritten ?? 0) + (full?.bytesDropped ?? 0), 50_000);
  t.true(full?.open);
  // Space again: logging goes on, after one marker line that says what was lost.
  execFileSync('rm', [filler]);
  writeAll(fd, Buffer.from('after\n'));
  await until(async () => (await s.inject('stats', { path: 'full.log' })).result.logs[0]?.bytesIn === 50_006, 'the new line');
  await s.inject('getPosition', { path: 'full.log' }); // what the daemon took in is in the file after this
  const text = readFileSync(join(mnt, 'log/full.log'), 'latin1');
  t.regex(text, /\[logwarden: dropped \d+ bytes: ENOSPC\]\nafter\n$/);
});
