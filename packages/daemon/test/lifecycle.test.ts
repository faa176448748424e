// logwardend as a process: flags, exit codes, the embedded default, signals, idle timeout, and the
// SO_PEERCRED policy checked with a client running as another uid.
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { close, write } from '@logwarden/core/native';
import { LwError, RpcClient } from '@logwarden/core/protocol';
import { domain, exited, FIXTURES, MAIN, needsUid65534, sleep, spawnDaemon, tempDir, testNeeding, until } from './helpers.js';

function run(args: string[], cwd?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 60_000, cwd });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('--version and --help print and exit 0', (t) => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  const v = run(['--version']);
  t.is(v.status, 0);
  t.is(v.stdout, `logwardend ${pkg.version}\n`);
  const h = run(['-h']);
  t.is(h.status, 0);
  t.regex(h.stdout, /--state-dir/);
  t.regex(h.stdout, /--timeout/);
});

test('a bad command line exits 2 with the usage', (t) => {
  for (const args of [['--bogus'], ['extra'], ['--timeout', 'soon'], ['--timeout', '0']]) {
    const r = run(args);
    t.is(r.status, 2, args.join(' '));
    t.regex(r.stderr, /Usage: logwardend|LW_ERR_CONFIG_INVALID/);
  }
});

test('a bad configuration file exits 2 with a coded error', (t) => {
  const dir = tempDir(t);
  const cases = ['max_size = "2M"\n', 'max_backups = = 1\n', 'no_such_key = 1\n'];
  for (const text of cases) {
    const path = join(dir, 'bad.toml');
    writeFileSync(path, text);
    const r = run(['--config', path, '--state-dir', join(dir, 'state')]);
    t.is(r.status, 2, text);
    t.regex(r.stderr, /LW_ERR_CONFIG_INVALID/);
  }
  const missing = run(['--config', join(dir, 'missing.toml')]);
  t.is(missing.status, 2);
  t.regex(missing.stderr, /LW_ERR_CONFIG_INVALID.*missing\.toml/);
  t.false(existsSync(join(dir, 'state')), 'nothing was created');
});

test('with no flags it runs on the embedded default under ./var', async (t) => {
  const cwd = tempDir(t);
  const proc = spawn(process.execPath, [MAIN], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => { if (proc.exitCode === null) proc.kill('SIGKILL'); });
  const socketPath = join(cwd, 'var/run/logwardend.sock');
  // Answering hello means start-up is over (signal handlers included).
  await until(async () => {
    try {
      (await RpcClient.connect(socketPath, { timeoutMs: 20_000 })).close();
      return true;
    } catch {
      return false;
    }
  }, 'the default socket');
  t.true(existsSync(join(cwd, 'var/log')));
  proc.kill('SIGINT');
  t.deepEqual(await exited(proc), { code: 0, signal: null });
});

test('--timeout: exits when idle, but not while a log is open or a client is connected', async (t) => {
  const d = await spawnDaemon(t, { args: ['--timeout', '1'] });
  const client = await d.connect();
  const open = await client.call('openLog', { driver: 'qemu', domain, path: 'idle.log' });
  client.close();
  await sleep(2500);
  t.is(d.proc.exitCode, null, 'an open log keeps it running');
  close(open.fds[0] as number);
  t.deepEqual(await exited(d.proc), { code: 0, signal: null });
  t.regex(d.stderr(), /idle timeout/);
});

test('SIGHUP reloads the configuration file', async (t) => {
  const d = await spawnDaemon(t, { config: 'log_level = "info"\n' });
  const configPath = join(d.dir, 'logwardend.toml');
  writeFileSync(configPath, 'log_level = "debug"\n');
  d.proc.kill('SIGHUP');
  await until(() => d.stderr().includes('configuration reloaded'), 'the reload');
  const client = await d.connect();
  t.teardown(() => { client.close(); });
  const open = await client.call('openLog', { driver: 'qemu', domain, path: 'hup.log' });
  close(open.fds[0] as number);
  await until(() => d.stderr().includes('DEBUG log opened'), 'a debug line');
  // A broken file is reported and changes nothing: the daemon keeps serving.
  writeFileSync(configPath, 'log_level = 5\n');
  d.proc.kill('SIGHUP');
  await until(() => d.stderr().includes('reload failed'), 'the failed reload');
  t.true((await client.call('list', {})).result.logs.length > 0);
});

test('socket_mode and socket_group set the socket file; max_clients bounds connections', async (t) => {
  const d = await spawnDaemon(t, { config: 'socket_mode = 0o660\nsocket_group = 65534\nmax_clients = 2\n' });
  const st = statSync(d.socketPath);
  t.is(st.mode & 0o777, 0o660);
  t.is(st.gid, 65534);
  // The start-up probe's connection may not be reaped yet: retry while the slot is taken.
  const admitted = async (): Promise<RpcClient> => {
    for (let i = 0; ; i++) {
      try {
        return await d.connect();
      } catch (err) {
        if (i > 200 || !(err instanceof LwError) || err.code !== 'LW_ERR_RPC_TOO_MANY_CLIENTS') throw err;
        await sleep(50);
      }
    }
  };
  const a = await admitted();
  const b = await admitted();
  t.teardown(() => { a.close(); b.close(); });
  const err = await t.throwsAsync(d.connect(), { instanceOf: LwError });
  t.is(err.code, 'LW_ERR_RPC_TOO_MANY_CLIENTS');
  // The two admitted clients are still served, and a slot frees when one leaves.
  t.deepEqual((await a.call('list', {})).result.logs, []);
  b.close();
  await until(async () => {
    try {
      (await d.connect()).close();
      return true;
    } catch {
      return false;
    }
  }, 'a free slot');
});

function connectAs(socketPath: string, uid: number): Promise<{ ok: boolean; code?: string; uid: number }> {
  const child = spawn(process.execPath, [join(FIXTURES, 'connect-as.js'), socketPath], { uid, gid: uid, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s; });
  return exited(child).then(() => JSON.parse(out) as { ok: boolean; code?: string; uid: number });
}

testNeeding('a client whose uid is not allowed gets LW_ERR_AUTH_DENIED; allowed_uids lets it in', needsUid65534('run a client as uid 65534'), async (t) => {
  const dir = tempDir(t);
  // Reachable by uid 65534: traversable directories, a socket mode from the config.
  chmodSync(dir, 0o711);
  const d = await spawnDaemon(t, { dir, stateDirMode: 0o711, config: 'socket_mode = 0o666\n' });
  const refused = await connectAs(d.socketPath, 65534);
  t.is(refused.uid, 65534);
  t.false(refused.ok);
  t.is(refused.code, 'LW_ERR_AUTH_DENIED');
  // The daemon's own uid (root here) is still served.
  const own = await d.connect();
  t.true((await own.call('list', {})).result.logs.length === 0);
  own.close();
  writeFileSync(join(dir, 'logwardend.toml'), 'socket_mode = 0o666\nallowed_uids = [0, 65534]\n');
  d.proc.kill('SIGHUP');
  await until(() => d.stderr().includes('configuration reloaded'), 'the reload');
  const allowed = await connectAs(d.socketPath, 65534);
  t.deepEqual(allowed, { ok: true, logs: 0, uid: 65534 } as typeof allowed);
});

// An unprivileged user's pipes share /proc/sys/fs/pipe-user-pages-soft (64 MiB): at the default
// pipe_size of 1 MiB the 64th pipe is refused its size, which must not refuse the log.
testNeeding('a daemon running as an unprivileged uid opens 200 logs past the pipe memory limit, warning once', needsUid65534('run the daemon as uid 65534'), async (t) => {
  const d = await spawnDaemon(t, { uid: 65534 });
  const client = await d.connect();
  const fds: number[] = [];
  t.teardown(() => {
    client.close();
    for (const fd of fds) close(fd);
  });
  for (let i = 0; i < 200; i++) {
    const open = await client.call('openLog', { driver: 'qemu', domain, path: `many/vm${i}.log` });
    fds.push(open.fds[0] as number);
  }
  const logs = (await client.call('list', {})).result.logs;
  t.is(logs.filter((l) => l.open).length, 200);
  // Each pipe carries its guest's bytes, the small ones included.
  const line = Buffer.from('still logged\n');
  for (const i of [0, 62, 63, 64, 199]) t.is(write(fds[i] as number, line), line.length);
  for (const i of [0, 62, 63, 64, 199]) {
    t.is((await client.call('getPosition', { path: `many/vm${i}.log` })).result.position.offset, line.length, `vm${i}`);
  }
  t.is(readFileSync(join(d.logRoot, 'many/vm199.log'), 'utf8'), 'still logged\n');
  t.is(d.stderr().match(/pipe_size refused/g)?.length, 1, d.stderr());
});
