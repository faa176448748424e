// End to end: the logwarden CLI and SDK against the real logwardend (packages/daemon), run as a process.
import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LwError, connect, spawnLogged, type LogwardenClient } from '../src/index.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
// Built before this package (nx implicitDependencies); the client never imports the daemon, it runs it.
const DAEMON = fileURLToPath(new URL('../../../daemon/dist/src/main.js', import.meta.url));
const haveDaemon = existsSync(DAEMON);
const e2e = haveDaemon || process.env.CI === 'true' ? test : test.skip;
const title = (t: string): string => (haveDaemon ? t : `${t} (skipped: packages/daemon is not built)`);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const domain = { uuid: '1f0e2d3c-4b5a-4968-8776-655443322110', name: 'vm-e2e' };

interface Daemon {
  sock: string;
  proc: ChildProcess;
  stderr(): string;
}

async function startDaemon(t: ExecutionContext): Promise<Daemon> {
  const dir = mkdtempSync(join(tmpdir(), 'lw-client-e2e-'));
  const proc = spawn(process.execPath, [DAEMON, '--state-dir', join(dir, 'state')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  t.teardown(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exit = once(proc, 'exit');
      proc.kill('SIGTERM');
      await exit;
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const sock = join(dir, 'state', 'run', 'logwardend.sock');
  const end = Date.now() + 30_000;
  for (;;) {
    try {
      (await connect(sock)).close();
      break;
    } catch (err) {
      if (Date.now() > end || proc.exitCode !== null) throw new Error(`daemon did not come up: ${stderr}`, { cause: err });
      await sleep(50);
    }
  }
  return { sock, proc, stderr: () => stderr };
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(sock: string, args: string[], stdin = ''): { child: ChildProcess; done: Promise<Run>; stdout(): string } {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, LOGWARDEN_SOCKET: sock }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  child.stdin.end(stdin);
  const done = new Promise<Run>((resolve) => {
    child.on('close', (code) => {
      resolve({ code, stdout, stderr });
    });
  });
  return { child, done, stdout: () => stdout };
}

async function ok(sock: string, args: string[], stdin = ''): Promise<string> {
  const r = await cli(sock, args, stdin).done;
  if (r.code !== 0) throw new Error(`logwarden ${args.join(' ')} exited ${String(r.code)}: ${r.stderr}`);
  return r.stdout;
}

async function eventually(cond: () => Promise<boolean> | boolean, what: string): Promise<void> {
  const end = Date.now() + 30_000;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

e2e(title('CLI against the real daemon: append, pos, cat, cat --from, ls, status, level, rm, errors'), async (t) => {
  const d = await startDaemon(t);
  const p1 = (await ok(d.sock, ['append', 'vm/a.log', 'first'])).trim();
  t.regex(p1, /^\d+:6$/);
  await ok(d.sock, ['append', 'vm/a.log', '-'], 'second\n');
  t.is(await ok(d.sock, ['pos', 'vm/a.log']), `${p1.split(':')[0] ?? ''}:13\n`);
  t.is(await ok(d.sock, ['cat', 'vm/a.log']), 'first\nsecond\n');
  t.is(await ok(d.sock, ['cat', '--from', p1, 'vm/a.log']), 'second\n');
  const logs = JSON.parse(await ok(d.sock, ['--json', 'ls'])) as { path: string; driver: string; bytesWritten: number }[];
  t.like(logs.find((l) => l.path === 'vm/a.log'), { driver: 'cli', bytesWritten: 13 });
  t.regex(await ok(d.sock, ['status']), /^SERVER\s+logwardend .*\(protocol 1\)\n/);
  t.is(await ok(d.sock, ['level', 'debug']), 'log level set to debug\n');
  t.regex(await ok(d.sock, ['rm', 'vm/a.log']), /^removed \d+ files?\n$/);
  const gone = await cli(d.sock, ['cat', 'vm/a.log']).done;
  t.is(gone.code, 1);
  t.regex(gone.stderr, /^logwarden: LW_ERR_LOG_NOT_FOUND: /);
  const escape = await cli(d.sock, ['append', '../../etc/x', 'nope']).done;
  t.is(escape.code, 1);
  t.regex(escape.stderr, /^logwarden: LW_ERR_[A-Z_]+: /);
});

e2e(title('spawnLogged child -> real daemon pipe, followed live by `logwarden tail -f`'), async (t) => {
  const d = await startDaemon(t);
  const c = await connect(d.sock);
  t.teardown(() => {
    c.close();
  });
  await c.append({ driver: 'qemu', domain, path: 'qemu/vm-e2e.log', data: Buffer.from('boot\n') });
  const tail = cli(d.sock, ['tail', '-f', 'qemu/vm-e2e.log']);
  await eventually(() => tail.stdout().includes('boot\n'), 'tail to print the existing end');
  // The child keeps its stdout open for a while: the log shows as open meanwhile.
  const { child } = await spawnLogged('sh', ['-c', 'echo guest line 1; echo guest err >&2; sleep 1; echo guest line 2'], {
    client: c,
    log: { driver: 'qemu', domain, path: 'qemu/vm-e2e.log' },
  });
  const exited = once(child, 'exit');
  await eventually(async () => (await c.list()).some((l) => l.path === 'qemu/vm-e2e.log' && l.open), 'the log to be open');
  await eventually(() => tail.stdout().includes('guest line 2\n'), 'tail to print the child output');
  t.is(tail.stdout(), 'boot\nguest line 1\nguest err\nguest line 2\n');
  await exited;
  tail.child.kill('SIGINT');
  t.is((await tail.done).code, 0);
  // Our copy of the pipe was closed by spawnLogged: the child's exit is the pipe's EOF.
  await eventually(async () => (await c.list()).some((l) => l.path === 'qemu/vm-e2e.log' && !l.open), 'the log to close');
});

e2e(title('`logwarden upgrade` re-execs the daemon; a connected SDK client keeps working'), async (t) => {
  const d = await startDaemon(t);
  const c: LogwardenClient = await connect(d.sock);
  t.teardown(() => {
    c.close();
  });
  await c.append({ driver: 'cli', domain: null, path: 'keep.log', data: Buffer.from('kept\n') });
  t.is(await ok(d.sock, ['upgrade']), 'upgrade requested\n');
  await eventually(async () => {
    try {
      return (await c.stats()).upgrades >= 1;
    } catch (err) {
      // A call that raced the re-exec is answered with a retryable code.
      if (err instanceof LwError && err.retryable) return false;
      throw err;
    }
  }, 'the upgrade to be counted');
  t.is(await ok(d.sock, ['cat', 'keep.log']), 'kept\n');
  const list = await c.list();
  t.true(list.some((l) => l.path === 'keep.log'));
  t.is(d.proc.exitCode, null, 'same process, re-executed in place');
});
