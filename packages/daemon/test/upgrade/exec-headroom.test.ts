// Exec headroom (src/upgrade/exec-headroom.ts): a re-exec widens each open log's pipe right before
// execve, so the kernel holds what a guest writes while no process reads, and the next image shrinks
// it back to pipe_size. The new image here is a script that sleeps before exec'ing Node, which makes
// the exec window seconds long: the test looks at the pipe (through the guest's write end) and
// writes into it while the daemon's pid runs that script, i.e. while nobody can read the pipe.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { close, getPipeSize, setNonblock, write } from '@logwarden/core/native';
import { LwError, type RpcClient } from '@logwarden/core/protocol';
import { needsUid65534, spawnDaemon, testNeeding, until, type RunningDaemon, type SpawnOptions } from '../helpers.js';
import { decodeState, encodeState, STATE_VERSION, UPGRADE_EXEC_ENV, type DaemonState } from '../../src/upgrade/index.js';
import { HEADROOM_PER_LOG_MAX, headroomShare } from '../../src/upgrade/exec-headroom.js';
import { loadConfig } from '../../src/config.js';

const PIPE_SIZE = 64 * 1024;
const MIB = 1024 * 1024;
// The script's name is what /proc/PID/comm says while it runs (the kernel names a process after the file it execs).
const SLOW_IMAGE = 'slow-exec';
const WINDOW_S = 3;

const scripts = mkdtempSync(join(tmpdir(), 'lw-headroom-'));
// Readable and executable by the unprivileged daemon too.
chmodSync(scripts, 0o755);
test.after.always(() => {
  rmSync(scripts, { recursive: true, force: true });
});

/** The new image: Node after WINDOW_S seconds (the --check-upgrade canary runs at once). */
function slowImage(): string {
  const path = join(scripts, SLOW_IMAGE);
  writeFileSync(path, `#!/bin/sh\ncase " $* " in *" --check-upgrade "*) ;; *) sleep ${WINDOW_S} ;; esac\nexec ${process.execPath} "$@"\n`);
  chmodSync(path, 0o755);
  return path;
}

/** The canary passes, then the program is gone: the execve itself fails. */
function vanishingImage(): string {
  const path = join(scripts, 'vanishing-exec');
  writeFileSync(path, `#!/bin/sh\ncase " $* " in *" --check-upgrade "*) rm -f "$0";; esac\nexec ${process.execPath} "$@"\n`);
  chmodSync(path, 0o755);
  return path;
}

/** A daemon whose upgrades exec `image` (the variable is read from the daemon's environment, copied at spawn). */
function daemonWithImage(t: ExecutionContext, image: string, config: string, opts: SpawnOptions = {}): Promise<RunningDaemon> {
  process.env[UPGRADE_EXEC_ENV] = image;
  try {
    return spawnDaemon(t, { ...opts, config: `pipe_size = ${PIPE_SIZE}\nlog_level = "debug"\n${config}` });
  } finally {
    Reflect.deleteProperty(process.env, UPGRADE_EXEC_ENV);
  }
}

/** A daemon on `image` with `config`, a client, and the write end of one open log (`guest.log`). */
async function daemonWithGuest(
  t: ExecutionContext,
  image: string,
  config: string,
  opts: SpawnOptions = {},
): Promise<{ d: RunningDaemon; client: RpcClient; fd: number }> {
  const d = await daemonWithImage(t, image, config, opts);
  const client = await d.connect();
  t.teardown(() => {
    client.close();
  });
  const open = await client.call('openLog', { driver: 'qemu', domain: null, path: 'guest.log' });
  const fd = open.fds[0];
  if (fd === undefined) throw new Error('openLog returned no fd');
  t.teardown(() => {
    close(fd);
  });
  return { d, client, fd };
}

function comm(pid: number): string {
  return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
}

/** Waits until the daemon's pid runs the slow image: the pipes are let go and nobody reads them. */
async function inExecWindow(d: RunningDaemon): Promise<void> {
  const pid = d.proc.pid ?? -1;
  await until(() => comm(pid) === SLOW_IMAGE, 'the daemon to exec the slow image');
}

/** Writes `bytes` of numbered lines without blocking; returns how many the pipe took. */
function writeLines(fd: number, bytes: number): number {
  const data = Buffer.alloc(bytes, 0x78);
  for (let off = 0, n = 0; off < bytes; off += 64, n++) {
    data.write(String(n).padStart(12, '0'), off, 'latin1');
    data[off + 63] = 0x0a;
  }
  let taken = 0;
  while (taken < bytes) {
    const n = write(fd, data, taken, bytes - taken);
    if (n === null) break;
    taken += n;
  }
  return taken;
}

async function sizeBack(fd: number): Promise<void> {
  await until(() => getPipeSize(fd) === PIPE_SIZE, 'the pipe to be back at pipe_size', 60_000);
}

/** The daemon's line for the shrink (its stderr reaches us a moment after the size changed). */
async function saidBack(d: RunningDaemon): Promise<void> {
  await until(() => d.stderr().includes(`exec headroom: pipe back to its size path=guest.log size=${PIPE_SIZE}`), 'the daemon to log the shrink');
}

/** Does this process (and so a daemon it spawns with its own ids) hold CAP_SYS_RESOURCE? */
function hasSysResource(): boolean {
  const eff = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';
  return (BigInt(`0x${eff}`) & (1n << 24n)) !== 0n;
}

function pipeMaxSize(): number {
  return Number(readFileSync('/proc/sys/fs/pipe-max-size', 'utf8'));
}

test('exec_headroom: 256 MiB by default, 0 turns it off, out of range or not an integer is refused', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lw-headroom-config-'));
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const load = (text: string): number => {
    writeFileSync(join(dir, 'c.toml'), text);
    return loadConfig({ configPath: join(dir, 'c.toml') }, dir).execHeadroom;
  };
  t.is(load(''), 256 * MIB);
  t.is(load('exec_headroom = 0\n'), 0);
  t.is(load(`exec_headroom = ${2 ** 40}\n`), 2 ** 40);
  for (const bad of ['-1', String(2 ** 40 + 1), '1.5', '"big"']) {
    const err = t.throws(() => load(`exec_headroom = ${bad}\n`), { instanceOf: LwError });
    t.is(err.code, 'LW_ERR_CONFIG_INVALID', bad);
    t.like(err.data, { key: 'exec_headroom' });
  }
});

test('the widened pipes cross the exec in the state (optional: a state without them reads as none); a malformed list is refused', (t) => {
  const state: DaemonState = {
    version: STATE_VERSION, startedAt: 1, upgrades: 0, listenFd: null, connections: [], logs: [], logRoot: '/l', defaults: null,
    mirrors: [], pausedAt: 2.5, widened: [{ rel: 'qemu/vm1.log', size: 1048576 }],
  };
  t.deepEqual(decodeState(encodeState(state)).widened, [{ rel: 'qemu/vm1.log', size: 1048576 }]);
  const without: Partial<DaemonState> = { ...state };
  delete without.widened;
  t.is(decodeState(Buffer.from(JSON.stringify(without))).widened, undefined);
  for (const bad of [{ widened: 'x' }, { widened: [{ rel: 'a' }] }, { widened: [{ rel: 1, size: 4096 }] }, { widened: [{ rel: 'a', size: -1 }] }]) {
    const err = t.throws(() => decodeState(Buffer.from(JSON.stringify({ ...state, ...bad }))), { instanceOf: LwError });
    t.is(err.code, 'LW_ERR_SYSTEMD_STATE_INVALID', JSON.stringify(bad));
  }
});

test('each open log gets an even share of exec_headroom, a power of two, at most HEADROOM_PER_LOG_MAX', (t) => {
  t.is(headroomShare(256 * MIB, 1), Math.min(256 * MIB, HEADROOM_PER_LOG_MAX));
  t.is(headroomShare(256 * MIB, 2), 128 * MIB);
  // 85.3 MiB each, rounded down: the kernel would round up, past the bound.
  t.is(headroomShare(256 * MIB, 3), 64 * MIB);
  t.is(headroomShare(256 * MIB, 1000), 256 * 1024);
  t.is(headroomShare(2 ** 40, 1), HEADROOM_PER_LOG_MAX);
  t.is(headroomShare(0, 1), 0);
  t.is(headroomShare(256 * MIB, 0), 0);
  // Less than a page each: nothing to widen.
  t.is(headroomShare(1024 * 1024, 300), 0);
});

test('a re-exec widens the pipe before the exec, the kernel holds what the guest writes during it, and the next image shrinks it back to pipe_size', async (t) => {
  const { d, client, fd } = await daemonWithGuest(t, slowImage(), `exec_headroom = ${MIB}\n`);
  t.is(getPipeSize(fd), PIPE_SIZE);
  // One log gets all of exec_headroom; a daemon without CAP_SYS_RESOURCE gets at most pipe-max-size.
  const widened = hasSysResource() ? MIB : Math.min(MIB, pipeMaxSize());

  const upgraded = client.call('upgrade', {});
  await inExecWindow(d);
  t.is(getPipeSize(fd), widened);
  setNonblock(fd, true);
  // More than pipe_size, into a pipe nobody reads: taken whole, without blocking.
  const bytes = widened - 64 * 1024;
  t.is(writeLines(fd, bytes), bytes);
  t.is(comm(d.proc.pid ?? -1), SLOW_IMAGE, 'still inside the exec window');

  await upgraded;
  await sizeBack(fd);
  t.is((await client.call('getPosition', { path: 'guest.log' })).result.position.offset, bytes);
  const text = readFileSync(join(d.logRoot, 'guest.log'), 'latin1');
  t.is(text.length, bytes);
  t.true(text.endsWith(`${String(bytes / 64 - 1).padStart(12, '0')}${'x'.repeat(51)}\n`));
  t.regex(d.stderr(), new RegExp(`exec headroom: pipes widened for the exec pipes=1 logs=1 size=${widened}`));
  await saidBack(d);
});

test('exec_headroom = 0 leaves the pipe at pipe_size through a re-exec', async (t) => {
  const { d, client, fd } = await daemonWithGuest(t, slowImage(), 'exec_headroom = 0\n');
  const upgraded = client.call('upgrade', {});
  await inExecWindow(d);
  t.is(getPipeSize(fd), PIPE_SIZE);
  setNonblock(fd, true);
  // The pipe takes pipe_size, then the guest would block.
  t.is(writeLines(fd, 2 * PIPE_SIZE), PIPE_SIZE);
  t.is(comm(d.proc.pid ?? -1), SLOW_IMAGE, 'still inside the exec window');
  await upgraded;
  t.is(getPipeSize(fd), PIPE_SIZE);
  t.is((await client.call('getPosition', { path: 'guest.log' })).result.position.offset, PIPE_SIZE);
  t.notRegex(d.stderr(), /exec headroom/);
});

test('a failed exec shrinks the widened pipe back in the daemon that runs on', async (t) => {
  const { d, client, fd } = await daemonWithGuest(t, vanishingImage(), `exec_headroom = ${MIB}\n`);
  const err = await client.call('upgrade', {}).then(() => null, (e: unknown) => e);
  t.true(err instanceof LwError);
  t.is((err as LwError).code, 'LW_ERR_UPGRADE_FAILED');
  t.regex(String(((err as LwError).data as { reason?: unknown }).reason), /^execve: ENOENT$/);
  t.regex(d.stderr(), /exec headroom: pipes widened for the exec pipes=1 logs=1/);
  await sizeBack(fd);
  await saidBack(d);
  // The log still reads its pipe.
  t.is(writeLines(fd, 640), 640);
  await until(async () => (await client.call('getPosition', { path: 'guest.log' })).result.position.offset === 640, 'the line to be logged');
});

// Without CAP_SYS_RESOURCE the kernel refuses a pipe above /proc/sys/fs/pipe-max-size (EPERM): the
// daemon widens to that size instead, says so once, and the upgrade goes on.
const max = pipeMaxSize();
testNeeding(
  'an unprivileged daemon refused its share (EPERM above pipe-max-size) widens to pipe-max-size, says so once, and upgrades',
  needsUid65534('run the daemon as uid 65534') ?? (max > 16 * MIB || max <= PIPE_SIZE ? `pipe-max-size ${max} outside 64 KiB..16 MiB` : undefined),
  async (t) => {
    // One log's share: twice pipe-max-size (a power of two), within HEADROOM_PER_LOG_MAX.
    const share = Math.min(2 * max, HEADROOM_PER_LOG_MAX);
    const { d, client, fd } = await daemonWithGuest(t, slowImage(), `exec_headroom = ${share}\n`, { uid: 65534 });
    const upgraded = client.call('upgrade', {});
    await inExecWindow(d);
    t.is(getPipeSize(fd), max);
    await upgraded;
    await sizeBack(fd);
    const said = d.stderr().match(/exec headroom: the kernel gave less than asked .*/g) ?? [];
    t.is(said.length, 1, d.stderr());
    t.regex(said[0] ?? '', new RegExp(`pipes=1 logs=1 size=${max} .*asked=${share} limitedBy=pipe-max-size`));
  },
);
