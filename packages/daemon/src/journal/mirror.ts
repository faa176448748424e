// Mirroring a log into journald: one structured entry per line. The mirror follows the log's
// rotating file from the position the log was opened at (like the follow call) and is woken by
// the log handler's change notifications, so the guest's hot path (pipe -> splice -> file) does
// nothing extra. journald being slow or gone never blocks a guest: the file is the buffer, a send
// that cannot go out is retried, and bytes rotated away before they were mirrored are reported
// by an entry of their own. Across a re-exec a mirror carries exactly how far it got (suspend(),
// restore()): every line reaches journald once.
import { setTimeout as sleep } from 'node:timers/promises';
import { JournalClient, JournalError } from '@logwarden/core/journal';
import { LwError, type Domain, type LogInfo, type WirePosition } from '@logwarden/core/protocol';
import type { ReadOutcome } from '../log-handler.js';
import type { Logger } from '../logger.js';
import type { CarriedMirror } from '../upgrade/state.js';
import type { MirrorSettings } from './settings.js';

/** What a mirror needs of the log handler (LogHandler has it). */
export interface MirrorSource {
  readonly root: { absolute(rel: string): string };
  read(path: string, position: WirePosition, maxLen: number): ReadOutcome;
  info(path: string): LogInfo;
  waitForChange(rel: string, signal: AbortSignal): Promise<void>;
}

export interface MirrorStats {
  rel: string;
  /** Entries journald accepted. */
  entries: number;
  /** Of those, pieces of lines cut at maxLine or at the end of the log (LOGWARDEN_PARTIAL=1). */
  partial: number;
  /** Bytes rotated away before they could be mirrored (reported by LOGWARDEN_GAP entries). */
  gapBytes: number;
  /** Where the mirror reads next. */
  position: WirePosition;
}

// Bytes read per step: bounds a mirror's memory while journald is slow.
const READ_BYTES = 256 * 1024;
// Backoff while journald cannot be reached.
const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 10_000;
const NL = 0x0a;
const CR = 0x0d;

const k = (name: string): Buffer => Buffer.from(`${name}=`);
const K = {
  MESSAGE: k('MESSAGE'),
  PRIORITY: k('PRIORITY'),
  SYSLOG_IDENTIFIER: k('SYSLOG_IDENTIFIER'),
  PATH: k('LOGWARDEN_PATH'),
  DRIVER: k('LOGWARDEN_DRIVER'),
  DOMAIN_NAME: k('LOGWARDEN_DOMAIN_NAME'),
  DOMAIN_UUID: k('LOGWARDEN_DOMAIN_UUID'),
  PARTIAL: k('LOGWARDEN_PARTIAL'),
  GAP: k('LOGWARDEN_GAP'),
};
const ONE = Buffer.from('1');
const WARNING = Buffer.from('4');

class Aborted extends Error {}

interface Mirror {
  readonly rel: string;
  stats: MirrorStats;
  /**
   * Stream offset of the first byte not yet in journald (nor deliberately skipped: empty lines,
   * refused entries). Pending bytes lie after it. Only moves once a send has succeeded.
   */
  sent: number;
  /** A position the reader accepts at or before `sent` (the read that brought byte `sent - 1`). */
  anchor: WirePosition;
  /** Fields after MESSAGE shared by every entry of this log (PRIORITY, identifier, logwarden fields). */
  tail: Uint8Array[];
  /** Bytes of a line not yet ended by a newline. */
  pending: Buffer[];
  pendingBytes: number;
  settings: MirrorSettings;
  /** Aborted by close() and by suspend(). */
  signal: AbortSignal;
  done: Promise<void>;
}

export class JournalMirrors {
  readonly #source: MirrorSource;
  readonly #logger: Logger;
  readonly #settings: () => MirrorSettings;
  readonly #mirrors = new Map<string, Mirror>();
  readonly #clients = new Map<string, JournalClient>();
  /** Replaced after each suspend(); close() aborts it for good. */
  #abort = new AbortController();
  #closed = false;
  #outage = false;
  #entriesSent = 0;

  /** `settings` is read when a mirror starts: a reload applies to logs opened after it. */
  constructor(opts: { source: MirrorSource; logger: Logger; settings: () => MirrorSettings }) {
    this.#source = opts.source;
    this.#logger = opts.logger;
    this.#settings = opts.settings;
  }

  /** Whether a log opened with these openLog flags is mirrored (the flag, or the configured default). */
  wanted(flagSet: boolean): boolean {
    return flagSet || this.#settings().byDefault;
  }

  /** Logs being mirrored now. */
  get active(): number {
    return this.#mirrors.size;
  }

  stats(): MirrorStats[] {
    return [...this.#mirrors.values()].map((m) => ({ ...m.stats }));
  }

  /** Entries journald accepted since start, all mirrors together (the fd store's record compares it). */
  get entriesSent(): number {
    return this.#entriesSent;
  }

  /** Where each mirror stands now, as suspend() returns it (for the fd store's record). */
  carried(): CarriedMirror[] {
    return [...this.#mirrors.values()].map(carry);
  }

  /**
   * Mirrors log `rel` from `from` on, until it is closed and every line is in journald. A log that
   * is mirrored already (reopened before its mirror caught up) keeps its mirror and position.
   */
  start(rel: string, meta: { driver: string; domain: Domain | null }, from: WirePosition): void {
    this.#start({ rel, anchor: from, sent: from.offset, entries: 0, partial: 0, gapBytes: 0 }, meta);
  }

  /**
   * Stops every mirror where it stands and closes the sockets (before a re-exec): nothing more
   * reaches journald from this process. Returns, per mirror, what restore() (here, if the exec
   * fails, or in the next process) needs to go on without repeating or skipping a line.
   */
  async suspend(graceMs = 0): Promise<CarriedMirror[]> {
    if (graceMs > 0) await this.#settle(graceMs);
    const mirrors = [...this.#mirrors.values()];
    this.#abort.abort();
    this.#abort = new AbortController();
    // Entries waiting for room in a socket are rejected (not sent); `sent` stays before them.
    for (const c of this.#clients.values()) c.close();
    this.#clients.clear();
    await Promise.all(mirrors.map((m) => m.done));
    return mirrors.map(carry);
  }

  /** Goes on with mirrors that suspend() stopped (here or in the previous process); logs no longer known are skipped. */
  restore(carried: readonly CarriedMirror[]): void {
    for (const c of carried) {
      let info: LogInfo;
      try {
        info = this.#source.info(c.rel);
      } catch {
        this.#logger.warn('journal mirror not resumed: its log is gone', { path: c.rel });
        continue;
      }
      this.#start(c, { driver: info.driver, domain: info.domain });
    }
  }

  #start(from: CarriedMirror, meta: { driver: string; domain: Domain | null }): void {
    if (this.#closed) return;
    const { rel } = from;
    const settings = this.#settings();
    const tail = entryTail(this.#source.root.absolute(rel), meta, settings);
    const existing = this.#mirrors.get(rel);
    if (existing !== undefined) {
      existing.tail = tail;
      return;
    }
    const m: Mirror = {
      rel,
      stats: { rel, entries: from.entries, partial: from.partial, gapBytes: from.gapBytes, position: from.anchor },
      sent: from.sent,
      anchor: from.anchor,
      tail,
      pending: [],
      pendingBytes: 0,
      settings,
      signal: this.#abort.signal,
      done: Promise.resolve(),
    };
    this.#mirrors.set(rel, m);
    m.done = this.#run(m)
      .catch((err: unknown) => {
        if (!(err instanceof Aborted)) this.#logger.error('journal mirror stopped', { path: rel, err });
      })
      .finally(() => {
        if (this.#mirrors.get(rel) === m) this.#mirrors.delete(rel);
      });
  }

  /**
   * Lets mirrors of closed logs finish for up to `graceMs`, then stops the rest and closes the
   * sockets. Lines not sent by then stay in the log files only.
   */
  async close(graceMs = 2000): Promise<void> {
    await this.#settle(graceMs);
    this.#closed = true;
    const all = Promise.all([...this.#mirrors.values()].map((m) => m.done));
    this.#abort.abort();
    for (const c of this.#clients.values()) c.close();
    this.#clients.clear();
    await all;
  }

  /** Waits up to `graceMs` for the mirrors running now to end (those of closed logs do, once caught up). */
  async #settle(graceMs: number): Promise<void> {
    const all = Promise.all([...this.#mirrors.values()].map((m) => m.done));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
  }

  async #run(m: Mirror): Promise<void> {
    const signal = m.signal;
    for (;;) {
      if (signal.aborted) throw new Aborted();
      const from = m.stats.position;
      let r: ReadOutcome;
      try {
        r = this.#source.read(m.rel, from, READ_BYTES);
      } catch (err) {
        // Removed while mirrored: nothing left to follow.
        if (err instanceof LwError && err.code === 'LW_ERR_LOG_NOT_FOUND') return;
        throw err;
      }
      const dataStart = r.position.offset - r.data.length;
      if (r.gap > 0) {
        // Of the bytes rotated away, those before `sent` were mirrored (by the previous process,
        // when reading resumed from its anchor).
        const lost = r.gap - Math.max(0, m.sent - from.offset);
        if (lost > 0) {
          await this.#flushPending(m, from);
          await this.#send(m, [K.MESSAGE, Buffer.from(`logwarden: ${lost} bytes of this log were rotated away before they could be mirrored`), ...withPriority(m.tail, WARNING), K.GAP, Buffer.from(String(lost))]);
          m.stats.gapBytes += lost;
        }
        this.#advance(m, dataStart, from);
      }
      // Bytes before `sent` went to journald already (a mirror resumed from its anchor).
      const skip = Math.min(Math.max(0, m.sent - dataStart), r.data.length);
      if (r.data.length > 0) {
        if (r.data.length > skip) {
          const data = Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength).subarray(skip);
          await this.#lines(m, data, dataStart + skip, from);
        }
        m.stats.position = r.position;
        continue;
      }
      m.stats.position = r.position;
      let open: boolean;
      try {
        open = this.#source.info(m.rel).open;
      } catch {
        open = false;
      }
      if (!open) {
        // The last line had no newline: it goes out flagged, like journald's _LINE_BREAK=eof.
        await this.#flushPending(m, r.position);
        return;
      }
      // Registered right after the empty read, in the same turn: no write can slip in between.
      await this.#source.waitForChange(m.rel, signal);
    }
  }

  /** Mirrors the lines of `data`, which starts at stream offset `base` and was read from `from`. */
  async #lines(m: Mirror, data: Buffer, base: number, from: WirePosition): Promise<void> {
    const max = m.settings.maxLine;
    let start = 0;
    for (;;) {
      const nl = data.indexOf(NL, start);
      const end = nl === -1 ? data.length : nl;
      // A line longer than maxLine goes out in maxLine pieces flagged partial; its last piece is
      // an ordinary line (journald does the same with LineMax=).
      while (m.pendingBytes + (end - start) > max) {
        const take = max - m.pendingBytes;
        m.pending.push(data.subarray(start, start + take));
        start += take;
        const piece = Buffer.concat(m.pending);
        m.pending = [];
        m.pendingBytes = 0;
        await this.#line(m, piece, true);
        this.#advance(m, base + start, from);
      }
      if (nl === -1) {
        if (end > start) {
          m.pending.push(data.subarray(start, end));
          m.pendingBytes += end - start;
        }
        return;
      }
      let line = data.subarray(start, nl);
      if (m.pendingBytes > 0) {
        m.pending.push(line);
        line = Buffer.concat(m.pending);
        m.pending = [];
        m.pendingBytes = 0;
      }
      await this.#line(m, line, false);
      start = nl + 1;
      this.#advance(m, base + start, from);
    }
  }

  /** Sends the pending part of a line, which ends where `end` (the next read position) starts. */
  async #flushPending(m: Mirror, end: WirePosition): Promise<void> {
    if (m.pendingBytes === 0) return;
    const piece = Buffer.concat(m.pending);
    m.pending = [];
    m.pendingBytes = 0;
    await this.#line(m, piece, true);
    this.#advance(m, end.offset, end);
  }

  /** Everything before stream offset `sent` is in journald; `from` was read at or before it. */
  #advance(m: Mirror, sent: number, from: WirePosition): void {
    if (sent <= m.sent) return;
    m.sent = sent;
    m.anchor = from;
  }

  async #line(m: Mirror, line: Buffer, partial: boolean): Promise<void> {
    // Serial consoles end lines with CR LF; journald does not show the CR either.
    const text = line.length > 0 && line[line.length - 1] === CR ? line.subarray(0, -1) : line;
    // journald stores no empty stdout records; neither does the mirror.
    if (text.length === 0) return;
    await this.#send(m, partial ? [K.MESSAGE, text, ...m.tail, K.PARTIAL, ONE] : [K.MESSAGE, text, ...m.tail]);
    if (partial) m.stats.partial++;
  }

  async #send(m: Mirror, pieces: Uint8Array[]): Promise<void> {
    const signal = m.signal;
    let delay = RETRY_MIN_MS;
    for (;;) {
      if (signal.aborted) throw new Aborted();
      try {
        await this.#client(m.settings.socketPath).sendPieces(pieces);
        m.stats.entries++;
        this.#entriesSent++;
        if (this.#outage) {
          this.#outage = false;
          this.#logger.info('journal mirror: journald reachable again', { socket: m.settings.socketPath });
        }
        return;
      } catch (err) {
        if (isAborted(signal)) throw new Aborted();
        if (err instanceof JournalError && err.code !== 'LW_ERR_JOURNAL_CONNECT' && err.code !== 'LW_ERR_JOURNAL_SEND' && err.code !== 'LW_ERR_JOURNAL_CLOSED') {
          // The entry itself is unacceptable (cannot happen for lines cut at maxLine): skip it.
          this.#logger.warn('journal mirror: entry refused', { path: m.rel, err });
          return;
        }
        this.#dropClient(m.settings.socketPath);
        if (!this.#outage) {
          this.#outage = true;
          this.#logger.warn('journal mirror: journald not reachable, retrying (the log file keeps every line)', { socket: m.settings.socketPath, err });
        }
        await sleep(delay, undefined, { signal }).catch(() => undefined);
        delay = Math.min(delay * 2, RETRY_MAX_MS);
      }
    }
  }

  #client(path: string): JournalClient {
    let c = this.#clients.get(path);
    if (c === undefined) {
      c = new JournalClient({ path });
      c.open();
      this.#clients.set(path, c);
    }
    return c;
  }

  #dropClient(path: string): void {
    const c = this.#clients.get(path);
    if (c === undefined) return;
    this.#clients.delete(path);
    c.close();
  }
}

function carry(m: Mirror): CarriedMirror {
  return { rel: m.rel, anchor: m.anchor, sent: m.sent, entries: m.stats.entries, partial: m.stats.partial, gapBytes: m.stats.gapBytes };
}

// A function, not a property read: the flag changes across the awaits of one loop.
function isAborted(signal: AbortSignal): boolean {
  return signal.aborted;
}

/** The fields after MESSAGE of every entry of one log. */
function entryTail(absPath: string, meta: { driver: string; domain: Domain | null }, s: MirrorSettings): Uint8Array[] {
  const identifier = s.identifier ?? (meta.domain === null ? meta.driver : `${meta.driver}-${meta.domain.name}`);
  const tail: Uint8Array[] = [
    K.PRIORITY, Buffer.from(String(s.priority)),
    K.SYSLOG_IDENTIFIER, Buffer.from(identifier),
    K.PATH, Buffer.from(absPath),
    K.DRIVER, Buffer.from(meta.driver),
  ];
  if (meta.domain !== null) tail.push(K.DOMAIN_NAME, Buffer.from(meta.domain.name), K.DOMAIN_UUID, Buffer.from(meta.domain.uuid));
  return tail;
}

/** The tail with another PRIORITY value (it is the tail's first pair). */
function withPriority(tail: Uint8Array[], priority: Buffer): Uint8Array[] {
  return [K.PRIORITY, priority, ...tail.slice(2)];
}
