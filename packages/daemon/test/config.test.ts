import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LwError } from '@logwarden/core/protocol';
import { fixedSettingsChanged, loadConfig } from '../src/config.js';

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'lw-config-'));
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

function writeConfig(dir: string, text: string): string {
  const path = join(dir, 'logwardend.toml');
  writeFileSync(path, text);
  return path;
}

function rejects(t: ExecutionContext, text: string, key?: string): LwError {
  const path = writeConfig(tempDir(t), text);
  const err = t.throws(() => loadConfig({ configPath: path }), { instanceOf: LwError });
  t.is(err.code, 'LW_ERR_CONFIG_INVALID', text);
  if (key !== undefined) t.like(err.data, { key });
  return err;
}

test('no config and no flags: the embedded default runs under ./var with virtlogd limits', (t) => {
  const cwd = tempDir(t);
  const c = loadConfig({}, cwd);
  t.is(c.configPath, null);
  t.is(c.stateDir, join(cwd, 'var'));
  t.is(c.socketPath, join(cwd, 'var/run/logwardend.sock'));
  t.is(c.logRoot, join(cwd, 'var/log'));
  t.is(c.maxSize, 2 * 1024 * 1024);
  t.is(c.maxBackups, 3);
  t.is(c.maxClients, 1024);
  t.is(c.socketMode, 0o600);
  t.is(c.socketGroup, null);
  t.deepEqual(c.allowedUids, [...new Set([0, process.getuid?.() ?? 0])]);
  t.is(c.logLevel, 'info');
  t.is(c.backupNaming, 'virtlogd');
  t.is(c.idleTimeoutMs, null);
});

test('--state-dir moves the socket and the log root with it', (t) => {
  const cwd = tempDir(t);
  const c = loadConfig({ stateDir: 'st' }, cwd);
  t.is(c.stateDir, join(cwd, 'st'));
  t.is(c.socketPath, join(cwd, 'st/run/logwardend.sock'));
  t.is(c.logRoot, join(cwd, 'st/log'));
});

test('every key of the file is read; relative paths resolve against the file and the state dir', (t) => {
  const dir = tempDir(t);
  const path = writeConfig(dir, [
    'state_dir = "state"',
    'socket_path = "sock/lw.sock"',
    'socket_mode = 0o660',
    'socket_group = "root"',
    'log_root = "/srv/logs"',
    'max_size = 1048576',
    'max_backups = 5',
    'max_clients = 10',
    'allowed_uids = [0, 107]',
    'log_level = "warn"',
    'pipe_size = 65536',
    'backup_naming = "logrotate"',
    'stall_timeout_ms = 250',
  ].join('\n'));
  const c = loadConfig({ configPath: path }, '/');
  t.is(c.configPath, path);
  t.is(c.stateDir, join(dir, 'state'));
  t.is(c.socketPath, join(dir, 'state/sock/lw.sock'));
  t.is(c.socketMode, 0o660);
  t.is(c.socketGroup, 0);
  t.is(c.logRoot, '/srv/logs');
  t.is(c.maxSize, 1048576);
  t.is(c.maxBackups, 5);
  t.is(c.maxClients, 10);
  t.deepEqual(c.allowedUids, [0, 107]);
  t.is(c.logLevel, 'warn');
  t.is(c.pipeSize, 65536);
  t.is(c.backupNaming, 'logrotate');
  t.is(c.stallTimeoutMs, 250);
});

test('flags beat the file: --state-dir, --verbose, --timeout', (t) => {
  const dir = tempDir(t);
  const path = writeConfig(dir, 'state_dir = "fromfile"\nlog_level = "error"\nsocket_group = 4\n');
  const c = loadConfig({ configPath: path, stateDir: 'fromflag', verbose: true, timeoutSec: 30 }, dir);
  t.is(c.stateDir, join(dir, 'fromflag'));
  t.is(c.logLevel, 'debug');
  t.is(c.idleTimeoutMs, 30_000);
  t.is(c.socketGroup, 4);
});

test('a missing or unreadable file is a coded error naming the file', (t) => {
  const dir = tempDir(t);
  const err = t.throws(() => loadConfig({ configPath: join(dir, 'nope.toml') }), { instanceOf: LwError });
  t.is(err.code, 'LW_ERR_CONFIG_INVALID');
  t.like(err.data, { errno: 'ENOENT' });
  t.regex(err.message, /nope\.toml/);
});

test('a TOML syntax error is a coded error with its line', (t) => {
  const err = rejects(t, 'max_size = 5\nmax_backups = = 3\n');
  t.like(err.data, { line: 2 });
});

test('unknown keys are refused (typos must not silently fall back to defaults)', (t) => {
  rejects(t, 'max_sise = 1048576\n', 'max_sise');
  rejects(t, '[section]\nmax_size = 1\n', 'section');
});

test('values of the wrong type or out of range are refused with the key', (t) => {
  rejects(t, 'max_size = "2M"', 'max_size');
  rejects(t, 'max_size = 1.5', 'max_size');
  rejects(t, 'max_size = 100', 'max_size');
  rejects(t, 'max_backups = -1', 'max_backups');
  rejects(t, 'max_clients = 0', 'max_clients');
  rejects(t, 'allowed_uids = 0', 'allowed_uids');
  rejects(t, 'allowed_uids = [0, "root"]', 'allowed_uids');
  rejects(t, 'log_level = "loud"', 'log_level');
  rejects(t, 'backup_naming = "newest-first"', 'backup_naming');
  rejects(t, 'socket_mode = 0o1777', 'socket_mode');
  rejects(t, 'socket_group = "no-such-group-lw"', 'socket_group');
  rejects(t, 'socket_group = -3', 'socket_group');
  rejects(t, 'state_dir = ""', 'state_dir');
  rejects(t, 'log_root = 5', 'log_root');
  rejects(t, 'pipe_size = 1', 'pipe_size');
  rejects(t, 'stall_timeout_ms = 5', 'stall_timeout_ms');
  rejects(t, 'stall_timeout_ms = 1.5', 'stall_timeout_ms');
  rejects(t, 'stall_timeout_ms = "1s"', 'stall_timeout_ms');
});

test('a timeout that is not a positive whole number of seconds is refused', (t) => {
  for (const timeoutSec of [0, -1, 1.5, Number.NaN]) {
    const err = t.throws(() => loadConfig({ timeoutSec }), { instanceOf: LwError });
    t.is(err.code, 'LW_ERR_CONFIG_INVALID');
  }
});

test('fixedSettingsChanged names what a reload cannot apply', (t) => {
  const cwd = tempDir(t);
  const a = loadConfig({}, cwd);
  t.deepEqual(fixedSettingsChanged(a, { ...a, maxSize: 4096, logLevel: 'debug', allowedUids: [5] }), []);
  t.deepEqual(fixedSettingsChanged(a, { ...a, logRoot: '/elsewhere', socketMode: 0o666 }), ['socket_mode', 'log_root']);
});
