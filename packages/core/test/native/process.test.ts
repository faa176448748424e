// Processes: fds passed to a child over a socket, pidfd_open/pidfd_getfd, execve.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import {
  SysError,
  UnixSocket,
  execve,
  pidfdGetfd,
  pidfdOpen,
  pipe,
  read,
  blockedSignals,
  socketpair,
  write,
} from '../../src/native/index.js';
import { assertFlags, closeOwned, own, within } from './helpers.js';

const fixture = (name: string): string => fileURLToPath(new URL(`fixtures/${name}.js`, import.meta.url));

async function run(args: string[]): Promise<{ code: number | null; stdout: string }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  const [code] = (await within(once(child, 'close'), `child ${args.join(' ')}`)) as [number | null];
  return { code, stdout };
}

test('an fd sent over a socket is used by a child process; its credentials come back', async (t) => {
  const [mine, theirs] = socketpair('dgram');
  own(t, theirs);
  const sock = UnixSocket.fromFd(mine, 'dgram');
  t.teardown(() => {
    sock.close();
  });
  sock.setPassCred(true);
  const p = pipe();
  own(t, p.readFd, p.writeFd);
  const child = spawn(process.execPath, [fixture('recv-fd-child')], { stdio: ['ignore', 'inherit', 'inherit', theirs] });
  const exited = once(child, 'exit') as Promise<[number | null]>;
  closeOwned(t, theirs);
  await sock.send(Buffer.from('bytes through the child\n'), { fds: [p.writeFd] });
  closeOwned(t, p.writeFd); // from now on only the child holds the write end
  const reply = await within(sock.receive(), 'reply from child');
  t.is(reply.data.toString(), 'wrote 24');
  t.deepEqual(reply.creds, { pid: child.pid, uid: process.getuid?.(), gid: process.getgid?.() });
  t.is((await within(exited, 'child exit'))[0], 0);
  const buf = Buffer.alloc(64);
  const n = read(p.readFd, buf) ?? -1;
  t.is(buf.toString('utf8', 0, n), 'bytes through the child\n');
  t.is(read(p.readFd, buf), 0); // EOF: the child's copy was the last writer
});

test('pidfd_getfd takes a pipe end from a child; writes through it arrive here', async (t) => {
  const p = pipe();
  own(t, p.readFd, p.writeFd);
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], {
    stdio: ['ignore', 'ignore', 'inherit', p.writeFd],
  });
  const exited = once(child, 'exit');
  t.teardown(() => child.kill('SIGKILL'));
  closeOwned(t, p.writeFd); // the child's fd 3 is now the only write end
  const pid = child.pid ?? -1;
  const pidfd = pidfdOpen(pid);
  own(t, pidfd);
  assertFlags(t, pidfd, { cloexec: true, nonblock: true });
  const stolen = pidfdGetfd(pidfd, 3);
  own(t, stolen);
  assertFlags(t, stolen, { cloexec: true });
  t.throws(() => pidfdGetfd(pidfd, 1 << 20), { code: 'EBADF' });
  t.is(write(stolen, Buffer.from('taken over')), 10);
  const buf = Buffer.alloc(32);
  t.is(buf.toString('utf8', 0, read(p.readFd, buf) ?? 0), 'taken over');
  child.kill('SIGKILL');
  await within(exited, 'child exit');
  closeOwned(t, stolen);
  t.is(read(p.readFd, buf), 0);
  const err = t.throws(() => pidfdOpen(pid), { instanceOf: SysError });
  t.is(err.code, 'ESRCH'); // reaped by node
});

test('execve replaces a child process with /bin/echo', async (t) => {
  const r = await run([fixture('exec-child'), 'echo']);
  t.is(r.code, 0);
  t.is(r.stdout, 'hello from execve\n');
});

test('execve re-executes node with the given argv and environment only', async (t) => {
  const r = await run([fixture('exec-child'), 'node']);
  t.is(r.code, 0);
  t.is(r.stdout, 'node sees 42');
});

test('execve of a missing path throws ENOENT and the process goes on', async (t) => {
  const r = await run([fixture('exec-child'), 'missing']);
  t.is(r.code, 0);
  t.is(r.stdout, 'ENOENT\nstdio flags restored: true\nstill running\n');
  const err = t.throws(() => execve('/nonexistent/logwarden', ['x'], []), { instanceOf: SysError });
  t.is(err.code, 'ENOENT');
  t.is(err.syscall, 'execve');
  t.throws(() => execve('/bin/echo', ['a\0b'], []), { code: 'ERR_INVALID_ARG_VALUE' });
  t.throws(() => execve('/bin/echo', 'echo' as unknown as string[], []), { code: 'ERR_INVALID_ARG_TYPE' });
});

test('signals blocked across execve wait pending instead of killing the new image', async (t) => {
  const blocked = await run([fixture('exec-child'), 'usr1-blocked']);
  t.is(blocked.code, 0);
  t.is(blocked.stdout, 'survived\n');
  const unblocked = await run([fixture('exec-child'), 'usr1-default']);
  t.is(unblocked.code, null); // killed by SIGUSR1's default action
  t.is(unblocked.stdout, '');
});

test('a failed execve restores the signal mask', async (t) => {
  const r = await run([fixture('exec-child'), 'usr1-failed']);
  t.is(r.code, 0);
  t.is(r.stdout, 'blocked after a failed exec: false\n');
  t.throws(() => blockedSignals(['NOPE' as NodeJS.Signals]), { code: 'ERR_INVALID_ARG_TYPE' });
});
