// A real systemd (PID 1 of a systemd-nspawn container booted from the host's own root, volatile)
// for tests of socket activation, sd_notify, the watchdog and the fd store.
//
// Every flag below was needed on a Debian 12 host without systemd as PID 1 and hybrid cgroups:
//  --volatile=yes          root is a tmpfs over the host's /usr: nothing the boot writes sticks
//  --register=no --keep-unit   no machined/host systemd to talk to; use the cgroup we start in
//  each container starts from its own fresh cgroup, or two containers share unit cgroups
//  unit dir bind-mounted over /etc/systemd/system, with systemd-firstboot masked in it
//  --system-call-filter=pidfd_getfd   nspawn's seccomp filter blocks it by default
//  the repository bind-mounted read-only at its own path, so services run our compiled JS

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { ExecutionContext } from 'ava';

/** packages/daemon (this file runs from packages/daemon/dist/test/systemd/). */
export const daemonDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const repoDir = resolve(daemonDir, '../..');
export const fixturesDir = join(daemonDir, 'dist/test/systemd/fixtures');
/** Where the per-container shared directory appears inside the container. */
export const SHARE = '/lwtest';

const CONTAINER_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const NSPAWN = ['/usr/bin/systemd-nspawn', '/bin/systemd-nspawn'];

/** Why a container cannot boot here, or null when it can. */
export function nspawnUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'systemd-nspawn needs root';
  if (!NSPAWN.some((p) => existsSync(p))) return 'systemd-nspawn not installed (package systemd-container)';
  if (!existsSync('/lib/systemd/systemd') && !existsSync('/usr/lib/systemd/systemd')) return 'systemd not installed';
  if (cgroupRoots().length === 0) return 'no writable cgroup hierarchy';
  return null;
}

/**
 * Registers a test that needs a container. Outside CI a missing peer skips it with the reason in
 * its title; under CI=true the test runs and fails with that reason.
 */
export function nspawnTest(
  test: {
    serial: ((title: string, fn: (t: ExecutionContext) => Promise<void>) => void) & {
      skip: (title: string, fn: (t: ExecutionContext) => Promise<void>) => void;
    };
  },
  title: string,
  fn: (t: ExecutionContext) => Promise<void>,
): void {
  const reason = nspawnUnavailable();
  if (reason === null) {
    test.serial(title, fn);
  } else if (process.env.CI === 'true') {
    test.serial(title, (t) => {
      t.fail(`systemd-nspawn peer missing under CI: ${reason}`);
      return Promise.resolve();
    });
  } else {
    test.serial.skip(`${title} (skipped: ${reason})`, fn);
  }
}

// Hybrid hosts move a process in both the v2 tree and systemd's named v1 hierarchy; unified hosts
// have just the one tree.
function cgroupRoots(): string[] {
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) return ['/sys/fs/cgroup'];
  return ['/sys/fs/cgroup/unified', '/sys/fs/cgroup/systemd'].filter((p) => existsSync(join(p, 'cgroup.procs')));
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runHost(argv: string[], timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const [cmd, ...args] = argv;
    if (cmd === undefined) {
      reject(new Error('empty argv'));
      return;
    }
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

export async function waitFor<T>(what: string, probe: () => T | null | Promise<T | null>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let counter = 0;

export interface BootOptions {
  /** Unit file name -> contents, installed in the container's /etc/systemd/system. */
  units?: Record<string, string>;
  /** Extra read-only binds, host path -> container path. */
  bindReadOnly?: Record<string, string>;
}

export class Container {
  readonly unitDir: string;
  /** Host side of SHARE: services write results here and tests read them. */
  readonly shareDir: string;
  readonly #tmp: string;
  readonly #cgroups: string[];
  readonly #nspawn: ChildProcess;
  #output = '';
  #pid1 = 0;
  #exited: Promise<void>;

  private constructor(tmp: string, cgroups: string[], nspawn: ChildProcess) {
    this.#tmp = tmp;
    this.unitDir = join(tmp, 'units');
    this.shareDir = join(tmp, 'share');
    this.#cgroups = cgroups;
    this.#nspawn = nspawn;
    nspawn.stdout?.setEncoding('utf8').on('data', (s: string) => (this.#output += s));
    nspawn.stderr?.setEncoding('utf8').on('data', (s: string) => (this.#output += s));
    this.#exited = new Promise((r) => {
      nspawn.on('close', () => {
        r();
      });
    });
  }

  static async boot(opts: BootOptions = {}): Promise<Container> {
    const reason = nspawnUnavailable();
    if (reason !== null) throw new Error(reason);
    const tmp = mkdtempSync(join(tmpdir(), 'lw-nspawn-'));
    const unitDir = join(tmp, 'units');
    const shareDir = join(tmp, 'share');
    mkdirSync(unitDir);
    mkdirSync(shareDir);
    // A volatile root has no machine-id yet; firstboot would wait for console input.
    writeFileSync(join(unitDir, 'systemd-firstboot.service'), '');
    for (const [name, text] of Object.entries(opts.units ?? {})) writeFileSync(join(unitDir, name), text);

    const name = `logwarden-test-${process.pid}-${++counter}`;
    const cgroups = cgroupRoots().map((root) => join(root, name));
    for (const dir of cgroups) mkdirSync(dir);

    const binds = [`--bind-ro=${unitDir}:/etc/systemd/system`, `--bind=${shareDir}:${SHARE}`, `--bind-ro=${repoDir}`];
    // Services run the same node as the tests; outside /usr it is not part of the container.
    if (!process.execPath.startsWith('/usr/')) binds.push(`--bind-ro=${process.execPath}`);
    for (const [host, inside] of Object.entries(opts.bindReadOnly ?? {})) binds.push(`--bind-ro=${host}:${inside}`);
    const nspawnPath = NSPAWN.find((p) => existsSync(p)) ?? 'systemd-nspawn';
    const argv = [
      nspawnPath, '-D', '/', '--volatile=yes', '--boot', '--register=no', '--keep-unit', '--console=pipe',
      '--system-call-filter=pidfd_getfd', `--machine=${name}`, ...binds,
    ];
    // The shell joins the fresh cgroups, then becomes nspawn, so nspawn starts inside them.
    const script = 'pid=$$; for d in $CGROUPS; do echo "$pid" > "$d/cgroup.procs" || exit 99; done; exec "$@"';
    const nspawn = spawn('/bin/sh', ['-c', script, 'sh', ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', CGROUPS: cgroups.join(' ') },
    });
    const container = new Container(tmp, cgroups, nspawn);
    try {
      await container.#waitBooted();
    } catch (err) {
      await container.stop();
      throw err;
    }
    return container;
  }

  async #waitBooted(): Promise<void> {
    const nspawnPid = this.#nspawn.pid ?? 0;
    let dead = false;
    void this.#exited.then(() => (dead = true));
    this.#pid1 = await waitFor('the container PID 1', () => {
      if (dead) throw new Error(`systemd-nspawn exited early:\n${this.#output}`);
      let children = '';
      try {
        children = readFileSync(`/proc/${nspawnPid}/task/${nspawnPid}/children`, 'utf8').trim();
      } catch {
        return null;
      }
      const pid = Number(children.split(' ')[0]);
      if (!Number.isInteger(pid) || pid <= 0) return null;
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'systemd' ? pid : null;
      } catch {
        return null;
      }
    });
    const state = await waitFor('the container to finish booting', async () => {
      const r = await this.run(['systemctl', 'is-system-running', '--wait'], 60_000);
      const s = r.stdout.trim();
      // Until PID 1 sets up its bus, systemctl says offline or fails to connect.
      return s === 'running' || s === 'degraded' ? s : null;
    }, 60_000);
    if (state === 'degraded') {
      const failed = await this.run(['systemctl', '--failed', '--no-legend', '--plain']);
      this.#output += `\ndegraded boot, failed units:\n${failed.stdout}`;
    }
  }

  get pid1(): number {
    return this.#pid1;
  }

  /** nspawn's console output so far (for failure messages). */
  get output(): string {
    return this.#output;
  }

  /** A host path for `inside` (the container's root is reachable through PID 1's /proc entry). */
  hostPath(inside: string): string {
    return `/proc/${this.#pid1}/root${inside}`;
  }

  /** Runs argv inside every namespace of the container, with a clean environment. */
  run(argv: string[], timeoutMs = 60_000): Promise<RunResult> {
    return runHost(['nsenter', '-t', String(this.#pid1), '-a', 'env', '-i', CONTAINER_PATH, ...argv], timeoutMs);
  }

  async systemctl(...args: string[]): Promise<RunResult> {
    return this.run(['systemctl', '--no-pager', ...args]);
  }

  /** One property of a unit, as `systemctl show -P` prints it. */
  async property(unit: string, name: string): Promise<string> {
    const r = await this.systemctl('show', '-P', name, unit);
    if (r.code !== 0) throw new Error(`systemctl show ${unit}: ${r.stderr}`);
    return r.stdout.trim();
  }

  async installUnits(units: Record<string, string>): Promise<void> {
    for (const [name, text] of Object.entries(units)) writeFileSync(join(this.unitDir, name), text);
    const r = await this.systemctl('daemon-reload');
    if (r.code !== 0) throw new Error(`daemon-reload: ${r.stderr}`);
  }

  /** The unit's journal inside the container, for failure messages. */
  async journal(unit: string): Promise<string> {
    const r = await this.run(['journalctl', '--no-pager', '-o', 'short-monotonic', '-u', unit]);
    return r.stdout + r.stderr;
  }

  /** A JSON file a service wrote into SHARE, once it exists. */
  readShared<T>(name: string, timeoutMs = 30_000): Promise<T> {
    const path = join(this.shareDir, name);
    return waitFor(`${name} in the shared directory`, () => {
      if (!existsSync(path)) return null;
      return JSON.parse(readFileSync(path, 'utf8')) as T;
    }, timeoutMs);
  }

  async stop(): Promise<void> {
    if (this.#nspawn.exitCode === null && this.#nspawn.signalCode === null) {
      // nspawn turns SIGTERM into an orderly shutdown of the container's systemd.
      this.#nspawn.kill('SIGTERM');
      const timer = setTimeout(() => this.#nspawn.kill('SIGKILL'), 30_000);
      await this.#exited;
      clearTimeout(timer);
    }
    for (const dir of this.#cgroups) {
      await waitFor(`cgroup ${dir} to empty`, () => (removeCgroup(dir) ? true : null), 30_000);
    }
    rmSync(this.#tmp, { recursive: true, force: true });
  }
}

// Children first: a cgroup directory goes only once it has no sub-cgroups and no processes.
// False while stragglers remain (v2 is told to kill them; try again shortly).
function removeCgroup(dir: string): boolean {
  if (!existsSync(dir)) return true;
  let empty = true;
  for (const entry of readdirSync(dir)) {
    const sub = join(dir, entry);
    if (statSync(sub).isDirectory() && !removeCgroup(sub)) empty = false;
  }
  if (!empty) return false;
  try {
    rmdirSync(dir);
    return true;
  } catch {
    if (existsSync(join(dir, 'cgroup.kill'))) writeFileSync(join(dir, 'cgroup.kill'), '1');
    return false;
  }
}
