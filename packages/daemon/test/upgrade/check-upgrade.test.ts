// `logwardend --check-upgrade`, the new image's side of the upgrade canary: it reads the state from
// a sealed memfd on stdin as the real hand-over does, and the configuration the daemon runs with.
import { spawnSync } from 'node:child_process';
import { openSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { close } from '@logwarden/core/native';
import { createStateRecord } from '../../src/systemd/index.js';
import { encodeState, STATE_VERSION, type DaemonState } from '../../src/upgrade/index.js';
import { MAIN, tempDir } from '../helpers.js';

const state: DaemonState = {
  version: STATE_VERSION, startedAt: 1_700_000_000_000, upgrades: 0, listenFd: 5, connections: [], logRoot: '/var/lib/logwarden/log',
  defaults: { maxSize: 2097152, maxBackups: 3, firstBackupIndex: 0 }, mirrors: [], pausedAt: null,
  logs: [{ rel: 'a.log', driver: 'qemu', domain: null, settings: { maxSize: 4096, maxBackups: 3, firstBackupIndex: 0 }, bytesIn: 0, bytesWritten: 0, bytesDropped: 0, position: { inode: '1', offset: 0 }, readFd: 9, stageFd: 10 }],
};

/** Runs the check with `stdin` as its stdin, then closes `stdin` (ours). */
function check(stdin: number, args: string[] = []): { status: number | null; stdout: string; stderr: string } {
  try {
    const r = spawnSync(process.execPath, [MAIN, ...args, '--check-upgrade'], { stdio: [stdin, 'pipe', 'pipe'], encoding: 'utf8', timeout: 60_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    close(stdin);
  }
}

test('a state it can read and a valid configuration: exit 0, nothing created', (t) => {
  const dir = tempDir(t);
  const fd = createStateRecord(encodeState(state));
  const r = check(fd, ['--state-dir', join(dir, 'state')]);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, new RegExp(`upgrade check passed: state version ${STATE_VERSION}, 1 logs`));
  t.deepEqual(readdirSync(dir), [], 'no state dir, socket or log was made');
});

test('a state of another format version, a state not in a sealed memfd, a bad configuration: exit 1 with a coded reason', (t) => {
  const dir = tempDir(t);
  const newer = createStateRecord(encodeState({ ...state, version: STATE_VERSION + 1 } as unknown as DaemonState));
  const r1 = check(newer);
  t.is(r1.status, 1);
  t.regex(r1.stderr, /upgrade check failed: LW_ERR_SYSTEMD_STATE_INVALID: state version \d+ is not/);

  const plain = join(dir, 'plain');
  writeFileSync(plain, encodeState(state));
  const file = openSync(plain, 'r');
  const r2 = check(file);
  t.is(r2.status, 1);
  t.regex(r2.stderr, /LW_ERR_SYSTEMD_STATE_INVALID: state record fd is not a sealed memfd/);

  const good = createStateRecord(encodeState(state));
  const configPath = join(dir, 'bad.toml');
  writeFileSync(configPath, 'no_such_key = 1\n');
  const r3 = check(good, ['--config', configPath]);
  t.is(r3.status, 1);
  t.regex(r3.stderr, /upgrade check failed: LW_ERR_CONFIG_INVALID: .*no_such_key/);
});
