// Shared by the daemon tests: a real logwardend process in a temp dir, bounded waits, writer children.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { close } from '@logwarden/core/native';
import { LwError, RpcClient } from '@logwarden/core/protocol';
import { until } from './wait.js';

// The benchmarks use these too: they live apart because this module imports ava, which refuses to
// load outside a test file.
export { sleep, until } from './wait.js';

export const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));
export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

/**
 * A test that needs something this machine may lack (root, a tool). `missing` says what is missing,
 * or is undefined: outside CI the test is then skipped with the reason in its title; under CI=true a
 * missing capability fails it.
 */
export function testNeeding(title: string, missing: string | undefined, fn: (t: ExecutionContext) => void | Promise<void>): void {
  if (missing === undefined) {
    test(title, fn);
  } else if (process.env.CI === 'true') {
    test(title, (t) => {
      t.fail(`required under CI=true: ${missing}`);
    });
  } else {
    test.skip(`${title} (skipped: ${missing})`, fn);
  }
}

/** What testNeeding is told when a test must run as root; undefined as root. */
export function needsRoot(why: string): string | undefined {
  return process.getuid?.() === 0 ? undefined : `needs root to ${why}`;
}

/**
 * What testNeeding is told when a test runs the daemon or a client as uid 65534: root, and a checkout
 * that uid can read (a clone inside a 0700 directory, such as mktemp -d's, is not).
 */
export function needsUid65534(why: string): string | undefined {
  const root = needsRoot(why);
  if (root !== undefined) return root;
  const r = spawnSync(process.execPath, [MAIN, '--version'], { uid: 65534, gid: 65534, stdio: 'ignore', timeout: 60_000 });
  return r.status === 0 ? undefined : `uid 65534 cannot run ${MAIN} (is the checkout readable by other users?) to ${why}`;
}

export function tempDir(t: ExecutionContext, prefix = 'lw-daemon-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export function exited(proc: ChildProcess): Promise<Exit> {
  if (proc.exitCode !== null || proc.signalCode !== null) {
    return Promise.resolve({ code: proc.exitCode, signal: proc.signalCode });
  }
  return new Promise((resolve) => {
    proc.once('exit', (code, signal) => {
      resolve({ code, signal });
    });
  });
}

export interface RunningDaemon {
  dir: string;
  stateDir: string;
  socketPath: string;
  logRoot: string;
  proc: ChildProcess;
  /** Everything the daemon wrote to stderr so far. */
  stderr(): string;
  connect(): Promise<RpcClient>;
  /** SIGTERM (or `signal`) and the exit status. */
  stop(signal?: NodeJS.Signals): Promise<Exit>;
}

export interface SpawnOptions {
  /** TOML text written to DIR/logwardend.toml and passed with --config. */
  config?: string;
  args?: string[];
  /** Created beforehand with this mode (the daemon makes it 0755 otherwise). */
  stateDirMode?: number;
  dir?: string;
  /** Runs the daemon as this uid (and gid): the state dir is created owned by it (needs root). */
  uid?: number;
}

/** Runs `node dist/src/main.js --state-dir DIR/state` and waits until it answers hello. */
export async function spawnDaemon(t: ExecutionContext, opts: SpawnOptions = {}): Promise<RunningDaemon> {
  const dir = opts.dir ?? tempDir(t);
  const stateDir = join(dir, 'state');
  if (opts.stateDirMode !== undefined || opts.uid !== undefined) {
    const mode = opts.stateDirMode ?? 0o755;
    mkdirSync(stateDir, { mode });
    chmodSync(stateDir, mode);
  }
  if (opts.uid !== undefined) {
    // The daemon's uid must reach its state dir through ours.
    chmodSync(dir, 0o711);
    chownSync(stateDir, opts.uid, opts.uid);
  }
  const args = [MAIN, '--state-dir', stateDir, ...(opts.args ?? [])];
  if (opts.config !== undefined) {
    const configPath = join(dir, 'logwardend.toml');
    writeFileSync(configPath, opts.config);
    args.push('--config', configPath);
  }
  const ids = opts.uid === undefined ? {} : { uid: opts.uid, gid: opts.uid };
  const proc = spawn(process.execPath, args, { ...ids, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  const socketPath = join(stateDir, 'run/logwardend.sock');
  const daemon: RunningDaemon = {
    dir,
    stateDir,
    socketPath,
    logRoot: join(stateDir, 'log'),
    proc,
    stderr: () => stderr,
    connect: () => RpcClient.connect(socketPath, { timeoutMs: 20_000 }),
    stop: async (signal = 'SIGTERM') => {
      proc.kill(signal);
      return exited(proc);
    },
  };
  t.teardown(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited(proc);
    }
  });
  // The socket file appears at bind(), a moment before listen(): retry refused connections.
  await until(async () => {
    if (proc.exitCode !== null) throw new Error(`daemon exited ${proc.exitCode}: ${stderr}`);
    if (!existsSync(socketPath)) return false;
    try {
      (await daemon.connect()).close();
      return true;
    } catch (err) {
      if (err instanceof LwError && err.code === 'LW_ERR_RPC_CONNECT') return false;
      throw err;
    }
  }, 'the daemon to answer');
  return daemon;
}

/** Starts a writer child with the log pipe as its stdout and stderr; closes our copy of the fd. */
export function spawnWriter(fd: number, length: number, seed: number): ChildProcess {
  const child = spawn(process.execPath, [join(FIXTURES, 'writer.js'), String(length), String(seed)], {
    stdio: ['ignore', fd, fd],
  });
  close(fd);
  return child;
}

export const domain = { uuid: '11111111-2222-3333-4444-555555555555', name: 'vm1' };
