// JournalClient: journald's native protocol over an AF_UNIX datagram socket that the caller
// opens and closes explicitly, and whose fd it can see (a process manager keeps it open across its
// own fd-closing before exec). Entries are gathered from their pieces by one sendmsg; an entry too
// big for a datagram travels as a sealed memfd; a full socket is waited on, never dropped.
import { writevSync } from 'node:fs';
import {
  FdPoller,
  SEAL,
  addSeals,
  close as closeFd,
  connect,
  memfdCreate,
  sendmsg,
  setSendBufferSize,
  socket,
} from '../native/index.js';
import { JournalError } from './errors.js';
import type { EntryInput } from './fields.js';
import { encodeNativeEntry, encodeNativePieces } from './native-format.js';

export const JOURNAL_SOCKET_PATH = '/run/systemd/journal/socket';
const SNDBUF = 8 * 1024 * 1024;
const ALL_SEALS = SEAL.SEAL | SEAL.SHRINK | SEAL.GROW | SEAL.WRITE;

export interface JournalClientOptions {
  /** The native socket; default /run/systemd/journal/socket. */
  readonly path?: string;
  /** SO_SNDBUF to ask for (forced past wmem_max when root); default 8 MiB like sd-journal. */
  readonly sendBufferSize?: number;
}

interface Pending {
  readonly pieces: Uint8Array[];
  memfd: number;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

export interface JournalClientStats {
  /** Entries the kernel accepted. */
  sent: number;
  /** Of those, entries that went as a sealed memfd (too big for a datagram). */
  viaMemfd: number;
  /** Times a send found the socket full and waited for room. */
  waits: number;
}

export class JournalClient {
  readonly path: string;
  readonly stats: JournalClientStats = { sent: 0, viaMemfd: 0, waits: 0 };
  readonly #sndbuf: number;
  #fd = -1;
  #poller: FdPoller | null = null;
  #queue: Pending[] = [];
  #polling = false;

  constructor(opts: JournalClientOptions = {}) {
    this.path = opts.path ?? JOURNAL_SOCKET_PATH;
    this.#sndbuf = opts.sendBufferSize ?? SNDBUF;
  }

  /** The socket's fd while open, -1 otherwise. It is CLOEXEC and non-blocking. */
  get fd(): number {
    return this.#fd;
  }

  get isOpen(): boolean {
    return this.#fd >= 0;
  }

  /** Entries accepted by send() that wait for room in the socket. */
  get pendingCount(): number {
    return this.#queue.length;
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

  /** Closes the socket; entries still waiting are rejected with LW_ERR_JOURNAL_CLOSED (they were not logged). */
  close(): void {
    if (this.#fd < 0) return;
    this.#poller?.close();
    this.#poller = null;
    this.#polling = false;
    closeFd(this.#fd);
    this.#fd = -1;
    const queue = this.#queue;
    this.#queue = [];
    for (const p of queue) {
      if (p.memfd >= 0) closeFd(p.memfd);
      p.reject(new JournalError('LW_ERR_JOURNAL_CLOSED', 'journal client closed before the entry was sent'));
    }
  }

  /**
   * Sends one entry: `{ MESSAGE: 'x', PRIORITY: '6' }` (an array value repeats the field) or a list
   * of `{ name, value }`. Resolves once the kernel has accepted it for journald.
   */
  send(entry: EntryInput): Promise<void> {
    let pieces: Uint8Array[];
    try {
      pieces = encodeNativeEntry(entry).pieces;
    } catch (err) {
      return Promise.reject(asError(err));
    }
    return this.#enqueue(pieces);
  }

  /**
   * Sends an entry given as alternating `NAME=` and value buffers (`[KEY_EQ, value, ...]`), gathered
   * by one sendmsg without copying them into one buffer first.
   */
  sendPieces(pairs: readonly Uint8Array[]): Promise<void> {
    let pieces: Uint8Array[];
    try {
      pieces = encodeNativePieces(pairs).pieces;
    } catch (err) {
      return Promise.reject(asError(err));
    }
    return this.#enqueue(pieces);
  }

  #enqueue(pieces: Uint8Array[]): Promise<void> {
    if (this.#fd < 0) return Promise.reject(new JournalError('LW_ERR_JOURNAL_CLOSED', 'journal client is not open'));
    if (this.#queue.length === 0) {
      // Fast path: nothing queued, try right away.
      const item: Pending = { pieces, memfd: -1, resolve: noop, reject: noop };
      try {
        if (this.#attempt(item)) return Promise.resolve();
      } catch (err) {
        return Promise.reject(asError(err));
      }
      return new Promise<void>((resolve, reject) => {
        this.#queue.push({ pieces, memfd: item.memfd, resolve, reject });
        this.#waitWritable();
      });
    }
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ pieces, memfd: -1, resolve, reject });
    });
  }

  // true: sent; false: the socket is full (EAGAIN). Throws a JournalError when the entry cannot be sent.
  #attempt(item: Pending): boolean {
    try {
      return this.#sendOnce(item);
    } catch (err) {
      const code = errCode(err);
      // journald restarted: the connected peer is gone, a new socket sits at the path.
      if (code === 'ECONNREFUSED' || code === 'ENOTCONN') {
        try {
          connect(this.#fd, this.path);
          return this.#sendOnce(item);
        } catch (again) {
          throw this.#sendError(item, again);
        }
      }
      throw this.#sendError(item, err);
    }
  }

  #sendError(item: Pending, err: unknown): JournalError {
    if (item.memfd >= 0) {
      closeFd(item.memfd);
      item.memfd = -1;
    }
    if (err instanceof JournalError) return err;
    return new JournalError('LW_ERR_JOURNAL_SEND', `journal entry not sent: ${String(err)}`, { cause: err });
  }

  #sendOnce(item: Pending): boolean {
    if (item.memfd < 0) {
      try {
        if (sendmsg(this.#fd, item.pieces) === null) return false;
        this.stats.sent++;
        return true;
      } catch (err) {
        // EMSGSIZE: over the send buffer; ENOBUFS: the kernel cannot allocate a datagram this big
        // (measured here: > 4 MiB fails even with a 16 MiB buffer). sd-journal falls back on both too.
        const code = errCode(err);
        if (code !== 'EMSGSIZE' && code !== 'ENOBUFS') throw err;
        item.memfd = this.#sealedCopy(item.pieces);
      }
    }
    // Empty payload + one sealed memfd: journald maps it read-only.
    if (sendmsg(this.#fd, [], { fds: [item.memfd] }) === null) return false;
    closeFd(item.memfd);
    item.memfd = -1;
    this.stats.sent++;
    this.stats.viaMemfd++;
    return true;
  }

  #sealedCopy(pieces: Uint8Array[]): number {
    const fd = memfdCreate('journal-entry');
    try {
      let left = pieces.reduce((n, p) => n + p.byteLength, 0);
      let rest = pieces;
      while (left > 0) {
        const n = writevSync(fd, rest);
        left -= n;
        if (left > 0) rest = skip(rest, n);
      }
      addSeals(fd, ALL_SEALS);
      return fd;
    } catch (err) {
      closeFd(fd);
      throw err;
    }
  }

  #waitWritable(): void {
    this.stats.waits++;
    if (this.#polling) return;
    this.#poller ??= new FdPoller(this.#fd, (ev) => {
      // libuv stops a poller that reports an error; the next sendmsg says what it is.
      if (ev.error !== 0) this.#polling = false;
      this.#drain();
      if (this.#queue.length > 0 && !this.#polling) this.#waitWritable();
    });
    this.#poller.start({ writable: true });
    this.#polling = true;
  }

  #drain(): void {
    while (this.#queue.length > 0) {
      const item = this.#queue[0] as Pending;
      let sent: boolean;
      try {
        sent = this.#attempt(item);
      } catch (err) {
        this.#queue.shift();
        item.reject(err as Error);
        continue;
      }
      if (!sent) return;
      this.#queue.shift();
      item.resolve();
    }
    this.#poller?.stop();
    this.#polling = false;
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function noop(): void {
  // The fast path settles through its own return value.
}

// The pieces after the first n bytes (a short writev).
function skip(pieces: Uint8Array[], n: number): Uint8Array[] {
  let i = 0;
  let left = n;
  while (i < pieces.length && left >= (pieces[i] as Uint8Array).byteLength) {
    left -= (pieces[i] as Uint8Array).byteLength;
    i++;
  }
  const out = pieces.slice(i);
  if (left > 0 && out.length > 0) out[0] = (out[0] as Uint8Array).subarray(left);
  return out;
}
