// Keeps systemd's fd store in step with the open logs, so a crash loses no pipe: each pipe's read end
// is stored under `log.<path>` (FDPOLL=0: a hung-up pipe may still hold bytes) while its log is
// open, and a `state` record says which log each name is and with which settings, counters and
// journal mirror positions. The record is rewritten after opens and closes, and at most once per
// RECORD_PERIOD_MS while counters move (never per write): after a crash, counters and mirrors resume
// from at most that long ago.
import { close, dup } from '@logwarden/core/native';
import type { LogObserver, LogState } from '../log-handler.js';
import type { Logger } from '../logger.js';
import { encodeFdName, storeStateRecord, type Notifier } from '../systemd/index.js';
import { encodeState, LOG_FD_KIND, STAGE_FD_KIND, STATE_FD_NAME, STATE_VERSION, type CarriedMirror, type DaemonState } from './state.js';
// Coalesces the record rewrites of a burst of opens/closes into one.
const RECORD_DELAY_MS = 20;
// A record is two small datagrams to systemd and a memfd: once a second is nothing next to a flood.
export const RECORD_PERIOD_MS = 1000;

export interface StoreSource {
  startedAt: number;
  upgrades: number;
  logRoot: string;
  /** The configuration's settings for new logs (a reload may change them). */
  defaults(): LogState['settings'];
  logs(): LogState[];
  mirrors(): CarriedMirror[];
  /** Any number that changes whenever a counter or mirror position does (read once per period). */
  progress(): number;
}

export class FdStoreSync implements LogObserver {
  readonly #notifier: Notifier;
  readonly #logger: Logger;
  readonly #source: StoreSource;
  #timer: NodeJS.Timeout | null = null;
  #period: NodeJS.Timeout | null = null;
  /** progress() when the last record was built. */
  #recorded = Number.NaN;
  /** The record being written (two messages with an await between them). */
  #writing: Promise<void> | null = null;

  constructor(notifier: Notifier, logger: Logger, source: StoreSource) {
    this.#notifier = notifier;
    this.#logger = logger;
    this.#source = source;
  }

  opened(rel: string, fds: { readFd: number; stageFd: number }): void {
    this.#store(rel, LOG_FD_KIND, fds.readFd);
    this.#store(rel, STAGE_FD_KIND, fds.stageFd);
    this.schedule();
  }

  #store(rel: string, kind: string, fd: number): void {
    // The log may close (and its fd number be reused) before the queued message goes out: send a copy.
    const copy = dup(fd);
    this.#notifier
      .storeFds([copy], encodeFdName(kind, rel), { poll: false })
      .catch((err: unknown) => {
        this.#logger.warn('cannot put a log pipe in the fd store: a crash would lose it', { path: rel, kind, err });
      })
      .finally(() => {
        close(copy);
      });
  }

  closed(rel: string): void {
    for (const kind of [LOG_FD_KIND, STAGE_FD_KIND]) {
      this.#notifier.removeFds(encodeFdName(kind, rel)).catch((err: unknown) => {
        this.#logger.warn('cannot remove a log pipe from the fd store', { path: rel, kind, err });
      });
    }
    this.schedule();
  }

  /** Rewrites the state record soon (after a short quiet time). */
  schedule(): void {
    if (this.#timer !== null) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#write(this.#source.logs(), this.#source.mirrors()).catch(() => undefined);
    }, RECORD_DELAY_MS);
    this.#timer.unref();
  }

  /**
   * Stops rewriting (until watch() again) and waits for a record being written: before a re-exec,
   * so that the store never loses its record half-way through a replacement.
   */
  async pause(): Promise<void> {
    this.#stopTimers();
    await this.#writing?.catch(() => undefined);
  }

  #stopTimers(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    if (this.#period !== null) clearInterval(this.#period);
    this.#timer = this.#period = null;
  }

  /** Rewrites the record every RECORD_PERIOD_MS in which progress() changed, until flush(). */
  watch(): void {
    this.#period ??= setInterval(() => {
      if (this.#source.progress() !== this.#recorded) this.schedule();
    }, RECORD_PERIOD_MS).unref();
  }

  /**
   * Writes the record for `logs` and `mirrors` now and waits until systemd has processed it and
   * every earlier message (before exiting). Stops watch().
   */
  async flush(logs: LogState[], mirrors: CarriedMirror[]): Promise<void> {
    await this.pause();
    await this.#write(logs, mirrors);
    await this.#notifier.barrier();
  }

  #write(logs: LogState[], mirrors: CarriedMirror[]): Promise<void> {
    const previous = this.#writing ?? Promise.resolve();
    // One replacement at a time: each is a remove and a store that must not interleave with another's.
    const writing = previous.catch(() => undefined).then(() => this.#replace(logs, mirrors));
    this.#writing = writing;
    return writing.finally(() => {
      if (this.#writing === writing) this.#writing = null;
    });
  }

  async #replace(logs: LogState[], mirrors: CarriedMirror[]): Promise<void> {
    this.#recorded = this.#source.progress();
    const state: DaemonState = {
      version: STATE_VERSION,
      startedAt: this.#source.startedAt,
      upgrades: this.#source.upgrades,
      listenFd: null,
      connections: [],
      // fd numbers mean nothing to the next process: systemd hands the pipes back by name.
      logs: logs.map((l) => ({ ...l, readFd: null, stageFd: null })),
      logRoot: this.#source.logRoot,
      defaults: this.#source.defaults(),
      mirrors,
      pausedAt: null,
    };
    try {
      await storeStateRecord(this.#notifier, STATE_FD_NAME, encodeState(state));
    } catch (err) {
      this.#logger.warn('cannot store the state record in the fd store', { err });
      throw err;
    }
  }
}
