// JournalClient: journald's native protocol over an AF_UNIX datagram socket that the caller
// opens and closes explicitly, and whose fd it can see (a process manager keeps it open across its
// own fd-closing before exec). An entry with nothing ahead of it is encoded into one buffer and
// written at once. When journald's queue is full, one entry waits for room on the event loop; a
// backlog goes to the client's native sender thread (native/journal_sender.c), which waits on the
// socket the way a blocking C sender does, lets waiting entries share datagrams and settles them in
// batches. Big entries go by memfd; a full socket is waited on, never dropped.
import {
  FdPoller,
  JournalSender,
  close as closeFd,
  connect,
  journalSenderError,
  sendmsg,
  setSendBufferSize,
  socket,
  write,
  type FdEvent,
  type JournalSenderReport,
} from '../native/index.js';
import { JournalError } from './errors.js';
import type { EntryInput } from './fields.js';
import { encodeNativeEntryInto, encoded } from './native-encode-into.js';
import { ENTRY_FIELD_COUNT_MAX, encodeNativeEntry, encodeNativePieces } from './native-format.js';

export const JOURNAL_SOCKET_PATH = '/run/systemd/journal/socket';
const SNDBUF = 8 * 1024 * 1024;
// Entries waiting for the sender thread are staged in one buffer and handed over in one call:
// at the end of the current tick, or once this many are staged, so the thread starts sending
// while a burst is still being encoded.
const STAGE_BYTES = 256 * 1024;
const STAGE_ENTRIES = 64;
// Larger entries are gathered by the addon straight from their pieces (one copy, not two).
const GATHER_OVER = 64 * 1024;
// An entry with nothing ahead of it is encoded here for one write(); larger ones go by pieces.
const SCRATCH_BYTES = 64 * 1024;
// journald drops an entry of too many fields together with the rest of its datagram: an entry
// that might have that many (3 pieces per field at least) never shares one.
const SHARE_MAX_PIECES = 3 * ENTRY_FIELD_COUNT_MAX;

export interface JournalClientOptions {
  /** The native socket; default /run/systemd/journal/socket. */
  readonly path?: string;
  /** SO_SNDBUF to ask for (forced past wmem_max when root); default 8 MiB like sd-journal. */
  readonly sendBufferSize?: number;
  /**
   * Entries that wait together (journald's queue was full) travel in one datagram, which journald
   * reads as several entries; they then share its receive timestamp. Default true: journald spends
   * about half the CPU per entry that way (docs/benchmarks.md). false: one datagram per entry,
   * like sd_journal_send().
   */
  readonly shareDatagrams?: boolean;
}

export interface JournalClientStats {
  /** Entries the kernel accepted. */
  sent: number;
  /** Of those, entries that went as a sealed memfd (too big for a datagram). */
  viaMemfd: number;
  /** Times a send found the socket full and waited for room. */
  waits: number;
}

interface Lone {
  readonly data: Uint8Array | Uint8Array[];
  readonly size: number;
  /** Might have more fields than journald keeps: never shares a datagram. */
  readonly wide: boolean;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

export class JournalClient {
  readonly path: string;
  readonly stats: JournalClientStats = { sent: 0, viaMemfd: 0, waits: 0 };
  readonly #sndbuf: number;
  // Or'ed into every staged length: 0, or ALONE when entries must not share datagrams.
  readonly #alone: number;
  #fd = -1;
  #sender: JournalSender | null = null;
  // The one entry waiting for room on the event loop while the thread has nothing (see #enqueue).
  #lone: Lone | null = null;
  #poller: FdPoller | null = null;
  #armed = false;
  // Settlers of the entries handed to (or staged for) the sender thread, in order, from #head.
  #resolves: (() => void)[] = [];
  #rejects: ((err: Error) => void)[] = [];
  #head = 0;
  #stage: Buffer | null = null;
  #scratch: Buffer | null = null;
  readonly #stageLens = new Uint32Array(STAGE_ENTRIES);
  #stageCount = 0;
  #stageBytes = 0;
  #flushQueued = false;

  constructor(opts: JournalClientOptions = {}) {
    this.path = opts.path ?? JOURNAL_SOCKET_PATH;
    this.#sndbuf = opts.sendBufferSize ?? SNDBUF;
    this.#alone = opts.shareDatagrams === false ? JournalSender.ALONE : 0;
  }

  /** The socket's fd while open, -1 otherwise. It is CLOEXEC and non-blocking. */
  get fd(): number {
    return this.#fd;
  }

  get isOpen(): boolean {
    return this.#fd >= 0;
  }

  /** Entries accepted by send() that the kernel has not taken yet (or whose outcome is not reported yet). */
  get pendingCount(): number {
    return this.#resolves.length - this.#head + (this.#lone === null ? 0 : 1);
  }

  /** Creates the socket, connects it to journald and raises its send buffer. Idempotent. */
  open(): void {
    if (this.#fd >= 0) return;
    let fd: number;
    try {
      fd = socket('dgram');
    } catch (err) {
      throw new JournalError('LW_ERR_JOURNAL_CONNECT', `cannot create a datagram socket: ${String(err)}`, { cause: err });
    }
    try {
      connect(fd, this.path);
    } catch (err) {
      closeFd(fd);
      throw new JournalError('LW_ERR_JOURNAL_CONNECT', `cannot connect to ${this.path}: ${String(err)}`, { cause: err });
    }
    this.#raiseSendBuffer(fd);
    this.#fd = fd;
  }

  // Bigger datagrams mean fewer entries need the memfd path; as root the limit of wmem_max does not apply.
  #raiseSendBuffer(fd: number): void {
    if (process.getuid?.() === 0) {
      try {
        setSendBufferSize(fd, this.#sndbuf, { force: true });
        return;
      } catch {
        // No CAP_NET_ADMIN in this namespace: fall back to the capped request.
      }
    }
    try {
      setSendBufferSize(fd, this.#sndbuf);
    } catch {
      // The default buffer still works; large entries go by memfd.
    }
  }

  /**
   * Closes the socket. The sender thread is stopped and joined first: entries the kernel took
   * resolve, entries still waiting are rejected with LW_ERR_JOURNAL_CLOSED (they were not logged).
   */
  close(): void {
    if (this.#fd < 0) return;
    const sender = this.#sender;
    this.#sender = null;
    if (sender !== null) {
      sender.close();
      const last = sender.take();
      if (last !== null) this.#onReport(last);
    }
    this.#poller?.close();
    this.#poller = null;
    this.#armed = false;
    closeFd(this.#fd);
    this.#fd = -1;
    this.#stageCount = 0;
    this.#stageBytes = 0;
    const rejects = this.#rejects.slice(this.#head);
    this.#resolves = [];
    this.#rejects = [];
    this.#head = 0;
    if (this.#lone !== null) rejects.unshift(this.#lone.reject);
    this.#lone = null;
    for (const reject of rejects) reject(new JournalError('LW_ERR_JOURNAL_CLOSED', 'journal client closed before the entry was sent'));
  }

  /**
   * Sends one entry: `{ MESSAGE: 'x', PRIORITY: '6' }` (an array value repeats the field) or a list
   * of `{ name, value }`. Resolves once the kernel has accepted it for journald.
   */
  send(entry: EntryInput): Promise<void> {
    if (this.#fd < 0) return Promise.reject(closedError());
    // The usual entry is encoded once, straight where it goes: a scratch buffer for an immediate
    // write(), or the staging buffer of the sender thread.
    try {
      if (this.#resolves.length === this.#head && this.#lone === null) {
        const buf = (this.#scratch ??= Buffer.allocUnsafeSlow(SCRATCH_BYTES));
        const end = encodeNativeEntryInto(entry, buf, 0);
        if (end >= 0) return this.#sendNow(buf, end, encoded.fields > ENTRY_FIELD_COUNT_MAX);
      } else {
        this.#backlogLone();
        const stage = (this.#stage ??= Buffer.allocUnsafeSlow(STAGE_BYTES));
        let end = encodeNativeEntryInto(entry, stage, this.#stageBytes);
        if (end < 0 && this.#stageBytes > 0) {
          this.#flush();
          end = encodeNativeEntryInto(entry, stage, 0);
        }
        if (end >= 0) {
          const wide = encoded.fields > ENTRY_FIELD_COUNT_MAX;
          return new Promise<void>((resolve, reject) => {
            this.#resolves.push(resolve);
            this.#rejects.push(reject);
            this.#staged(end, wide);
          });
        }
      }
    } catch (err) {
      return Promise.reject(asError(err));
    }
    // Too big for those buffers: its pieces.
    let big: { pieces: Uint8Array[]; size: number };
    try {
      big = encodeNativeEntry(entry);
    } catch (err) {
      return Promise.reject(asError(err));
    }
    return this.#enqueue(big.pieces, big.size, big.pieces.length > SHARE_MAX_PIECES);
  }

  /**
   * Sends an entry given as alternating `NAME=` and value buffers (`[KEY_EQ, value, ...]`), gathered
   * by one sendmsg without copying them into one buffer first (unless it has to wait).
   */
  sendPieces(pairs: readonly Uint8Array[]): Promise<void> {
    let encoded: { pieces: Uint8Array[]; size: number };
    try {
      encoded = encodeNativePieces(pairs);
    } catch (err) {
      return Promise.reject(asError(err));
    }
    return this.#enqueue(encoded.pieces, encoded.size, encoded.pieces.length > SHARE_MAX_PIECES);
  }

  // An entry encoded into buf[0, len) with nothing ahead of it: straight to the kernel.
  #sendNow(buf: Buffer, len: number, wide: boolean): Promise<void> {
    try {
      if (write(this.#fd, buf, 0, len) !== null) {
        this.stats.sent++;
        return Promise.resolve();
      }
    } catch {
      // EMSGSIZE, a restarted journald: the sender thread knows what to do.
      const copy = Buffer.from(buf.subarray(0, len));
      return new Promise<void>((resolve, reject) => {
        this.#toThread(copy, len, wide, resolve, reject);
      });
    }
    return this.#waitLone(Buffer.from(buf.subarray(0, len)), len, wide);
  }

  #enqueue(data: Uint8Array[], size: number, wide: boolean): Promise<void> {
    if (this.#fd < 0) return Promise.reject(closedError());
    if (this.#resolves.length === this.#head && this.#lone === null) {
      try {
        if (sendmsg(this.#fd, data) !== null) {
          this.stats.sent++;
          return Promise.resolve();
        }
      } catch {
        // EMSGSIZE, a restarted journald, too many pieces: the sender thread knows what to do.
        return new Promise<void>((resolve, reject) => {
          this.#toThread(data, size, wide, resolve, reject);
        });
      }
      return this.#waitLone(data, size, wide);
    }
    this.#backlogLone();
    return new Promise<void>((resolve, reject) => {
      this.#toThread(data, size, wide, resolve, reject);
    });
  }

  // The socket is full. One entry at a time (a caller awaiting each send) waits on the event loop:
  // the thread would add a wakeup per entry (bench/journal-send.ts, awaited one by one).
  #waitLone(data: Uint8Array | Uint8Array[], size: number, wide: boolean): Promise<void> {
    this.stats.waits++;
    return new Promise<void>((resolve, reject) => {
      this.#lone = { data, size, wide, resolve, reject };
      this.#arm();
    });
  }

  // A second entry while one waits: from now on the thread carries the backlog, oldest first.
  #backlogLone(): void {
    const lone = this.#lone;
    if (lone === null) return;
    this.#lone = null;
    this.#disarm();
    this.#toThread(lone.data, lone.size, lone.wide, lone.resolve, lone.reject);
  }

  #arm(): void {
    if (this.#armed) return;
    this.#poller ??= new FdPoller(this.#fd, this.#onWritable);
    this.#poller.start({ writable: true });
    this.#armed = true;
  }

  #disarm(): void {
    if (!this.#armed) return;
    this.#poller?.stop();
    this.#armed = false;
  }

  // The socket has room, or an error (libuv then stops the poller; the thread finds out what it is).
  readonly #onWritable = (ev: FdEvent): void => {
    if (ev.error !== 0) this.#armed = false;
    const lone = this.#lone;
    if (lone === null) {
      this.#disarm();
      return;
    }
    let failed = ev.error !== 0;
    if (!failed) {
      try {
        if (sendmsg(this.#fd, lone.data) === null) return;
      } catch {
        failed = true;
      }
    }
    this.#lone = null;
    if (failed) {
      this.#disarm();
      this.#toThread(lone.data, lone.size, lone.wide, lone.resolve, lone.reject);
      return;
    }
    // Stays armed for the caller's next entry, which usually comes in this tick's promise jobs;
    // without one, an idle client must not hold the event loop open on a full socket.
    this.stats.sent++;
    lone.resolve();
    queueMicrotask(this.#disarmIfIdle);
  };

  readonly #disarmIfIdle = (): void => {
    if (this.#lone === null) this.#disarm();
  };

  // Stages an entry for the sender thread (bigger ones go straight to it), behind everything
  // already handed over.
  #toThread(data: Uint8Array | Uint8Array[], size: number, wide: boolean, resolve: () => void, reject: (err: Error) => void): void {
    const pieces = Array.isArray(data) ? data : [data];
    if (size > GATHER_OVER) {
      this.#flush();
      this.#resolves.push(resolve);
      this.#rejects.push(reject);
      this.#handOver(1, (sender) => {
        sender.pushPieces(pieces);
      });
      return;
    }
    if (this.#stageBytes + size > STAGE_BYTES) this.#flush();
    this.#resolves.push(resolve);
    this.#rejects.push(reject);
    const stage = (this.#stage ??= Buffer.allocUnsafeSlow(STAGE_BYTES));
    let off = this.#stageBytes;
    for (const p of pieces) {
      stage.set(p, off);
      off += p.byteLength;
    }
    this.#staged(off, wide);
  }

  // The entry just written into the staging buffer ends at `end`.
  #staged(end: number, wide: boolean): void {
    this.#stageLens[this.#stageCount++] = (end - this.#stageBytes) | (wide ? JournalSender.ALONE : this.#alone);
    this.#stageBytes = end;
    if (this.#stageCount === STAGE_ENTRIES) this.#flush();
    else if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(this.#flush);
    }
  }

  readonly #flush = (): void => {
    this.#flushQueued = false;
    const n = this.#stageCount;
    if (n === 0) return;
    this.#stageCount = 0;
    this.#stageBytes = 0;
    this.#handOver(n, (sender) => {
      sender.push(this.#stage as Buffer, this.#stageLens, n);
    });
  };

  // Gives the last n settlers' entries to the sender thread (started on first use); if that fails
  // they were never queued and are rejected here.
  #handOver(n: number, push: (sender: JournalSender) => void): void {
    try {
      push((this.#sender ??= new JournalSender(this.#fd, this.path, this.#onReport)));
    } catch (err) {
      const rejects = this.#rejects.splice(this.#rejects.length - n, n);
      this.#resolves.splice(this.#resolves.length - n, n);
      for (const reject of rejects) reject(new JournalError('LW_ERR_JOURNAL_SEND', `journal entry not sent: ${String(err)}`, { cause: err }));
    }
  }

  // [done, sent, viaMemfd, waits, (index, errno, syscall)...]: settles the next `done` entries in order.
  readonly #onReport = (report: JournalSenderReport): void => {
    const [done = 0, sent = 0, viaMemfd = 0, waits = 0] = report;
    this.stats.sent += sent;
    this.stats.viaMemfd += viaMemfd;
    this.stats.waits += waits;
    let f = 4;
    let failAt = report[f] ?? -1;
    const resolves = this.#resolves;
    const rejects = this.#rejects;
    let head = this.#head;
    for (let i = 0; i < done; i++, head++) {
      const resolve = resolves[head] as () => void;
      const reject = rejects[head] as (err: Error) => void;
      if (i === failAt) {
        const cause = journalSenderError(report[f + 1] ?? 0, report[f + 2] ?? 0);
        reject(new JournalError('LW_ERR_JOURNAL_SEND', `journal entry not sent: ${String(cause)}`, { cause }));
        f += 3;
        failAt = report[f] ?? -1;
      } else {
        resolve();
      }
    }
    if (head === resolves.length) {
      this.#resolves = [];
      this.#rejects = [];
      this.#head = 0;
    } else if (head > 4096 && head * 2 > resolves.length) {
      this.#resolves = resolves.slice(head);
      this.#rejects = rejects.slice(head);
      this.#head = 0;
    } else {
      this.#head = head;
    }
  };
}

function closedError(): JournalError {
  return new JournalError('LW_ERR_JOURNAL_CLOSED', 'journal client is not open');
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
