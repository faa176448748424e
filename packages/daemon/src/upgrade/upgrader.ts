// In-place upgrade: SIGUSR1, the `upgrade` call and `logwarden upgrade` re-exec the daemon keeping
// its guest pipes, listening socket, client connections and journal mirrors. Nothing is drained for
// the exec: bytes wait in the pipes, and the next process reads them. Everything that can wait
// (clients, mirrors, systemd) is settled while the pipes are still being read; they are let go only
// for the last synchronous steps before execve, and the next image takes them back before loading
// anything else (resume.ts). Right before those steps the pipes are widened (exec-headroom.ts), so
// that the kernel buffers what guests write meanwhile; the next image shrinks them back. A failed exec
// changes nothing: the daemon takes everything back and runs on; a new image that would start and
// die is caught before anything is let go (canary.ts).
import { close, isSysError } from '@logwarden/core/native';
import { LwError } from '@logwarden/core/protocol';
import type { Daemon } from '../daemon.js';
import type { LogState } from '../log-handler.js';
import type { Logger } from '../logger.js';
import { createStateRecord, type Notifier } from '../systemd/index.js';
import { FdStoreSync } from './fd-store.js';
import type { Inherited } from './inherit.js';
import { runCanary } from './canary.js';
import { ExecHeadroom } from './exec-headroom.js';
import { planReexec, reexec } from './reexec.js';
import { encodeState, preciseNow, STATE_VERSION, UPGRADE_STATE_ENV, type CarriedMirror, type DaemonState } from './state.js';

/** The call that asked for the upgrade: answered by the next process on the same connection. */
export interface UpgradeCall {
  connectionId: number;
  callId: number;
}

export interface UpgradeRunner {
  run(call?: UpgradeCall): Promise<void>;
}

// Running calls get this long to finish before they are answered with LW_ERR_UPGRADE_INTERRUPTED.
const SUSPEND_TIMEOUT_MS = 1000;
const BARRIER_TIMEOUT_MS = 2000;
// How long an upgrade waits for pipes still widened from the last one to have room again (exec-headroom.ts).
const HEADROOM_SETTLE_MS = 2000;
// At a clean stop, how long mirrors of the closed logs may go on sending (as JournalMirrors.close allows).
const MIRROR_GRACE_MS = 2000;

export class Upgrader implements UpgradeRunner {
  readonly #daemon: Daemon;
  readonly #logger: Logger;
  readonly #notifier: Notifier | null;
  readonly #store: FdStoreSync | null;
  readonly #headroom: ExecHeadroom;
  #running = false;

  /** `headroom`: pipes a previous process widened and this one is shrinking back, if any. */
  constructor(daemon: Daemon, logger: Logger, notifier: Notifier | null, store: FdStoreSync | null = null, headroom = new ExecHeadroom(logger)) {
    this.#daemon = daemon;
    this.#logger = logger;
    this.#notifier = notifier;
    this.#store = store;
    this.#headroom = headroom;
  }

  /** Only returns by failing: LW_ERR_UPGRADE_IN_PROGRESS, or LW_ERR_UPGRADE_FAILED with the daemon running on. */
  async run(call?: UpgradeCall): Promise<void> {
    if (this.#running) throw new LwError('LW_ERR_UPGRADE_IN_PROGRESS');
    this.#running = true;
    try {
      await this.#reexec(call);
    } finally {
      this.#running = false;
    }
  }

  async #reexec(call: UpgradeCall | undefined): Promise<void> {
    const { server, handler, journal } = this.#daemon;
    // The new image must show it can take over before anything is let go (canary.ts).
    try {
      await Promise.all([
        runCanary({ ...this.#stateBase(), connections: [], logs: handler.exportState({ detach: false }), mirrors: journal.mirrors.carried(), pausedAt: null }),
        this.#headroom.settle(HEADROOM_SETTLE_MS),
      ]);
    } catch (err) {
      throw this.#failed(err);
    }
    this.#logger.info('upgrade: re-executing', { pid: process.pid, upgrades: this.#daemon.upgrades });
    const interrupted = new LwError('LW_ERR_UPGRADE_INTERRUPTED');
    // All at once, while the guest pipes are still read: systemd must have read RELOADING=1 before
    // the next image says READY=1 (hence the barrier), clients and mirrors come to rest.
    const [connections, mirrors] = await Promise.all([
      server.suspend(interrupted, { timeoutMs: SUSPEND_TIMEOUT_MS, ...(call === undefined ? {} : { keep: call }) }),
      journal.mirrors.suspend(),
      this.#settleSystemd(),
    ]);
    // From here to execve is synchronous: the pipes go unread only for these steps and the exec.
    // Widened at the last moment the pipes are read, so the room goes to what guests write during the exec.
    this.#headroom.widen(handler.exportState({ detach: false }), this.#daemon.config.execHeadroom);
    const pausedAt = preciseNow();
    const logs = handler.exportState({ detach: true });
    let stateFd = -1;
    try {
      const state: DaemonState = {
        ...this.#stateBase(),
        connections: connections.map((c) => ({ fd: c.fd, replyTo: c.connectionId === call?.connectionId ? call.callId : null })),
        logs,
        mirrors,
        pausedAt,
        widened: this.#headroom.carried(),
      };
      stateFd = createStateRecord(encodeState(state));
      const plan = planReexec({ [UPGRADE_STATE_ENV]: String(stateFd), ...this.#notifyEnv() });
      const keep = [stateFd, ...(server.fd === null ? [] : [server.fd]), ...connections.map((c) => c.fd), ...openFds(logs)];
      reexec(plan, keep);
    } catch (err) {
      if (stateFd >= 0) close(stateFd);
      this.#runOn(logs, mirrors);
      this.#headroom.shrinkBack();
      throw this.#failed(err);
    }
  }

  #stateBase(): Pick<DaemonState, 'version' | 'startedAt' | 'upgrades' | 'listenFd' | 'logRoot' | 'defaults'> {
    const d = this.#daemon;
    return { version: STATE_VERSION, startedAt: d.startedAt, upgrades: d.upgrades, listenFd: d.server.fd, logRoot: d.config.logRoot, defaults: logDefaults(d) };
  }

  #failed(err: unknown): LwError {
    const why = isSysError(err) ? `${err.syscall}: ${err.code}` : err instanceof Error ? err.message : String(err);
    this.#logger.error('upgrade failed; running on', { reason: why, err });
    return new LwError('LW_ERR_UPGRADE_FAILED', `upgrade failed (${why}); the daemon keeps running`, { reason: why }, { cause: err });
  }

  /** No record rewrite left half-done, RELOADING=1 sent and read by systemd. */
  async #settleSystemd(): Promise<void> {
    if (this.#notifier === null) return;
    await this.#store?.pause();
    try {
      await this.#notifier.reloading();
      await this.#notifier.barrier(BARRIER_TIMEOUT_MS);
    } catch (err) {
      this.#notifyFailed(err);
    }
  }

  #runOn(logs: LogState[], mirrors: CarriedMirror[]): void {
    const { server, handler, journal } = this.#daemon;
    handler.adoptState(logs);
    journal.mirrors.restore(mirrors);
    server.resume();
    this.#store?.watch();
    this.#notifier?.ready().catch(this.#notifyFailed);
  }

  /** Notifier.fromEnv() took these out of our environment; the next image needs them back. */
  #notifyEnv(): Record<string, string> {
    const n = this.#notifier;
    if (n === null) return {};
    const env: Record<string, string> = { NOTIFY_SOCKET: n.address };
    if (n.watchdogUsec > 0) Object.assign(env, { WATCHDOG_USEC: String(n.watchdogUsec), WATCHDOG_PID: String(process.pid) });
    return env;
  }

  readonly #notifyFailed = (err: unknown): void => {
    this.#logger.warn('sd_notify failed', { err });
  };
}

function logDefaults(daemon: Daemon): LogState['settings'] {
  const c = daemon.config;
  return { maxSize: c.maxSize, maxBackups: c.maxBackups, firstBackupIndex: c.backupNaming === 'logrotate' ? 1 : 0 };
}

function openFds(logs: readonly LogState[]): number[] {
  return logs.flatMap((l) => [l.readFd, l.stageFd].filter((fd) => fd !== null));
}

export interface UpgradeHooks {
  /** Before a clean stop: under systemd, write out the pipes and leave them in the fd store. */
  beforeStop(): Promise<void>;
}

/**
 * Wires re-exec and (under systemd) the fd store into a started daemon. Without a service manager
 * a crash loses the pipes, and the daemon says so. `resumed`: the pipes being shrunk back after a
 * re-exec (resume.ts) or a crash (lifecycle.ts), if any.
 */
export function installUpgrade(daemon: Daemon, logger: Logger, notifier: Notifier | null, inherited: Inherited, resumed: ExecHeadroom | null = null): UpgradeHooks {
  const headroom = resumed ?? new ExecHeadroom(logger);
  if (notifier === null) {
    daemon.upgrader = new Upgrader(daemon, logger, null, null, headroom);
    logger.warn('no service manager fd store: if the daemon crashes, guests lose their log pipes (EPIPE)');
    return {
      beforeStop: () => {
        headroom.close();
        return Promise.resolve();
      },
    };
  }
  const { handler, journal } = daemon;
  const store = new FdStoreSync(notifier, logger, {
    get startedAt() {
      return daemon.startedAt;
    },
    get upgrades() {
      return daemon.upgrades;
    },
    logRoot: daemon.config.logRoot,
    defaults: () => logDefaults(daemon),
    logs: () => handler.exportState({ detach: false }),
    mirrors: () => journal.mirrors.carried(),
    progress: () => handler.bytesTaken + journal.mirrors.entriesSent,
  });
  daemon.upgrader = new Upgrader(daemon, logger, notifier, store, headroom);
  handler.observer = store;
  if (inherited.from !== 'exec') store.schedule();
  store.watch();
  return {
    beforeStop: async () => {
      headroom.close();
      // Whatever the pipes hold goes to the files first: a stop (not a restart) empties the store.
      await Promise.all(handler.list().filter((log) => log.open).map((log) => handler.flush(log.path)));
      const logs = handler.exportState({ detach: true });
      // Mirrors of the (now closed) logs may finish; where the others stand goes into the record,
      // so that after a restart they go on from there without repeating a line.
      const mirrors = await journal.mirrors.suspend(MIRROR_GRACE_MS);
      try {
        await store.flush(logs, mirrors);
      } catch (err) {
        logger.warn('fd store not confirmed before stopping', { err });
      }
      logger.info('left the log pipes in the fd store', { logs: logs.filter((l) => l.readFd !== null).length, mirrors: mirrors.length });
    },
  };
}
