// The stateful half of the daemon: the logs it holds, each a guest pipe (read end only) feeding a
// rotating file. Everything here is synchronous and runs on the event loop: a wakeup moves what
// the pipe holds into the file with splice (bytes leave the pipe only once they are in the file),
// so a kill at any instant loses nothing the guest wrote that the pipe still holds.
import { closeSync, readdirSync, unlinkSync } from 'node:fs';
import { close, FdPoller, getPipeSize, pipe, setNonblock, setPipeSize, type FdEvent } from '@logwarden/core/native';
import { LwError } from '@logwarden/core/errors';
import type { Domain, LogInfo, WirePosition } from '@logwarden/core/protocol';
import {
  PipeScratch,
  RotatingFileError,
  RotatingFileReader,
  RotatingFileWriter,
  type Position,
} from '@logwarden/core/rotating-file';
import type { Logger } from './logger.js';
import type { ConfinedPath, LogRoot } from './log-root.js';

/** Settings a log is opened with; per-log overrides of maxSize/maxBackups come over RPC. */
export interface LogSettings {
  maxSize: number;
  maxBackups: number;
  pipeSize: number;
  firstBackupIndex: 0 | 1;
}

export interface OpenRequest {
  driver: string;
  domain: Domain | null;
  path: string;
  truncate: boolean;
  maxSize?: number | undefined;
  maxBackups?: number | undefined;
}

/** A log as it crosses a re-exec or a crash (upgrade/): `readFd` is the open log's pipe read end. */
export interface LogState {
  rel: string;
  driver: string;
  domain: Domain | null;
  settings: { maxSize: number; maxBackups: number; firstBackupIndex: 0 | 1 };
  bytesIn: number;
  bytesWritten: number;
  bytesDropped: number;
  position: WirePosition;
  readFd: number | null;
}

/** Told when a log starts and stops holding a pipe (the systemd fd store keeps a copy meanwhile). */
export interface LogObserver {
  opened(rel: string, readFd: number): void;
  closed(rel: string): void;
}

export interface ReadOutcome {
  data: Uint8Array;
  position: WirePosition;
  gap: number;
}

// A wakeup moves at most this much from one pipe before yielding to the others (the poller is
// level-triggered: what is left fires it again on the next loop turn).
const DRAIN_BUDGET = 4 * 1024 * 1024;
// Draining for a position query or a close stops here even if the guest keeps writing.
const DRAIN_LIMIT = 64 * 1024 * 1024;
// A splice shorter than this most likely emptied the pipe (see #drain).
const SHORT_SPLICE = 64 * 1024;
// How long a quiet guest's bytes may wait in its pipe (see #onReadable).
const QUIET_MS = 100;

interface Entry {
  rel: string;
  driver: string;
  domain: Domain | null;
  settings: Pick<LogSettings, 'maxSize' | 'maxBackups' | 'firstBackupIndex'>;
  /** Present while the log is open: the pipe's read end, its poller, the writer, the directory fd. */
  live: Live | null;
  bytesIn: number;
  /** Counters of writers already closed; the live writer's are added on top. */
  bytesWritten: number;
  bytesDropped: number;
  position: Position;
}

interface Live {
  confined: ConfinedPath;
  writer: RotatingFileWriter;
  readFd: number;
  poller: FdPoller;
}

export function toWire(p: Position): WirePosition {
  return { inode: p.inode.toString(), offset: p.offset };
}

export function fromWire(p: WirePosition): Position {
  return { inode: BigInt(p.inode), offset: p.offset };
}

export class LogHandler {
  readonly #root: LogRoot;
  readonly #logger: Logger;
  #settings: () => LogSettings;
  readonly #scratch: PipeScratch;
  readonly #entries = new Map<string, Entry>();
  readonly #waiters = new Map<string, Set<() => void>>();
  #open = 0;
  #closed = false;
  /** Open logs drained by the quiet timer instead of epoll (see #onReadable). */
  readonly #quiet = new Set<Entry>();
  #quietTimer: NodeJS.Timeout | null = null;
  readonly #lastWake = new WeakMap<Live, number>();
  readonly #capacity = new WeakMap<Live, number>();
  #taken = 0;
  #pipeSizeRefused = false;
  observer: LogObserver | null = null;

  /** `settings` is read at each open, so a reload applies to logs opened after it. */
  constructor(opts: { root: LogRoot; logger: Logger; settings: () => LogSettings }) {
    this.#root = opts.root;
    this.#logger = opts.logger;
    this.#settings = opts.settings;
    this.#scratch = PipeScratch.create();
  }

  get root(): LogRoot {
    return this.#root;
  }

  /** Replaces where settings for new logs come from (a handler built before the configuration was read). */
  useSettings(settings: () => LogSettings): void {
    this.#settings = settings;
  }

  /**
   * Bytes taken in since start, all logs together (pipes and appends): the fd store compares it
   * between two record rewrites, which costs the hot path one addition.
   */
  get bytesTaken(): number {
    return this.#taken;
  }

  /** Logs currently holding a pipe. */
  get openCount(): number {
    return this.#open;
  }

  /**
   * Opens (creating) a log and the pipe that feeds it; returns the pipe's write end for the
   * client, which owns it from then on: when every writer has closed it, the log closes.
   */
  openLog(req: OpenRequest): { position: WirePosition; writeFd: number } {
    this.#assertRunning();
    const rel = this.#root.normalize(req.path);
    if (this.#entries.get(rel)?.live != null) {
      throw new LwError('LW_ERR_LOG_BUSY', `log ${rel} is already open`, { path: rel });
    }
    const defaults = this.#settings();
    const settings = {
      maxSize: req.maxSize ?? defaults.maxSize,
      maxBackups: req.maxBackups ?? defaults.maxBackups,
      firstBackupIndex: defaults.firstBackupIndex,
    };
    const confined = this.#root.confine(rel, { create: true });
    let writer: RotatingFileWriter;
    try {
      writer = RotatingFileWriter.open(confined.fdPath, { ...settings, truncate: req.truncate });
    } catch (err) {
      closeSync(confined.dirFd);
      throw ioError(rel, 'open', err);
    }
    let fds: { readFd: number; writeFd: number };
    try {
      // The write end stays blocking: guests expect write() to wait, not to fail with EAGAIN.
      fds = pipe({ nonblock: false });
    } catch (err) {
      writer.close();
      closeSync(confined.dirFd);
      throw ioError(rel, 'pipe', err);
    }
    try {
      this.#sizePipe(fds.readFd, defaults.pipeSize);
      setNonblock(fds.readFd, true);
    } catch (err) {
      close(fds.readFd);
      close(fds.writeFd);
      writer.close();
      closeSync(confined.dirFd);
      throw ioError(rel, 'pipe', err);
    }
    const entry = this.#entry(rel, req.driver, req.domain, settings);
    const poller = new FdPoller(fds.readFd, (ev) => {
      this.#onReadable(entry, ev);
    });
    entry.live = { confined, writer, readFd: fds.readFd, poller };
    entry.position = writer.position;
    this.#open++;
    poller.start({ readable: true });
    this.observer?.opened(rel, fds.readFd);
    this.#logger.debug('log opened', { path: rel, driver: req.driver, truncate: req.truncate });
    this.#notify(rel);
    return { position: toWire(writer.position), writeFd: fds.writeFd };
  }

  /** Where the next byte will go, after everything the pipe already holds. */
  getPosition(path: unknown): WirePosition {
    const rel = this.#root.normalize(path);
    const entry = this.#entries.get(rel);
    if (entry?.live != null) {
      this.#drain(entry, DRAIN_LIMIT);
      // The drain may have met EOF and closed the log: its last position stands then.
      return toWire(currentPosition(entry));
    }
    return this.#onDisk(rel, entry, (reader) => toWire(reader.end()));
  }

  /** Up to maxLen bytes from `position`, across rotations; `gap` counts bytes rotated away. */
  read(path: unknown, position: WirePosition, maxLen: number): ReadOutcome {
    const rel = this.#root.normalize(path);
    const entry = this.#entries.get(rel);
    if (entry?.live != null) this.#drain(entry, DRAIN_LIMIT);
    return this.#onDisk(rel, entry, (reader) => {
      let r;
      try {
        r = reader.read(fromWire(position), maxLen);
      } catch (err) {
        if (err instanceof RotatingFileError && err.code === 'LW_ERR_ROTATING_FILE_BAD_POSITION') {
          throw new LwError('LW_ERR_LOG_POSITION_INVALID', err.message, { path: rel });
        }
        throw err;
      }
      // The reader says -1 when it knows bytes were lost but not how many: report the lower bound.
      return { data: r.data, position: toWire(r.next), gap: r.gap < 0 ? 1 : r.gap };
    });
  }

  /** Appends one message (e.g. a management note) after whatever the pipe already holds. */
  append(req: Omit<OpenRequest, 'truncate'> & { data: Uint8Array }): WirePosition {
    this.#assertRunning();
    const rel = this.#root.normalize(req.path);
    const defaults = this.#settings();
    const settings = {
      maxSize: req.maxSize ?? defaults.maxSize,
      maxBackups: req.maxBackups ?? defaults.maxBackups,
      firstBackupIndex: defaults.firstBackupIndex,
    };
    let n: number;
    let position: Position;
    const known = this.#entries.get(rel);
    if (known?.live != null) this.#drain(known, DRAIN_LIMIT);
    let entry: Entry;
    const live = known?.live ?? null;
    if (live !== null) {
      entry = this.#entry(rel, req.driver, req.domain, settings);
      n = live.writer.write(req.data);
      position = live.writer.position;
    } else {
      // Not open: a writer just for this message, like virtlogd. The log is listed only once its
      // path passed confinement and its file opened: a refused path leaves no trace in list/stats.
      const confined = this.#root.confine(rel, { create: true });
      let writer: RotatingFileWriter;
      try {
        writer = RotatingFileWriter.open(confined.fdPath, settings);
      } catch (err) {
        closeSync(confined.dirFd);
        throw ioError(rel, 'open', err);
      }
      n = writer.write(req.data);
      writer.close();
      closeSync(confined.dirFd);
      entry = this.#entry(rel, req.driver, req.domain, settings);
      const stats = writer.stats;
      entry.bytesWritten += stats.bytesWritten;
      entry.bytesDropped += stats.bytesDropped;
      entry.position = position = stats.position;
    }
    entry.bytesIn += req.data.length;
    this.#taken += req.data.length;
    this.#notify(rel);
    if (n < req.data.length) throw ioError(rel, 'write', null, { written: n });
    return toWire(position);
  }

  /** Stops holding a log: what the pipe holds is written first, then the read end is closed. */
  closeLog(path: unknown): void {
    const rel = this.#root.normalize(path);
    const entry = this.#entries.get(rel);
    if (entry?.live == null) throw new LwError('LW_ERR_LOG_NOT_FOUND', `log ${rel} is not open`, { path: rel });
    this.#drain(entry, DRAIN_LIMIT);
    this.#close(entry);
  }

  /** Deletes a closed log's whole chain (base, backups, index); returns the files removed. */
  removeLog(path: unknown): number {
    const rel = this.#root.normalize(path);
    const entry = this.#entries.get(rel);
    if (entry?.live != null) throw new LwError('LW_ERR_LOG_BUSY', `log ${rel} is open; close it first`, { path: rel });
    const confined = this.#root.confine(rel, { create: false });
    let removed = 0;
    try {
      const dir = `/proc/self/fd/${confined.dirFd}`;
      const name = confined.name;
      // Backup names: NAME.0 .. NAME.1000 (the most a chain may keep), so "x.log.2024" is another log.
      const backup = new RegExp(`^${escapeRegExp(name)}\\.(0|[1-9]\\d{0,2}|1000)$`);
      const hidden = new Set([`.${name}.new`, `.${name}.chain`, `.${name}.chain.tmp`]);
      for (const file of readdirSync(dir)) {
        const visible = file === name || backup.test(file);
        if (!visible && !hidden.has(file)) continue;
        try {
          unlinkSync(`${dir}/${file}`);
          if (visible) removed++;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(rel, 'unlink', err);
        }
      }
    } finally {
      closeSync(confined.dirFd);
    }
    this.#entries.delete(rel);
    this.#notify(rel);
    if (removed === 0) throw notFound(rel);
    return removed;
  }

  /**
   * Every log's state. With `detach`, open ones are let go: pollers stopped, writers and directories
   * closed, the pipe read ends left open and unread (their bytes wait for whoever adopts them).
   */
  exportState(opts: { detach: boolean }): LogState[] {
    const out: LogState[] = [];
    for (const e of this.#entries.values()) {
      const live = e.live;
      let { bytesWritten, bytesDropped } = e;
      if (live !== null) {
        bytesWritten += live.writer.stats.bytesWritten;
        bytesDropped += live.writer.stats.bytesDropped;
      }
      if (live !== null && opts.detach) {
        e.live = null;
        this.#open--;
        live.poller.close();
        live.writer.close();
        e.bytesWritten = bytesWritten = e.bytesWritten + live.writer.stats.bytesWritten;
        e.bytesDropped = bytesDropped = e.bytesDropped + live.writer.stats.bytesDropped;
        e.position = live.writer.stats.position;
        closeSync(live.confined.dirFd);
      }
      const { rel, driver, domain, settings, bytesIn } = e;
      const position = toWire(live?.writer.stats.position ?? e.position);
      out.push({ rel, driver, domain, settings, bytesIn, bytesWritten, bytesDropped, position, readFd: live?.readFd ?? null });
    }
    return out;
  }

  /**
   * Takes logs back from exportState() (here or in the next process); open ones resume reading
   * their pipe at once: each is drained once before this returns, so a guest blocked on a full pipe
   * while the previous process exec'd goes on writing before anything else is loaded.
   */
  adoptState(logs: readonly LogState[]): void {
    this.#assertRunning();
    for (const s of logs) {
      const entry = this.#entry(s.rel, s.driver, s.domain, s.settings);
      entry.bytesIn = s.bytesIn;
      entry.bytesWritten = s.bytesWritten;
      entry.bytesDropped = s.bytesDropped;
      entry.position = fromWire(s.position);
      if (s.readFd === null || entry.live !== null) continue;
      const confined = this.#root.confine(s.rel, { create: true });
      let writer: RotatingFileWriter;
      try {
        writer = RotatingFileWriter.open(confined.fdPath, { ...s.settings, truncate: false });
      } catch (err) {
        closeSync(confined.dirFd);
        throw ioError(s.rel, 'open', err);
      }
      const poller = new FdPoller(s.readFd, (ev) => {
        this.#onReadable(entry, ev);
      });
      entry.live = { confined, writer, readFd: s.readFd, poller };
      entry.position = writer.position;
      this.#open++;
      poller.start({ readable: true });
      this.#drain(entry, DRAIN_BUDGET, false);
    }
  }

  list(): LogInfo[] {
    return [...this.#entries.values()].map((e) => this.#info(e));
  }

  info(path: unknown): LogInfo {
    const rel = this.#root.normalize(path);
    const entry = this.#entries.get(rel);
    if (entry === undefined) throw notFound(rel);
    return this.#info(entry);
  }

  /** Resolves at the next change of the log (bytes written, opened, closed, removed) or on abort. */
  waitForChange(rel: string, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) {
        resolve();
        return;
      }
      let set = this.#waiters.get(rel);
      if (set === undefined) {
        set = new Set();
        this.#waiters.set(rel, set);
      }
      const wake = (): void => {
        signal.removeEventListener('abort', wake);
        const s = this.#waiters.get(rel);
        s?.delete(wake);
        if (s?.size === 0) this.#waiters.delete(rel);
        resolve();
      };
      set.add(wake);
      signal.addEventListener('abort', wake, { once: true });
    });
  }

  /** Drains and closes every log (clean stop: guests see EPIPE from then on). */
  closeAll(): void {
    this.#closed = true;
    for (const entry of this.#entries.values()) {
      if (entry.live === null) continue;
      this.#drain(entry, DRAIN_LIMIT);
      this.#close(entry);
    }
    if (this.#quietTimer !== null) clearTimeout(this.#quietTimer);
    this.#quietTimer = null;
    this.#scratch.close();
  }

  /**
   * Asks for `size` bytes of pipe. An unprivileged daemon may be refused (EPERM): its pipes together
   * are capped by /proc/sys/fs/pipe-user-pages-soft (64 MiB, i.e. 63 pipes of 1 MiB besides the
   * rest) and one pipe by pipe-max-size. The pipe then keeps the size the kernel gave it: logging a
   * guest through a small pipe beats refusing it. Said once, not per log.
   */
  #sizePipe(fd: number, size: number): void {
    try {
      setPipeSize(fd, size);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
      if (!this.#pipeSizeRefused) {
        this.#pipeSizeRefused = true;
        this.#logger.warn('pipe_size refused by the kernel (EPERM: pipe memory limit of an unprivileged user), new pipes keep the kernel default', {
          pipeSize: size,
          got: getPipeSize(fd),
        });
      }
    }
  }

  #assertRunning(): void {
    if (this.#closed) throw new LwError('LW_ERR_RPC_CLOSED', 'daemon is stopping');
  }

  #entry(rel: string, driver: string, domain: Domain | null, settings: Entry['settings']): Entry {
    const existing = this.#entries.get(rel);
    if (existing !== undefined) {
      existing.driver = driver;
      existing.domain = domain;
      existing.settings = settings;
      return existing;
    }
    const entry: Entry = {
      rel, driver, domain, settings, live: null, bytesIn: 0, bytesWritten: 0, bytesDropped: 0,
      position: { inode: 0n, offset: 0 },
    };
    this.#entries.set(rel, entry);
    return entry;
  }

  /**
   * A pipe became readable. A guest that wrote little is then not watched by epoll for a while:
   * its pipe is drained on a shared timer (QUIET_MS) as long as each drain finds a small amount,
   * so a guest writing a line every few ms costs one splice per period instead of a wakeup per
   * write. A timer drain that finds nothing (an idle guest) or a lot (a flood) goes back to epoll.
   * A guest blocks on its pipe for at most QUIET_MS if it bursts past the pipe's capacity.
   */
  #onReadable(entry: Entry, ev: FdEvent): void {
    const live = entry.live;
    if (live === null) return;
    if (ev.error !== 0) {
      this.#logger.warn('pipe poll error, closing log', { path: entry.rel, errno: ev.error });
      this.#close(entry);
      return;
    }
    const now = performance.now();
    const since = now - (this.#lastWake.get(live) ?? 0);
    this.#lastWake.set(live, now);
    const moved = this.#drain(entry, DRAIN_BUDGET, false);
    if (entry.live === null || moved === 0) return;
    // A flood stays on epoll: judged by the pace, since a flood's wakeup may also find little.
    const limit = this.#quietLimit(live);
    if (moved >= limit || (moved / Math.max(since, 0.001)) * QUIET_MS >= limit) return;
    live.poller.stop();
    this.#quiet.add(entry);
    this.#quietTimer ??= setTimeout(() => {
      this.#drainQuiet();
    }, QUIET_MS);
  }

  #drainQuiet(): void {
    this.#quietTimer = null;
    for (const entry of this.#quiet) {
      const live = entry.live;
      if (live === null) {
        this.#quiet.delete(entry);
        continue;
      }
      const moved = this.#drain(entry, DRAIN_BUDGET, false);
      if (entry.live === null) continue;
      if (moved === 0 || moved >= this.#quietLimit(live)) {
        this.#quiet.delete(entry);
        live.poller.start({ readable: true });
      }
    }
    if (this.#quiet.size > 0) {
      this.#quietTimer = setTimeout(() => {
        this.#drainQuiet();
      }, QUIET_MS);
    }
  }

  /** Bytes per QUIET_MS above which a pipe is busy: a quarter of its capacity, at most 64 KiB. */
  #quietLimit(live: Live): number {
    let capacity = this.#capacity.get(live);
    if (capacity === undefined) {
      capacity = getPipeSize(live.readFd);
      this.#capacity.set(live, capacity);
    }
    return Math.min(SHORT_SPLICE, capacity / 4);
  }

  /**
   * Moves what the pipe holds into the file, up to `budget` bytes; closes the log at EOF. A wakeup
   * (untilEmpty false) stops after a short splice: the pipe was most likely emptied by it, and if
   * not, the level-triggered poller fires again. That saves the EAGAIN round of a quiet guest's
   * every write (1000 guests x 10 KB/s: ~10k wakeups/s, see docs/benchmarks.md).
   */
  #drain(entry: Entry, budget: number, untilEmpty = true): number {
    const live = entry.live;
    if (live === null) return 0;
    let moved = 0;
    let eof = false;
    try {
      while (moved < budget) {
        const n = live.writer.writeFromPipe(live.readFd, this.#scratch);
        if (n === null) break;
        if (n === 0) {
          eof = true;
          break;
        }
        moved += n;
        if (!untilEmpty && n < SHORT_SPLICE) break;
      }
    } catch (err) {
      // Not a disk error (those become counted drops): the pipe itself is broken.
      this.#logger.error('cannot read the log pipe, closing the log', { path: entry.rel, err });
      eof = true;
    }
    entry.bytesIn += moved;
    this.#taken += moved;
    if (eof) {
      this.#logger.debug('all writers gone, log closed', { path: entry.rel });
      this.#close(entry);
    } else if (moved > 0) {
      this.#notify(entry.rel);
    }
    return moved;
  }

  #close(entry: Entry): void {
    const live = entry.live;
    if (live === null) return;
    entry.live = null;
    this.#open--;
    this.#quiet.delete(entry);
    live.poller.close();
    close(live.readFd);
    this.observer?.closed(entry.rel);
    live.writer.close();
    const stats = live.writer.stats;
    entry.bytesWritten += stats.bytesWritten;
    entry.bytesDropped += stats.bytesDropped;
    entry.position = stats.position;
    closeSync(live.confined.dirFd);
    this.#notify(entry.rel);
  }

  #info(e: Entry): LogInfo {
    const stats = e.live?.writer.stats;
    return {
      path: e.rel,
      driver: e.driver,
      domain: e.domain,
      open: e.live !== null,
      bytesIn: e.bytesIn,
      bytesWritten: e.bytesWritten + (stats?.bytesWritten ?? 0),
      bytesDropped: e.bytesDropped + (stats?.bytesDropped ?? 0),
      position: toWire(currentPosition(e)),
    };
  }

  /** Runs fn with a reader on the log's chain, named the way its writer names it. */
  #onDisk<T>(rel: string, entry: Entry | undefined, fn: (reader: RotatingFileReader) => T): T {
    const settings = entry?.settings ?? this.#settings();
    const chainOpts = { maxBackups: settings.maxBackups, firstBackupIndex: settings.firstBackupIndex };
    const live = entry?.live;
    if (live != null) return fn(new RotatingFileReader(live.confined.fdPath, chainOpts));
    const confined = this.#root.confine(rel, { create: false });
    try {
      const reader = new RotatingFileReader(confined.fdPath, chainOpts);
      if (reader.end().inode === 0n) throw notFound(rel);
      return fn(reader);
    } finally {
      closeSync(confined.dirFd);
    }
  }

  #notify(rel: string): void {
    const set = this.#waiters.get(rel);
    if (set === undefined) return;
    for (const wake of [...set]) wake();
  }
}

function currentPosition(e: Entry): Position {
  return e.live?.writer.position ?? e.position;
}

function notFound(rel: string): LwError {
  return new LwError('LW_ERR_LOG_NOT_FOUND', `no log ${rel}`, { path: rel });
}

function ioError(rel: string, op: string, err: unknown, extra: Record<string, unknown> = {}): LwError {
  const code = (err as { code?: unknown } | null)?.code;
  const errno = typeof code === 'string' ? code : undefined;
  return new LwError('LW_ERR_LOG_IO', `${op} ${rel}${errno === undefined ? '' : `: ${errno}`}`, { path: rel, op, errno, ...extra }, { cause: err });
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
