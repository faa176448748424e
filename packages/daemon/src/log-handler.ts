// The stateful half of the daemon: the logs it holds, each a guest pipe (read end only) feeding a
// rotating file through a staging pipe of the daemon's own.
//
// Bytes move by splice only, so they leave one pipe exactly as they enter the next pipe or the file:
// a kill at any instant loses nothing the guest wrote (the staging pipe is carried across a re-exec
// and kept in systemd's fd store like the guest's). The event loop moves guest -> staging, pipe to
// pipe, which never waits on the disk; staging -> file runs on libuv's threadpool (spliceToFile).
// Why two pipes: splice() holds the pipe's lock for the whole file write, so a stalled disk would
// block a guest writing into the pipe being spliced from, whatever room it has. With staging, only
// the daemon's own pipe is locked; the guest's pipe is a bounded buffer, and when a file write takes
// longer than stall_timeout_ms, what the guest writes meanwhile is read and counted as dropped
// (one marker line records it) instead of blocking the guest.
import { closeSync, openSync, readdirSync, unlinkSync, constants as fsConstants } from 'node:fs';
import {
  close,
  FdPoller,
  getPipeSize,
  pipe,
  pipeBytes,
  read as readFd,
  setNonblock,
  setPipeSize,
  splice,
  spliceToFiles,
  type FdEvent,
  type SpliceResult,
} from '@logwarden/core/native';
import { LwError } from '@logwarden/core/errors';
import type { Domain, LogInfo, WirePosition } from '@logwarden/core/protocol';
import {
  PipeScratch,
  type PipeMove,
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
  /** A file write running longer than this makes the log shed what its guest writes (ms). */
  stallTimeoutMs: number;
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
  /** The staging pipe's read end (bytes taken from the guest, not yet in the file), if open. */
  stageFd: number | null;
}

/** Told when a log starts and stops holding its pipes (the systemd fd store keeps a copy meanwhile). */
export interface LogObserver {
  opened(rel: string, fds: { readFd: number; stageFd: number }): void;
  closed(rel: string): void;
}

export interface ReadOutcome {
  data: Uint8Array;
  position: WirePosition;
  gap: number;
}

// Flushing for a position query or a close stops here even if the guest keeps writing.
const DRAIN_LIMIT = 64 * 1024 * 1024;
// A quiet guest's pace is judged against this (see #idle).
const QUIET_BYTES = 64 * 1024;
// How long a quiet guest's bytes may wait in its pipe (see #idle).
const QUIET_MS = 100;
// A quiet guest's bytes, once staged, go on to the file when this many have gathered or the oldest
// has waited this long (see #prepare): a file write per 100 ms round for each of 1000 guests cost
// more than the rest of their upkeep together (docs/benchmarks.md).
const QUIET_FILE_BYTES = 16 * 1024;
const QUIET_FILE_MS = 400;
// Timer rounds in a row that find nothing before a quiet guest goes back to epoll: a guest writing
// about once per round would otherwise flip between the two, and each flip costs a wakeup and a
// threadpool move of its own.
const QUIET_IDLE_ROUNDS = 10;
// The staging pipe: one threadpool move takes at most this much. A flood measured 751 MB/s with
// 256 KiB (a thread hand-off per 256 KiB) and 907 MB/s with 1 MiB (docs/benchmarks.md); its pages
// are only allocated while they hold bytes.
const STAGE_SIZE = 1024 * 1024;
// While shedding, one wakeup reads at most this much before yielding to other logs.
const SHED_BUDGET = 4 * 1024 * 1024;

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
  stageRead: number;
  stageWrite: number;
  /** Bytes in the staging pipe. */
  staged: number;
  /** The move of staged bytes into the file running on the threadpool, if any. */
  moving: Promise<void> | null;
  /** The running move outlived stallTimeoutMs: guest bytes are read and dropped until it returns. */
  shedding: boolean;
  /** Bytes shed and not handed to the writer yet: its marker must follow the staged (older) bytes. */
  shed: number;
  /** The guest pipe said EOF: the log closes once its staging pipe is empty. */
  guestEof: boolean;
  /** Close requested while a move ran (its fds stay open until it returns). */
  closing: boolean;
  /** What woke the current round of moves, and how much it took from the guest (see #idle). */
  wake: 'poll' | 'quiet' | 'flush';
  wokeAt: number;
  sinceWake: number;
  /** The last guest -> staging splice took less than QUIET_BYTES: the guest pipe is most likely empty. */
  shortStage: boolean;
  /** When the oldest byte now in the staging pipe was staged (performance.now()). */
  stagedAt: number;
  /** Timer rounds in a row that found nothing (see QUIET_IDLE_ROUNDS). */
  emptyRounds: number;
}

/** A move #prepare decided, to be run by #start. */
interface Pending {
  entry: Entry;
  live: Live;
  move: PipeMove;
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
  #taken = 0;
  /** Moves still running for logs let go by exportState({ detach: true }) (see adoptState). */
  readonly #detachedMoves = new Map<string, Promise<void>>();
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
    const { confined, writer } = this.#openWriter(rel, settings, req.truncate);
    let fds: { readFd: number; writeFd: number };
    let stage: { readFd: number; writeFd: number };
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
      stage = this.#stagingPipe();
    } catch (err) {
      close(fds.readFd);
      close(fds.writeFd);
      writer.close();
      closeSync(confined.dirFd);
      throw ioError(rel, 'pipe', err);
    }
    const entry = this.#entry(rel, req.driver, req.domain, settings);
    const live = this.#live(entry, { confined, writer, readFd: fds.readFd, stage, staged: 0 });
    live.poller.start({ readable: true });
    this.observer?.opened(rel, { readFd: fds.readFd, stageFd: stage.readFd });
    this.#logger.debug('log opened', { path: rel, driver: req.driver, truncate: req.truncate });
    this.#notify(rel);
    return { position: toWire(writer.position), writeFd: fds.writeFd };
  }

  /** Where the next byte will go, after everything the pipe already holds. */
  async getPosition(path: unknown): Promise<WirePosition> {
    const rel = this.#root.normalize(path);
    const entry = this.#entries.get(rel);
    if (entry?.live != null) {
      await this.#flush(entry);
      // The flush may have met EOF and closed the log: its last position stands then.
      return toWire(currentPosition(entry));
    }
    return this.#onDisk(rel, entry, (reader) => toWire(reader.end()));
  }

  /** Resolves once what the log's pipes hold now is in its file (at most DRAIN_LIMIT bytes more). */
  async flush(path: unknown): Promise<void> {
    const entry = this.#entries.get(this.#root.normalize(path));
    if (entry?.live != null) await this.#flush(entry);
  }

  /**
   * Up to maxLen bytes from `position`, across rotations; `gap` counts bytes rotated away. Reads
   * what is in the files: flush() first for what the pipes still hold.
   */
  read(path: unknown, position: WirePosition, maxLen: number): ReadOutcome {
    const rel = this.#root.normalize(path);
    const entry = this.#entries.get(rel);
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
  async append(req: Omit<OpenRequest, 'truncate'> & { data: Uint8Array }): Promise<WirePosition> {
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
    // From the end of the flush to the write below nothing else runs: no move can start between.
    if (known?.live != null) await this.#flush(known);
    let entry: Entry;
    const live = known?.live ?? null;
    if (live !== null) {
      entry = this.#entry(rel, req.driver, req.domain, settings);
      n = live.writer.write(req.data);
      position = live.writer.position;
    } else {
      // Not open: a writer just for this message, like virtlogd. The log is listed only once its
      // path passed confinement and its file opened: a refused path leaves no trace in list/stats.
      const { confined, writer } = this.#openWriter(rel, settings, false);
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
  async closeLog(path: unknown): Promise<void> {
    const rel = this.#root.normalize(path);
    const entry = this.#entries.get(rel);
    if (entry?.live == null) throw new LwError('LW_ERR_LOG_NOT_FOUND', `log ${rel} is not open`, { path: rel });
    await this.#flush(entry);
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
   * closed, the guest and staging pipes' read ends left open and unread (their bytes wait for
   * whoever adopts them). A move still running then finishes on its own or is cut short by the
   * exec: either way the bytes it moved are in the file and the rest are still in the staging pipe.
   */
  exportState(opts: { detach: boolean }): LogState[] {
    const out: LogState[] = [];
    for (const e of this.#entries.values()) {
      const live = e.live;
      let { bytesWritten, bytesDropped } = e;
      if (live !== null) {
        bytesWritten += live.writer.stats.bytesWritten;
        bytesDropped += live.writer.stats.bytesDropped + live.shed;
      }
      if (live !== null && opts.detach) {
        e.live = null;
        this.#open--;
        this.#quiet.delete(e);
        live.poller.close();
        if (live.moving !== null) {
          const running = live.moving;
          this.#detachedMoves.set(e.rel, running);
          void running.then(() => {
            if (this.#detachedMoves.get(e.rel) === running) this.#detachedMoves.delete(e.rel);
          });
        }
        if (live.moving === null && live.shed > 0) live.writer.recordDrop(live.shed, 'disk stalled');
        else e.bytesDropped += live.shed;
        live.shed = 0;
        live.writer.close();
        closeSync(live.stageWrite); // maybe opened by node:fs (reopenWriteEnd): see there
        e.bytesWritten = bytesWritten = e.bytesWritten + live.writer.stats.bytesWritten;
        e.bytesDropped = bytesDropped = e.bytesDropped + live.writer.stats.bytesDropped;
        e.position = live.writer.stats.position;
        closeSync(live.confined.dirFd);
      }
      const { rel, driver, domain, settings, bytesIn } = e;
      const position = toWire(live?.writer.stats.position ?? e.position);
      out.push({
        rel, driver, domain, settings, bytesIn, bytesWritten, bytesDropped, position,
        readFd: live?.readFd ?? null, stageFd: live?.stageRead ?? null,
      });
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
      const readFd = s.readFd;
      if (readFd === null || entry.live !== null) continue;
      const running = this.#detachedMoves.get(s.rel);
      if (running === undefined) {
        this.#adoptPipes(entry, s, readFd);
        continue;
      }
      // Taken back after a failed exec while a move of this process still writes the file and
      // reads the staging pipe: the new writer must see where that move ended, so it waits.
      void running.then(() => {
        if (!this.#closed && entry.live === null) this.#adoptPipes(entry, s, readFd);
      });
    }
  }

  /** Opens the writer of an adopted log and goes on reading its pipes (see adoptState). */
  #adoptPipes(entry: Entry, s: LogState, readFd: number): void {
    const { confined, writer } = this.#openWriter(s.rel, s.settings, false);
    // The staging pipe goes on being the log's (the fd store holds that one), with a new write end.
    let stage: { readFd: number; writeFd: number };
    let staged = 0;
    try {
      if (s.stageFd === null) {
        stage = this.#stagingPipe();
      } else {
        staged = pipeBytes(s.stageFd);
        stage = { readFd: s.stageFd, writeFd: reopenWriteEnd(s.stageFd) };
      }
    } catch (err) {
      writer.close();
      closeSync(confined.dirFd);
      throw ioError(s.rel, 'pipe', err);
    }
    const live = this.#live(entry, { confined, writer, readFd, stage, staged });
    live.wokeAt = performance.now();
    this.#pump(entry);
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
  async closeAll(): Promise<void> {
    this.#closed = true;
    await Promise.all(
      [...this.#entries.values()].map(async (entry) => {
        if (entry.live === null) return;
        await this.#flush(entry);
        this.#close(entry);
      }),
    );
    if (this.#quietTimer !== null) clearTimeout(this.#quietTimer);
    this.#quietTimer = null;
    // A close deferred while a move ran happens when it returns: the scratch must outlive it.
    await Promise.all([...this.#entries.values()].flatMap((e) => (e.live?.moving == null ? [] : [e.live.moving])));
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

  /** Confines a log's path (creating its directories) and opens its writer there. */
  #openWriter(rel: string, settings: Entry['settings'], truncate: boolean): { confined: ConfinedPath; writer: RotatingFileWriter } {
    const confined = this.#root.confine(rel, { create: true });
    try {
      return { confined, writer: RotatingFileWriter.open(confined.fdPath, { ...settings, truncate }) };
    } catch (err) {
      closeSync(confined.dirFd);
      throw ioError(rel, 'open', err);
    }
  }

  /** The daemon's own pipe between a guest's and the file (see the top of this file). */
  #stagingPipe(): { readFd: number; writeFd: number } {
    const stage = pipe();
    try {
      // Refused (an unprivileged daemon at its pipe memory limit), the kernel's default works in smaller steps.
      this.#sizePipe(stage.readFd, STAGE_SIZE);
    } catch (err) {
      close(stage.readFd);
      close(stage.writeFd);
      throw err;
    }
    return stage;
  }

  #settingsOrNull(): LogSettings | null {
    try {
      return this.#settings();
    } catch {
      // Adopted before the configuration is read (resume.ts): the default holds until the next open.
      return null;
    }
  }

  #live(
    entry: Entry,
    o: { confined: ConfinedPath; writer: RotatingFileWriter; readFd: number; stage: { readFd: number; writeFd: number }; staged: number },
  ): Live {
    const poller = new FdPoller(o.readFd, (ev) => {
      this.#onReadable(entry, ev);
    });
    const live: Live = {
      confined: o.confined, writer: o.writer, readFd: o.readFd, poller, stageRead: o.stage.readFd, stageWrite: o.stage.writeFd,
      staged: o.staged, moving: null, shedding: false, shed: 0,
      guestEof: false, closing: false, wake: 'poll', wokeAt: 0, sinceWake: 0, shortStage: false, stagedAt: performance.now(),
      emptyRounds: 0,
    };
    entry.live = live;
    entry.position = o.writer.position;
    this.#open++;
    return live;
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

  /** The guest's pipe became readable (the poller runs only while no move runs, or while shedding). */
  #onReadable(entry: Entry, ev: FdEvent): void {
    const live = entry.live;
    if (live === null) return;
    if (ev.error !== 0) {
      this.#logger.warn('pipe poll error, closing log', { path: entry.rel, errno: ev.error });
      this.#close(entry);
      return;
    }
    if (live.shedding) {
      this.#shed(entry, live);
      return;
    }
    live.poller.stop();
    live.wake = 'poll';
    this.#pump(entry);
  }

  /**
   * Moves the log's bytes on: guest pipe -> staging pipe here (pipe to pipe, never waiting on the
   * disk), then starts the move of the staged bytes into the file on the threadpool; its return
   * calls this again. With nothing left to move, the log waits for its guest (see #idle).
   */
  #pump(entry: Entry): void {
    const move = this.#prepare(entry);
    if (move !== null) this.#start([move]);
  }

  /** #pump's synchronous half: the move to start next, or null (nothing to move, or closed). */
  #prepare(entry: Entry): Pending | null {
    const live = entry.live;
    if (live === null || live.moving !== null) return null;
    for (;;) {
      if (live.shed > 0 && live.staged === 0) {
        // Everything older than the shed bytes is in the file: the marker goes right here.
        live.writer.recordDrop(live.shed, 'disk stalled');
        live.shed = 0;
      }
      // Bytes shed while older ones wait in staging: nothing newer may pass them before the marker.
      if (!live.guestEof && live.shed === 0 && !this.#stage(entry, live)) return null;
      if (live.staged === 0) {
        if (live.guestEof) {
          this.#logger.debug('all writers gone, log closed', { path: entry.rel });
          this.#close(entry);
        } else {
          this.#idle(entry, live);
        }
        return null;
      }
      if (this.#gathering(live)) {
        this.#idle(entry, live);
        return null;
      }
      let move: PipeMove | number | null;
      try {
        move = live.writer.beginPipeMove(live.stageRead, this.#scratch);
      } catch (err) {
        this.#broken(entry, err);
        return null;
      }
      if (move === null || move === 0) {
        live.staged = 0; // cannot happen (the daemon holds the write end): recount from empty
        continue;
      }
      if (typeof move === 'number') {
        // The file cannot be written: the writer drained and counted these; go on with the rest.
        live.staged = Math.max(0, live.staged - move);
        this.#notify(entry.rel);
        continue;
      }
      live.poller.stop();
      return { entry, live, move };
    }
  }

  /**
   * A quiet guest's few staged bytes wait for more (up to QUIET_FILE_BYTES or QUIET_FILE_MS) before
   * a file write: its pipe is still drained every round, and the staging pipe is as safe a place as
   * the guest's (carried across a re-exec, kept in the fd store). Readers asking over RPC flush first,
   * so only follow streams and journal mirrors see these bytes up to QUIET_FILE_MS later.
   */
  #gathering(live: Live): boolean {
    return (
      live.wake === 'quiet' && !live.guestEof && live.shed === 0 && live.staged < QUIET_FILE_BYTES &&
      performance.now() - live.stagedAt < QUIET_FILE_MS
    );
  }

  /** Guest pipe -> staging pipe. False when the log was closed (a broken pipe). */
  #stage(entry: Entry, live: Live): boolean {
    let n: number | null;
    try {
      n = splice(live.readFd, live.stageWrite, STAGE_SIZE);
    } catch (err) {
      this.#broken(entry, err);
      return false;
    }
    if (n === 0) {
      live.guestEof = true;
    } else if (n !== null) {
      live.shortStage = n < QUIET_BYTES;
      if (live.staged === 0) live.stagedAt = performance.now();
      live.staged += n;
      live.sinceWake += n;
      entry.bytesIn += n;
      this.#taken += n;
    }
    return true;
  }

  /**
   * Runs moves on the threadpool, as one work item (many quiet logs cost one thread hand-off); a
   * batch that outlives the shortest stall timeout among its logs makes them all shed meanwhile.
   */
  #start(batch: Pending[]): void {
    let running: Promise<void> | null = null;
    // Read at each start, so a reload applies to open logs, and logs adopted before the
    // configuration was read get it as soon as it is.
    const stallMs = this.#settingsOrNull()?.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
    const timer = setTimeout(() => {
      for (const { entry, live } of batch) if (live.moving === running) this.#stalled(entry, live, stallMs);
    }, stallMs);
    running = spliceToFiles(batch.map(({ live, move }) => ({ fdIn: live.stageRead, fdOut: move.fd, length: move.length, offOut: move.offset }))).then(
      (results) => {
        clearTimeout(timer);
        batch.forEach(({ entry, live, move }, i) => {
          this.#moved(entry, live, move, results[i] ?? { moved: 0, error: new Error('no result'), eof: false });
        });
      },
      (err: unknown) => {
        clearTimeout(timer);
        const error = err instanceof Error ? err : new Error(String(err));
        for (const { entry, live, move } of batch) this.#moved(entry, live, move, { moved: 0, error, eof: false });
      },
    );
    for (const { live } of batch) live.moving = running;
  }

  #moved(entry: Entry, live: Live, move: PipeMove, result: SpliceResult): void {
    live.moving = null;
    let consumed: number | null;
    try {
      consumed = live.writer.finishPipeMove(move, result, live.stageRead, this.#scratch);
    } catch (err) {
      if (entry.live === live) this.#broken(entry, err);
      return;
    }
    live.staged = Math.max(0, live.staged - (consumed ?? 0));
    if (entry.live !== live) {
      // Detached for a re-exec meanwhile (its poller is closed): the next owner takes it from here.
      // Counted here for a failed exec, where this process is that owner (exportState counted before).
      entry.bytesWritten += result.moved;
      return;
    }
    if (live.shedding) {
      live.shedding = false;
      live.poller.stop();
      this.#logger.warn('log file writable again; shedding ended', { path: entry.rel, shedBytes: live.shed });
    }
    if (live.closing) {
      this.#close(entry);
      return;
    }
    this.#notify(entry.rel);
    if (live.staged === 0 && live.shed === 0 && live.shortStage && live.wake !== 'flush') {
      // Like a short read: the guest's pipe was most likely emptied by the last staging, so this
      // round ends without another splice to find out (a quiet guest costs one staging per period).
      // If it was not, the level-triggered poller fires at once, or the next quiet round takes it.
      this.#idle(entry, live);
      return;
    }
    this.#pump(entry);
  }

  /** A move outlived stall_timeout_ms: from now until it returns, the guest's bytes are dropped. */
  #stalled(entry: Entry, live: Live, stallTimeoutMs: number): void {
    if (entry.live !== live || live.moving === null) return;
    live.shedding = true;
    this.#logger.warn('log file write stalled; dropping what the guest writes until it returns', {
      path: entry.rel,
      stallTimeoutMs,
    });
    this.#shed(entry, live);
    if (!live.guestEof) live.poller.start({ readable: true });
  }

  #shed(entry: Entry, live: Live): void {
    const buf = this.#scratch.buffer;
    let shed = 0;
    try {
      while (shed < SHED_BUDGET) {
        const n = readFd(live.readFd, buf, 0, buf.length);
        if (n === null) break;
        if (n === 0) {
          live.guestEof = true;
          live.poller.stop();
          break;
        }
        shed += n;
      }
    } catch (err) {
      this.#broken(entry, err);
    }
    live.shed += shed;
    entry.bytesIn += shed;
    this.#taken += shed;
  }

  /**
   * Nothing left to move. A guest that wrote little since it woke us is then not watched by epoll
   * for a while: it is drained on a shared timer (QUIET_MS) as long as each round finds a small
   * amount, so a guest writing a line every few ms costs one round per period instead of a wakeup
   * per write. A lot in one round (a flood), or QUIET_IDLE_ROUNDS rounds in a row that find nothing
   * (an idle guest), send it back to epoll. A guest blocks on its pipe for at most QUIET_MS if it
   * bursts past the pipe's capacity.
   */
  #idle(entry: Entry, live: Live): void {
    const moved = live.sinceWake;
    const now = performance.now();
    const since = now - live.wokeAt;
    const wake = live.wake;
    live.sinceWake = 0;
    live.wokeAt = now;
    live.emptyRounds = wake === 'quiet' && moved === 0 ? live.emptyRounds + 1 : 0;
    // Staged bytes still gathering (see #gathering) keep the log on the timer, which writes them out.
    const quiet =
      live.staged > 0 ||
      (wake === 'quiet'
        ? moved < QUIET_BYTES && live.emptyRounds < QUIET_IDLE_ROUNDS
        : moved > 0 && moved < QUIET_BYTES && (moved / Math.max(since, 0.001)) * QUIET_MS < QUIET_BYTES);
    if (!quiet) {
      live.poller.start({ readable: true });
      return;
    }
    this.#quiet.add(entry);
    this.#quietTimer ??= setTimeout(() => {
      this.#drainQuiet();
    }, QUIET_MS);
  }

  #drainQuiet(): void {
    this.#quietTimer = null;
    const due = [...this.#quiet];
    this.#quiet.clear();
    const batch: Pending[] = [];
    for (const entry of due) {
      const live = entry.live;
      if (live === null || live.moving !== null) continue;
      live.wake = 'quiet';
      const move = this.#prepare(entry);
      if (move !== null) batch.push(move);
    }
    if (batch.length > 0) this.#start(batch);
  }

  /**
   * Resolves once the log's pipes held nothing more (or DRAIN_LIMIT bytes went through, for a guest
   * that keeps writing), or at once while its disk stalls (the log sheds then: what the guest wrote
   * will not be in the file anyway, and a caller such as getPosition should not wait on the disk).
   */
  async #flush(entry: Entry): Promise<void> {
    const start = this.#taken;
    for (;;) {
      const live = entry.live;
      if (live === null || live.shedding) return;
      if (live.moving === null) {
        this.#quiet.delete(entry);
        live.wake = 'flush';
        this.#pump(entry);
      }
      const moving = live.moving;
      if (moving === null || this.#taken - start >= DRAIN_LIMIT) return;
      await moving;
    }
  }

  /** The pipe itself is broken (not a disk error: those become counted drops). */
  #broken(entry: Entry, err: unknown): void {
    this.#logger.error('cannot read the log pipe, closing the log', { path: entry.rel, err });
    this.#close(entry);
  }

  #close(entry: Entry): void {
    const live = entry.live;
    if (live === null) return;
    if (live.moving !== null) {
      // The threadpool still splices from the staging pipe: its fds stay open until it returns.
      live.closing = true;
      return;
    }
    entry.live = null;
    this.#open--;
    this.#quiet.delete(entry);
    live.poller.close();
    if (live.shed > 0) live.writer.recordDrop(live.shed, 'disk stalled');
    live.shed = 0;
    close(live.readFd);
    close(live.stageRead);
    closeSync(live.stageWrite);
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
    const shed = e.live?.shed ?? 0;
    return {
      path: e.rel,
      driver: e.driver,
      domain: e.domain,
      open: e.live !== null,
      bytesIn: e.bytesIn,
      bytesWritten: e.bytesWritten + (stats?.bytesWritten ?? 0),
      bytesDropped: e.bytesDropped + (stats?.bytesDropped ?? 0) + shed,
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

// Until the configuration is read (resume.ts adopts logs first): config.ts's default for stall_timeout_ms.
const DEFAULT_STALL_TIMEOUT_MS = 1000;

/**
 * A new write end (close-on-exec: libuv opens so) for a pipe known by its read end: Linux opens a
 * pipe again through /proc with any mode. The staging pipe's write end is not carried (nobody but
 * the daemon writes it). Closed with fs.closeSync: in a worker thread Node tracks the fds node:fs
 * opened and closes those still tracked when the worker exits, whoever holds the number by then.
 */
function reopenWriteEnd(readFd: number): number {
  return openSync(`/proc/self/fd/${readFd}`, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
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
