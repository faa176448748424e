// The real systemd-journald for the daemon's journal peer tests: core's harness script
// (packages/core/test/peers/harness/journald-ns.sh) runs it in a private mount namespace.
import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';

/** The script in core's source tree (scripts are not compiled); from dist/test/peers-journal/. */
const JOURNALD_NS = fileURLToPath(new URL('../../../../core/test/peers/harness/journald-ns.sh', import.meta.url));
const SEARCH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin', '/lib/systemd', '/usr/lib/systemd'];

function findExecutable(name: string): string | null {
  for (const c of name.startsWith('/') ? [name] : SEARCH.map((d) => `${d}/${name}`)) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // next candidate
    }
  }
  return null;
}

/** Why the peers cannot run here, or null. */
function missing(bins: readonly string[]): string | null {
  const gone = bins.filter((b) => findExecutable(b) === null);
  if (gone.length > 0) return `missing ${gone.join(', ')}`;
  if (process.getuid?.() !== 0) return 'needs root (mount namespaces)';
  return null;
}

/** A serial peer test: skipped with the reason in its title, except under CI=true where that fails. */
export function peerTest(title: string, bins: readonly string[], fn: (t: ExecutionContext) => Promise<void>): void {
  const reason = missing(bins);
  if (reason === null) test.serial(title, fn);
  else if (process.env.CI === 'true') test.serial(title, (t) => { t.fail(`peer unavailable under CI: ${reason}`); });
  else test.serial.skip(`${title} [skipped: ${reason}]`, () => undefined);
}

export const JOURNALD_BINS = ['/lib/systemd/systemd-journald', 'journalctl', 'unshare', 'setsid', 'mount'];

export interface RunResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

export function run(cmd: string, args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() });
    });
  });
}

export interface Journald {
  pid: number;
  /** journald's native socket, reached from here through /proc/PID/root. */
  socket: string;
  journalctl(args: readonly string[]): Promise<Buffer>;
}

function gone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat[stat.lastIndexOf(')') + 2] === 'Z';
  } catch {
    return true;
  }
}

/** Starts journald; it is stopped (SIGTERM, then SIGKILL) at the test's teardown. */
export async function startJournald(t: ExecutionContext): Promise<Journald> {
  const r = await run(JOURNALD_NS, []);
  const pid = Number(r.stdout.toString().trim());
  if (r.code !== 0 || !Number.isInteger(pid) || pid <= 0) throw new Error(`journald did not start: ${r.stderr}`);
  t.teardown(async () => {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
    const end = Date.now() + 10_000;
    while (!gone(pid) && Date.now() < end) await new Promise((res) => setTimeout(res, 50));
    if (!gone(pid)) process.kill(pid, 'SIGKILL');
  });
  const dir = `/proc/${pid}/root/run/log/journal`;
  const journalctl = findExecutable('journalctl') ?? 'journalctl';
  return {
    pid,
    socket: `/proc/${pid}/root/run/systemd/journal/socket`,
    async journalctl(args) {
      const res = await run(journalctl, ['--directory', dir, '--no-pager', ...args], 120_000);
      if (res.code !== 0) throw new Error(`journalctl ${args.join(' ')} exited ${String(res.code)}: ${res.stderr}`);
      return res.stdout;
    },
  };
}
