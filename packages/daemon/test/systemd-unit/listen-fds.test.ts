import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import test from 'ava';

import { close, fstat, pipe } from '@logwarden/core/native';

import { listenFds } from '../../src/systemd/index.js';

const child = join(dirname(fileURLToPath(import.meta.url)), 'fixtures/listen-child.js');

interface ChildReport {
  fds: { fd: number; name: string; cloexec: boolean; ino: string }[];
  envLeft: string[];
  grandchildEnv: string[];
  grandchildFds: string[];
}

function runChild(fds: number[], env: Record<string, string>): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    // The wrapper knows the pid before node starts: exec keeps it.
    const proc = spawn('/bin/sh', ['-c', 'export LISTEN_PID=$$; exec "$@"', 'sh', process.execPath, child], {
      stdio: ['ignore', 'pipe', 'inherit', ...fds],
      env: { ...process.env, ...env },
    });
    let out = '';
    proc.stdout?.setEncoding('utf8').on('data', (s: string) => (out += s));
    proc.on('error', reject);
    proc.on('close', (code) => {
      if (code === 0) resolve(JSON.parse(out) as ChildReport);
      else reject(new Error(`child exited with ${code}: ${out}`));
    });
  });
}

test('inherited fds come back named, CLOEXEC, and the variables are gone for children', async (t) => {
  const a = pipe();
  const b = pipe();
  try {
    const report = await runChild([a.readFd, b.writeFd], { LISTEN_FDS: '2', LISTEN_FDNAMES: 'rpc:log.%2Fvar' });
    t.deepEqual(report.fds, [
      { fd: 3, name: 'rpc', cloexec: true, ino: fstat(a.readFd).ino.toString() },
      { fd: 4, name: 'log.%2Fvar', cloexec: true, ino: fstat(b.writeFd).ino.toString() },
    ]);
    t.deepEqual(report.envLeft, []);
    t.deepEqual(report.grandchildEnv, []);
    const ours = [a.readFd, b.writeFd].map((fd) => `pipe:[${fstat(fd).ino.toString()}]`);
    t.true(report.grandchildFds.length >= 3, report.grandchildFds.join(' '));
    t.false(report.grandchildFds.some((l) => ours.some((p) => l.endsWith(p))), 'the pipes did not leak');
  } finally {
    for (const fd of [a.readFd, a.writeFd, b.readFd, b.writeFd]) close(fd);
  }
});

test('without LISTEN_FDNAMES every fd is named unknown', async (t) => {
  const a = pipe();
  try {
    const report = await runChild([a.readFd], { LISTEN_FDS: '1' });
    t.deepEqual(report.fds.map((f) => f.name), ['unknown']);
  } finally {
    close(a.readFd);
    close(a.writeFd);
  }
});

test('variables meant for another process yield nothing and are still unset', (t) => {
  const env: Record<string, string | undefined> = {
    LISTEN_PID: String(process.pid + 1),
    LISTEN_FDS: '2',
    LISTEN_FDNAMES: 'a:b',
    OTHER: 'kept',
  };
  t.deepEqual(listenFds(env), []);
  t.deepEqual(env, { OTHER: 'kept' });
  t.deepEqual(listenFds({}), []);
  t.deepEqual(listenFds({ LISTEN_PID: String(process.pid), LISTEN_FDS: '0' }), []);
});

test('malformed variables are rejected with a coded error', (t) => {
  const cases: Record<string, string>[] = [
    { LISTEN_PID: 'self', LISTEN_FDS: '1' },
    { LISTEN_PID: String(process.pid), LISTEN_FDS: '-1' },
    { LISTEN_PID: String(process.pid), LISTEN_FDS: '1x' },
    { LISTEN_PID: String(process.pid), LISTEN_FDS: '2', LISTEN_FDNAMES: 'only-one' },
    { LISTEN_PID: String(process.pid), LISTEN_FDS: '99999999' },
  ];
  for (const env of cases) {
    t.throws(() => listenFds({ ...env }), { code: 'LW_ERR_SYSTEMD_ENV_INVALID' }, JSON.stringify(env));
  }
});
