// The logwarden CLI against a real RpcServer with file-backed handlers: in process through run(), and
// as a real process for exit statuses, stdin, the environment and Ctrl-C.
import test from 'ava';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { COMMANDS, run } from '../src/cli/run.js';
import { startLogService, type LogService } from './log-service.js';

const BIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(svc: LogService | null, args: string[], stdin: string | Buffer = ''): Promise<Result> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (b: Buffer) => out.push(b));
  stderr.on('data', (b: Buffer) => err.push(b));
  const socketArgs = svc === null ? [] : ['--socket', svc.sock];
  const code = await run([...socketArgs, ...args], { stdout, stderr, stdin: Readable.from([Buffer.from(stdin)]), env: {} });
  return { code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

/** Runs the real executable; resolves when it exits. */
function proc(args: string[], env: NodeJS.ProcessEnv, stdin?: string): { done: Promise<Result>; child: ReturnType<typeof spawn>; stdout: () => string } {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  child.stdin.end(stdin ?? '');
  const done = new Promise<Result>((resolve) => {
    child.on('close', (code, signal) => {
      resolve({ code: code ?? (signal === null ? -1 : 128), stdout, stderr });
    });
  });
  return { done, child, stdout: () => stdout };
}

test('append, pos, cat, cat --from, ls, rm: the everyday loop', async (t) => {
  const svc = startLogService();
  try {
    const a = await cli(svc, ['append', 'vm/one.log', 'hello world']);
    t.is(a.code, 0, a.stderr);
    t.regex(a.stdout, /^\d+:12\n$/);
    const pos = await cli(svc, ['pos', 'vm/one.log']);
    t.is(pos.stdout, a.stdout);
    await cli(svc, ['append', '-n', 'vm/one.log', 'no newline']);
    const all = await cli(svc, ['cat', 'vm/one.log']);
    t.is(all.stdout, 'hello world\nno newline');
    const tail = await cli(svc, ['cat', '--from', pos.stdout.trim(), 'vm/one.log']);
    t.is(tail.stdout, 'no newline');
    const ls = await cli(svc, ['ls']);
    t.regex(ls.stdout, /^PATH\s+DRIVER\s+DOMAIN\s+OPEN\s+IN\s+WRITTEN\s+DROPPED\s+POSITION\n/);
    t.regex(ls.stdout, /vm\/one\.log\s+cli\s+-\s+no\s+22 B\s+22 B\s+0\s+\d+:22\n/);
    const json = await cli(svc, ['--json', 'ls']);
    const logs = JSON.parse(json.stdout) as { path: string; bytesWritten: number }[];
    t.like(logs[0], { path: 'vm/one.log', bytesWritten: 22 });
    const rm = await cli(svc, ['rm', 'vm/one.log']);
    t.is(rm.stdout, 'removed 1 file\n');
    t.is((await cli(svc, ['ls'])).stdout, 'no logs\n');
  } finally {
    await svc.close();
  }
});

test('cat is binary-safe and --json gives base64 chunks with resumable positions', async (t) => {
  const svc = startLogService();
  try {
    const bytes = Buffer.from([0, 0xff, 0x0a, 0x80, 0x1b]);
    const s = await cli(svc, ['append', 'b.log', '-'], bytes);
    t.is(s.code, 0, s.stderr);
    const stdout = new PassThrough();
    const chunks: Buffer[] = [];
    stdout.on('data', (b: Buffer) => chunks.push(b));
    await run(['--socket', svc.sock, 'cat', 'b.log'], { stdout, stderr: new PassThrough(), stdin: Readable.from([]), env: {} });
    t.deepEqual(Buffer.concat(chunks), bytes);
    const j = await cli(svc, ['--json', 'cat', 'b.log']);
    const lines = j.stdout.trim().split('\n').map((l) => JSON.parse(l) as { data: string; position: { offset: number }; gap: number });
    t.deepEqual(Buffer.concat(lines.map((l) => Buffer.from(l.data, 'base64'))), bytes);
    t.is(lines.at(-1)?.position.offset, bytes.length);
  } finally {
    await svc.close();
  }
});

test('status, level, upgrade', async (t) => {
  const svc = startLogService();
  try {
    await cli(svc, ['append', 'x.log', 'x']);
    const st = await cli(svc, ['status']);
    t.is(st.code, 0, st.stderr);
    t.regex(st.stdout, /^SERVER\s+test-logd \(protocol 1\)\nuptime\s+\d+m \d+s\nupgrades\s+0\nlogs\s+1 \(0 open\)\n\nPATH/);
    const sj = JSON.parse((await cli(svc, ['--json', 'status'])).stdout) as { server: { server: string }; logs: unknown[] };
    t.is(sj.server.server, 'test-logd');
    t.is(sj.logs.length, 1);
    t.is((await cli(svc, ['level', 'warn'])).stdout, 'log level set to warn\n');
    t.is(svc.level, 'warn');
    t.is((await cli(svc, ['upgrade'])).stdout, 'upgrade requested\n');
    t.true(svc.calls.includes('upgrade'));
  } finally {
    await svc.close();
  }
});

test('errors print "logwarden: CODE: message" and exit 1', async (t) => {
  const svc = startLogService();
  try {
    const missing = await cli(svc, ['rm', 'nope.log']);
    t.is(missing.code, 1);
    t.is(missing.stderr, 'logwarden: LW_ERR_LOG_NOT_FOUND: no log nope.log\n');
    const bad = await cli(svc, ['cat', '../escape']);
    t.is(bad.code, 1);
    t.regex(bad.stderr, /^logwarden: LW_ERR_LOG_PATH_INVALID: /);
    const proto = await cli(svc, ['pos', '']);
    t.regex(proto.stderr, /^logwarden: LW_ERR_PROTO_BAD_ARGS: invalid argument path/);
  } finally {
    await svc.close();
  }
  const down = await cli(null, ['--socket', '/nonexistent/lw.sock', 'ls']);
  t.is(down.code, 1);
  t.regex(down.stderr, /^logwarden: LW_ERR_RPC_CONNECT: cannot connect to \/nonexistent\/lw\.sock/);
});

test('usage errors exit 2 with the usage; --help works on every command; --version', async (t) => {
  const usage: string[][] = [[], ['frobnicate'], ['ls', 'extra'], ['cat'], ['cat', '--from', 'nonsense', 'x'], ['ls', '--bogus'], ['level', 'loud'], ['tail', '-c', '-5', 'x'], ['--timeout', 'soon', 'ls']];
  for (const args of usage) {
    const r = await cli(null, args);
    t.is(r.code, 2, args.join(' '));
    t.regex(r.stderr, /^logwarden: LW_ERR_CLI_USAGE: [^]*?\n\nUsage: logwarden /, args.join(' '));
  }
  for (const c of COMMANDS) {
    const r = await cli(null, [c.name, '--help']);
    t.is(r.code, 0);
    t.true(r.stdout.startsWith(`Usage: logwarden ${c.name}`), c.name);
  }
  const help = await cli(null, ['--help']);
  for (const c of COMMANDS) t.true(help.stdout.includes(`  ${c.name} `), `${c.name} listed in --help`);
  t.regex((await cli(null, ['--version'])).stdout, /^logwarden \d+\.\d+\.\d+ \(protocol 1\)\n$/);
});

test('the executable: LOGWARDEN_SOCKET, stdin append, exit statuses', async (t) => {
  const svc = startLogService();
  try {
    const env = { LOGWARDEN_SOCKET: svc.sock };
    const a = await proc(['append', 'p.log', '-'], env, 'from stdin\n').done;
    t.is(a.code, 0, a.stderr);
    t.is(readFileSync(svc.fileOf('p.log'), 'utf8'), 'from stdin\n');
    const c = await proc(['cat', 'p.log'], env).done;
    t.is(c.stdout, 'from stdin\n');
    t.is((await proc(['rm', 'zzz.log'], env).done).code, 1);
    t.is((await proc(['nope'], env).done).code, 2);
  } finally {
    await svc.close();
  }
});

test('tail -f prints the end, then new data as it comes, and Ctrl-C ends it with status 0', async (t) => {
  const svc = startLogService();
  try {
    await cli(svc, ['append', 't.log', 'old line 1']);
    await cli(svc, ['append', 't.log', 'old line 2']);
    const p = proc(['tail', '-f', '-c', '11', 't.log'], { LOGWARDEN_SOCKET: svc.sock });
    const until = async (text: string): Promise<void> => {
      const end = Date.now() + 20_000;
      while (!p.stdout().includes(text)) {
        if (Date.now() > end) throw new Error(`tail never printed ${text}; got ${JSON.stringify(p.stdout())}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    await until('old line 2\n');
    await cli(svc, ['append', 't.log', 'new line 3']);
    await until('new line 3\n');
    t.is(p.stdout(), 'old line 2\nnew line 3\n');
    p.child.kill('SIGINT');
    const r = await p.done;
    t.is(r.code, 0, r.stderr);
  } finally {
    await svc.close();
  }
});
