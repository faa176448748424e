// What the interop tests need from the real peers: finding them, running them, and a real
// systemd-journald started in its own mount namespace by journald-ns.sh (next to this file).
import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';

/** The harness folder in the source tree (scripts are not compiled to dist/). */
export const HARNESS_DIR = fileURLToPath(new URL('../../../../test/peers/harness/', import.meta.url));

const SEARCH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin', '/lib/systemd', '/usr/lib/systemd'];

/** Absolute path of an executable (a bare name is searched in the usual places), or null. */
export function findExecutable(name: string): string | null {
  const candidates = name.startsWith('/') ? [name] : SEARCH.map((d) => `${d}/${name}`);
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // try the next place
    }
  }
  return null;
}

export interface PeerNeeds {
  readonly bins: readonly string[];
  /** Mount namespaces and journald need root. */
  readonly root?: boolean;
}

/** Why the peers cannot run here, or null when they can. */
export function missingPeers(needs: PeerNeeds): string | null {
  const missing = needs.bins.filter((b) => findExecutable(b) === null);
  if (missing.length > 0) return `missing ${missing.join(', ')} (scripts/setup-peers.sh installs them)`;
  if (needs.root === true && process.getuid?.() !== 0) return 'needs root (mount namespaces)';
  return null;
}

/**
 * A serial test that needs peers. Without them it is skipped with the reason in its title, except
 * under CI=true, where a missing peer is a failure.
 */
export function peerTest(title: string, needs: PeerNeeds, fn: (t: ExecutionContext) => Promise<void>): void {
  const reason = missingPeers(needs);
  if (reason === null) {
    test.serial(title, fn);
  } else if (process.env.CI === 'true') {
    test.serial(title, (t) => {
      t.fail(`peer unavailable under CI: ${reason}`);
    });
  } else {
    test.serial.skip(`${title} [skipped: ${reason}]`, () => undefined);
  }
}

export interface RunResult {
  readonly code: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

/** Runs a command to completion, feeding input on stdin; never throws for a non-zero exit. */
export function run(cmd: string, args: readonly string[], opts: { input?: Buffer | string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
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
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** Polls until check() gives a value (not undefined), or fails after timeoutMs. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Gone or a zombie (its parent, the start script, exited: whoever adopted it reaps it).
function processGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}

export interface Journald {
  readonly pid: number;
  /** Native socket, reachable from the host through /proc/PID/root. */
  readonly socket: string;
  readonly stdout: string;
  /** The journal directory for journalctl --directory. */
  readonly dir: string;
  /** journalctl on this journald's files; returns stdout, throws on a non-zero exit. */
  journalctl(args: readonly string[]): Promise<Buffer>;
  stop(): Promise<void>;
}

export const JOURNALD_NEEDS: PeerNeeds = { bins: ['/lib/systemd/systemd-journald', 'journalctl', 'unshare', 'setsid', 'mount'], root: true };

/**
 * One journald for all tests of the calling file: started before them when its peers are present,
 * stopped after them; the returned accessor throws if it is used without one.
 */
export function sharedJournald(): () => Journald {
  let journald: Journald | null = null;
  test.before(async () => {
    if (missingPeers(JOURNALD_NEEDS) === null) journald = await startJournald();
  });
  test.after.always(async () => {
    await journald?.stop();
  });
  return () => {
    if (journald === null) throw new Error('journald not started');
    return journald;
  };
}

export async function startJournald(): Promise<Journald> {
  const r = await run(`${HARNESS_DIR}journald-ns.sh`, []);
  const pid = Number(r.stdout.toString().trim());
  if (r.code !== 0 || !Number.isInteger(pid) || pid <= 0) throw new Error(`journald did not start: ${r.stderr}`);
  const root = `/proc/${pid}/root`;
  const dir = `${root}/run/log/journal`;
  const journalctl = findExecutable('journalctl') ?? 'journalctl';
  return {
    pid,
    socket: `${root}/run/systemd/journal/socket`,
    stdout: `${root}/run/systemd/journal/stdout`,
    dir,
    async journalctl(args) {
      const res = await run(journalctl, ['--directory', dir, '--no-pager', ...args], { timeoutMs: 120_000 });
      if (res.code !== 0) throw new Error(`journalctl ${args.join(' ')} exited ${String(res.code)}: ${res.stderr}`);
      return res.stdout;
    },
    async stop() {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        return;
      }
      await waitFor('journald to exit', () => Promise.resolve(processGone(pid) ? true : undefined), 10_000).catch(() => {
        process.kill(pid, 'SIGKILL');
      });
    },
  };
}
