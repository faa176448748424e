// Keeps systemd's fd store in step with the open logs, so a crash loses no pipe: each pipe's read end
// is stored under `log.<path>` (FDPOLL=0: a hung-up pipe may still hold bytes) while its log is
// open, and a `state` record says which log each name is and with which settings and counters.
import { close, dup } from '@logwarden/core/native';
import type { LogObserver, LogState } from '../log-handler.js';
import type { Logger } from '../logger.js';
import { encodeFdName, storeStateRecord, type Notifier } from '../systemd/index.js';
import { encodeState, STATE_VERSION, type DaemonState } from './state.js';

export const LOG_FD_KIND = 'log';
export const STATE_FD_NAME = 'state';
// Coalesces the record rewrites of a burst of opens/closes into one.
const RECORD_DELAY_MS = 20;

export interface StoreSource {
  startedAt: number;
  upgrades: number;
  logs(): LogState[];
}

export class FdStoreSync implements LogObserver {
  readonly #notifier: Notifier;
  readonly #logger: Logger;
  readonly #source: StoreSource;
  #timer: NodeJS.Timeout | null = null;

  constructor(notifier: Notifier, logger: Logger, source: StoreSource) {
    this.#notifier = notifier;
    this.#logger = logger;
    this.#source = source;
  }

  opened(rel: string, readFd: number): void {
    // The log may close (and its fd number be reused) before the queued message goes out: send a copy.
    const copy = dup(readFd);
    this.#notifier
      .storeFds([copy], encodeFdName(LOG_FD_KIND, rel), { poll: false })
      .catch((err: unknown) => {
        this.#logger.warn('cannot put a log pipe in the fd store: a crash would lose it', { path: rel, err });
      })
      .finally(() => {
        close(copy);
      });
    this.schedule();
  }

  closed(rel: string): void {
    this.#notifier.removeFds(encodeFdName(LOG_FD_KIND, rel)).catch((err: unknown) => {
      this.#logger.warn('cannot remove a log pipe from the fd store', { path: rel, err });
    });
    this.schedule();
  }

  /** Rewrites the state record soon (after a short quiet time). */
  schedule(): void {
    if (this.#timer !== null) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#write(this.#source.logs()).catch(() => undefined);
    }, RECORD_DELAY_MS);
    this.#timer.unref();
  }

  /**
   * Writes the record for `logs` now and waits until systemd has processed it and every earlier
   * message (before exiting or re-executing).
   */
  async flush(logs: LogState[]): Promise<void> {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#write(logs);
    await this.#notifier.barrier();
  }

  async #write(logs: LogState[]): Promise<void> {
    const state: DaemonState = {
      version: STATE_VERSION,
      startedAt: this.#source.startedAt,
      upgrades: this.#source.upgrades,
      listenFd: null,
      connections: [],
      // fd numbers mean nothing to the next process: systemd hands the pipes back by name.
      logs: logs.map((l) => ({ ...l, readFd: null })),
    };
    try {
      await storeStateRecord(this.#notifier, STATE_FD_NAME, encodeState(state));
    } catch (err) {
      this.#logger.warn('cannot store the state record in the fd store', { err });
      throw err;
    }
  }
}
