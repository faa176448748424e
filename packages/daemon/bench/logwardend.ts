// logwardend as a benchmark subject: the built daemon (dist/src/main.js) in its own process,
// with a config written for the run, exactly as an operator would start it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RpcClient } from '@logwarden/core/protocol';

const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));

export interface StartOptions {
  maxSize: number;
  maxBackups: number;
  /** The daemon's log_level; default `warn` (its messages go to our stderr). */
  logLevel?: 'warn' | 'info';
  /** Keep the daemon's messages (stderr()) instead of passing them through. */
  captureStderr?: boolean;
}

export class LogwardendProcess {
  readonly socketPath: string;
  readonly logRoot: string;
  readonly proc: ChildProcess;
  #stderr = '';

  private constructor(dir: string, proc: ChildProcess) {
    this.proc = proc;
    this.socketPath = join(dir, 'state/run/logwardend.sock');
    this.logRoot = join(dir, 'log');
    proc.stderr?.setEncoding('utf8').on('data', (s: string) => {
      this.#stderr += s;
    });
  }

  /** What the daemon wrote to stderr so far (with captureStderr). */
  stderr(): string {
    return this.#stderr;
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  static async start(dir: string, opts: StartOptions): Promise<LogwardendProcess> {
    const config = join(dir, 'logwardend.toml');
    const level = opts.logLevel ?? 'warn';
    writeFileSync(config, `log_root = "${join(dir, 'log')}"\nmax_size = ${opts.maxSize}\nmax_backups = ${opts.maxBackups}\nmax_clients = 4096\nlog_level = "${level}"\n`);
    const proc = spawn(process.execPath, [MAIN, '--config', config, '--state-dir', join(dir, 'state')], {
      stdio: ['ignore', 'ignore', opts.captureStderr === true ? 'pipe' : 'inherit'],
    });
    const d = new LogwardendProcess(dir, proc);
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`logwardend exited with ${proc.exitCode}`);
      if (existsSync(d.socketPath)) {
        try {
          (await RpcClient.connect(d.socketPath)).close();
          return d;
        } catch {
          // bound but not listening yet
        }
      }
      if (Date.now() > deadline) throw new Error('logwardend did not answer');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const done = new Promise((resolve) => this.proc.once('exit', resolve));
    this.proc.kill('SIGTERM');
    await done;
  }
}
