// One running daemon: configuration, log root, log handler and RPC server wired together, with
// reload, idle detection and a clean stop. main.ts drives it from signals; tests drive it directly.
import { mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { LwError, RpcServer } from '@logwarden/core/protocol';
import { fixedSettingsChanged, loadConfig, type ConfigFlags, type DaemonConfig } from './config.js';
import { createHandlers } from './dispatch/index.js';
import { DaemonJournal } from './journal/index.js';
import { LogHandler, type LogSettings } from './log-handler.js';
import { LogRoot } from './log-root.js';
import type { Logger } from './logger.js';
import type { UpgradeCall, UpgradeRunner } from './upgrade/index.js';

export interface DaemonOptions {
  /** The flags the configuration was loaded with: a reload reads the file again under them. */
  flags: ConfigFlags;
  logger: Logger;
  version: string;
  /** An already listening RPC socket (socket activation); otherwise config.socketPath is bound. */
  listenFd?: number;
  /**
   * Logs taken back before the configuration was read (upgrade/resume.ts, after a re-exec), on the
   * same log root as config.logRoot; otherwise the daemon makes its own handler.
   */
  handler?: LogHandler;
}

export class Daemon {
  readonly logger: Logger;
  readonly handler: LogHandler;
  readonly server: RpcServer;
  /** Journal mirrors of logs and the optional journald-compatible ingest sockets (journal/). */
  readonly journal: DaemonJournal;
  /** Epoch ms; carried across re-exec (upgrade/), so uptime counts from the first start. */
  startedAt = Date.now();
  /** In-place re-execs survived. */
  upgrades = 0;
  /** Set by main.ts (upgrade/installUpgrade); null where re-exec is not possible (embedded, tests). */
  upgrader: UpgradeRunner | null = null;
  readonly #flags: ConfigFlags;
  #config: DaemonConfig;
  #idleTimer: NodeJS.Timeout | null = null;
  #onIdle: (() => void) | null = null;
  #stopping: Promise<void> | null = null;
  /** True when this process bound the socket path (not inherited), so it removes it at stop. */
  #boundSocket = false;

  private constructor(config: DaemonConfig, opts: DaemonOptions) {
    this.#config = config;
    this.#flags = opts.flags;
    this.logger = opts.logger;
    const settings = (): LogSettings => this.#logSettings();
    this.handler = opts.handler ?? new LogHandler({ root: new LogRoot(config.logRoot), logger: opts.logger, settings });
    this.handler.useSettings(settings);
    this.journal = new DaemonJournal({ handler: this.handler, logger: opts.logger, config: () => this.#config });
    this.server = new RpcServer(createHandlers(this), {
      // Read at every connection, so a reload of allowed_uids applies to the next client.
      authorize: (peer) => this.#config.allowedUids.includes(peer.uid),
      maxClients: config.maxClients,
      serverName: `logwardend ${opts.version}`,
      log: (level, message, fields) => {
        opts.logger[level](message, fields);
      },
    });
  }

  /** Creates the state directories and the log root, then starts serving. */
  static start(config: DaemonConfig, opts: DaemonOptions): Promise<Daemon> {
    mkdirSync(config.stateDir, { recursive: true, mode: 0o755 });
    const daemon = new Daemon(config, opts);
    try {
      daemon.journal.listen();
      if (opts.listenFd === undefined) {
        mkdirSync(dirname(config.socketPath), { recursive: true, mode: 0o755 });
        daemon.server.listen(config.socketPath, {
          mode: config.socketMode,
          ...(config.socketGroup === null ? {} : { gid: config.socketGroup }),
        });
        daemon.#boundSocket = true;
      } else {
        daemon.server.adopt(opts.listenFd);
      }
    } catch (err) {
      void daemon.handler.closeAll();
      void daemon.journal.close();
      throw err;
    }
    opts.logger.info('logwardend started', {
      socket: opts.listenFd === undefined ? config.socketPath : `fd ${opts.listenFd}`,
      root: daemon.handler.root.dir,
      pid: process.pid,
    });
    return Promise.resolve(daemon);
  }

  get config(): DaemonConfig {
    return this.#config;
  }

  get uptimeMs(): number {
    return Date.now() - this.startedAt;
  }

  /** Re-execs in place (upgrade/Upgrader); only returns by failing. */
  upgrade(call?: UpgradeCall): Promise<void> {
    if (this.upgrader === null) return Promise.reject(new LwError('LW_ERR_RPC_NOT_IMPLEMENTED', 'this daemon cannot re-exec itself'));
    return this.upgrader.run(call);
  }

  /**
   * Reads the configuration file again. Limits, log level and allowed uids apply at once (limits to
   * logs opened from now on); the socket, the state dir and the log root stay as they are.
   */
  reload(): Promise<void> {
    let next: DaemonConfig;
    try {
      next = loadConfig(this.#flags);
    } catch (err) {
      this.logger.error('reload failed, keeping the running configuration', { err });
      return Promise.reject(err instanceof LwError ? err : new LwError('LW_ERR_CONFIG_INVALID', String(err)));
    }
    const fixed = fixedSettingsChanged(this.#config, next);
    if (fixed.length > 0) this.logger.warn('settings that need a restart were not applied', { keys: fixed.join(',') });
    this.#config = {
      ...next,
      stateDir: this.#config.stateDir,
      socketPath: this.#config.socketPath,
      socketMode: this.#config.socketMode,
      socketGroup: this.#config.socketGroup,
      logRoot: this.#config.logRoot,
      maxClients: this.#config.maxClients,
    };
    this.logger.setLevel(this.#config.logLevel);
    this.logger.info('configuration reloaded', { config: this.#config.configPath ?? 'built-in' });
    return Promise.resolve();
  }

  /**
   * Calls `cb` once the daemon has held no log and served no client for config.idleTimeoutMs
   * (the --timeout flag); never when no timeout is set.
   */
  onIdle(cb: () => void): void {
    const timeout = this.#config.idleTimeoutMs;
    if (timeout === null) return;
    this.#onIdle = cb;
    let idleSince: number | null = null;
    const period = Math.max(50, Math.min(1000, Math.floor(timeout / 4)));
    this.#idleTimer = setInterval(() => {
      if (this.handler.openCount > 0 || this.server.clientCount > 0) {
        idleSince = null;
        return;
      }
      const now = Date.now();
      idleSince ??= now;
      if (now - idleSince >= timeout) {
        this.logger.info('idle timeout reached', { seconds: timeout / 1000 });
        this.#clearIdle();
        this.#onIdle?.();
      }
    }, period);
  }

  /** Stops accepting, ends client calls, writes out and closes every log. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#clearIdle();
      await this.server.close();
      await this.handler.closeAll();
      await this.journal.close();
      if (this.#boundSocket) unlinkQuietly(this.#config.socketPath);
      this.logger.info('logwardend stopped');
    })();
    return this.#stopping;
  }

  #clearIdle(): void {
    if (this.#idleTimer !== null) clearInterval(this.#idleTimer);
    this.#idleTimer = null;
  }

  #logSettings(): LogSettings {
    const c = this.#config;
    return {
      maxSize: c.maxSize,
      maxBackups: c.maxBackups,
      pipeSize: c.pipeSize,
      stallTimeoutMs: c.stallTimeoutMs,
      firstBackupIndex: c.backupNaming === 'logrotate' ? 1 : 0,
    };
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone, or replaced by someone else's: nothing of ours to remove.
  }
}
