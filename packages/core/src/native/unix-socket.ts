// Small event/promise classes over AF_UNIX fds: readiness from FdPoller (libuv), never busy loops.
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import {
  FdPoller,
  accept,
  bind,
  close as closeFd,
  connect,
  fcntlGetFd,
  getPeerCred,
  getSocketError,
  listen,
  recvmmsg,
  recvmmsgLimit,
  recvmsg,
  sendmsg,
  setPassCred,
  socket,
} from './calls.js';
import type { Creds, FdEvent, RecvResult, SocketType } from './calls.js';
import { NativeError, NativeErrorCode, SysError, sysErrorFromErrno } from './errors.js';

export interface Message {
  data: Buffer;
  fds: number[];
  creds: Creds | null;
  /** Set when a datagram was longer than maxMessageSize (the rest was dropped by the kernel). */
  truncated?: boolean;
}

export interface SendOptions {
  /** Sent by SCM_RIGHTS with the message (stream: with its first byte). Still owned by the caller. */
  fds?: number[];
  /** Destination of a datagram on an unconnected dgram socket. */
  path?: string;
}

interface PendingSend {
  pieces: Uint8Array[];
  remaining: number;
  fds: number[] | undefined;
  path: string | undefined;
  resolve: () => void;
  reject: (err: Error) => void;
}

interface Waiter {
  resolve: (msg: Message) => void;
  reject: (err: Error) => void;
}

// Per wakeup, so that one busy peer cannot starve the rest of the event loop.
const MAX_READS_PER_WAKEUP = 64;
const STREAM_READ_SIZE = 64 * 1024;
const DEFAULT_MAX_MESSAGE = 256 * 1024;
// Errors after which a seqpacket connection is unusable (others, like EMSGSIZE, hit one message).
const { ECONNRESET } = os.constants.errno;
const FATAL_SEND = new Set(['EPIPE', 'ECONNRESET', 'ENOTCONN', 'EBADF', 'ENOTSOCK']);
// A dgram sent by path cannot wait for writability: the kernel polls only a connected peer's
// queue, so poll would report writable at once. Retry on a short timer instead.
const UNCONNECTED_RETRY_MS = 2;

function closedError(what: string): NativeError {
  return new NativeError(NativeErrorCode.SocketClosed, what);
}

function closeAll(fds: number[]): void {
  for (const fd of fds) {
    try {
      closeFd(fd);
    } catch {
      // the fd was never ours to keep; nothing more to do
    }
  }
}

/**
 * An AF_UNIX socket of any type that owns its fd. Events: 'message' (Message), 'end' (EOF on
 * stream/seqpacket; a reset by the peer reads as EOF too), 'drain' (the send queue emptied after
 * the kernel pushed back), 'error' (only with a listener: pending promises reject regardless;
 * the socket is then closed), 'close'. receive() callers get messages before 'message' listeners.
 */
export class UnixSocket extends EventEmitter {
  readonly fd: number;
  readonly type: SocketType;
  /** Receive buffer per datagram (dgram/seqpacket); longer datagrams arrive truncated. */
  maxMessageSize = DEFAULT_MAX_MESSAGE;
  /** At most this many fds are accepted per message; the kernel closes the rest. */
  maxFds = 253;

  #poller: FdPoller;
  #sends: PendingSend[] = [];
  #sendHead = 0;
  #pendingBytes = 0;
  #sendError: Error | null = null;
  #waitingWritable = false;
  #retryTimer: NodeJS.Timeout | null = null;
  #backpressured = false;
  #waiters: Waiter[] = [];
  // Datagrams a batch took from the kernel after reading was paused mid-batch, oldest first.
  #backlog: Message[] = [];
  #backlogScheduled = false;
  #flowing = false;
  #explicitlyPaused = false;
  #ended = false;
  #closed = false;
  #polled = { readable: false, writable: false };

  static connect(path: string, type: SocketType): UnixSocket {
    const fd = socket(type);
    try {
      connect(fd, path);
    } catch (err) {
      closeFd(fd);
      throw err;
    }
    return new UnixSocket(fd, type);
  }

  /** Takes ownership of fd (accepted, inherited, socketpair end, received...). */
  static fromFd(fd: number, type: SocketType): UnixSocket {
    return new UnixSocket(fd, type);
  }

  private constructor(fd: number, type: SocketType) {
    super();
    this.fd = fd;
    this.type = type;
    this.#poller = new FdPoller(fd, (ev) => {
      this.#onEvent(ev);
    });
    this.on('newListener', (event) => {
      if (event === 'message' && !this.#explicitlyPaused) {
        this.#flowing = true;
        this.#scheduleBacklog();
        this.#updatePoll();
      }
    });
  }

  /** Bytes queued by send() and not yet accepted by the kernel: the backpressure signal. */
  get pendingSendBytes(): number {
    return this.#pendingBytes;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Queues data (pieces gathered in one sendmsg); resolves once all of it left, in order.
   * Stream sends may go out in several parts; fds travel with the first byte.
   */
  send(data: Uint8Array | Uint8Array[], opts?: SendOptions): Promise<void> {
    if (this.#closed) return Promise.reject(closedError('send on a closed socket'));
    if (this.#sendError !== null) return Promise.reject(this.#sendError);
    const pieces = Array.isArray(data) ? data.slice() : [data];
    let bytes = 0;
    for (const piece of pieces) {
      if (!(piece instanceof Uint8Array)) {
        return Promise.reject(
          Object.assign(new TypeError('data must be a Uint8Array or an array of them'), {
            code: 'ERR_INVALID_ARG_TYPE',
          }),
        );
      }
      bytes += piece.length;
    }
    const fds = opts?.fds !== undefined && opts.fds.length > 0 ? opts.fds.slice() : undefined;
    try {
      // A bad fd would fail sendmsg with EBADF, which on a stream cannot be told from a dead socket.
      for (const fd of fds ?? []) fcntlGetFd(fd);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    if (this.type === 'stream' && bytes === 0 && fds !== undefined) {
      return Promise.reject(
        new NativeError(NativeErrorCode.InvalidArgument, 'fds on a stream need at least one byte of data'),
      );
    }
    return new Promise<void>((resolve, reject) => {
      this.#sends.push({ pieces, remaining: bytes, fds, path: opts?.path, resolve, reject });
      this.#pendingBytes += bytes;
      if (!this.#waitingWritable && this.#retryTimer === null) this.#flush();
    });
  }

  /** Starts 'message' events (also done by adding a 'message' listener, unless paused). */
  resume(): void {
    this.#explicitlyPaused = false;
    this.#flowing = true;
    this.#scheduleBacklog();
    this.#updatePoll();
  }

  /** Stops reading; the kernel buffers (and then pushes back on the sender). */
  pause(): void {
    this.#explicitlyPaused = true;
    this.#flowing = false;
    this.#updatePoll();
  }

  /** The next message (even while paused). Rejects with LW_ERR_NATIVE_SOCKET_CLOSED at EOF/close. */
  receive(): Promise<Message> {
    const held = this.#backlog.shift();
    if (held !== undefined) return Promise.resolve(held);
    if (this.#closed || this.#ended) return Promise.reject(closedError('receive on a closed or ended socket'));
    return new Promise<Message>((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      this.#updatePoll();
    });
  }

  setPassCred(on: boolean): void {
    setPassCred(this.fd, on);
  }

  peerCred(): Creds {
    return getPeerCred(this.fd);
  }

  /** Idempotent. Pending sends and receives reject; the fd is closed. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#poller.close();
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    closeFd(this.fd);
    for (const msg of this.#backlog) closeAll(msg.fds);
    this.#backlog = [];
    this.#failSends(closedError('socket closed before the data was sent'));
    this.#failWaiters(closedError('socket closed'));
    process.nextTick(() => this.emit('close'));
  }

  #onEvent(ev: FdEvent): void {
    if (ev.error !== 0) {
      // libuv stopped the poller; re-arm below once the error is consumed.
      this.#polled = { readable: false, writable: false };
      const soError = getSocketError(this.fd);
      // A connected peer that closed with our bytes unread leaves ECONNRESET here, yet what it sent
      // before closing is still queued: read on (recvmsg reaches the end), later sends fail EPIPE.
      const peerClosed = this.type !== 'dgram' && soError === ECONNRESET;
      if (soError !== 0 && !peerClosed) {
        this.#destroy(sysErrorFromErrno(soError, 'poll'));
        return;
      }
    }
    if (ev.readable || ev.disconnect || ev.error !== 0) this.#readSome();
    if (!this.#closed && (ev.writable || ev.error !== 0) && this.#waitingWritable) {
      this.#waitingWritable = false;
      this.#flush();
    }
    this.#updatePoll();
  }

  #wantsRead(): boolean {
    return !this.#closed && !this.#ended && (this.#flowing || this.#waiters.length > 0);
  }

  #scheduleBacklog(): void {
    if (this.#backlog.length === 0 || this.#backlogScheduled) return;
    this.#backlogScheduled = true;
    process.nextTick(() => {
      this.#backlogScheduled = false;
      this.#drainBacklog();
    });
  }

  /** Delivers held datagrams while someone wants them; true when none is left. */
  #drainBacklog(): boolean {
    while (this.#backlog.length > 0 && this.#wantsRead()) this.#deliver(this.#backlog.shift() as Message);
    return this.#backlog.length === 0;
  }

  // Datagrams: one recvmmsg per batch; a short batch means the queue is empty, so no further
  // call is spent on EAGAIN. Measured with packages/daemon/bench/journal-ingest.ts, where a
  // recvmsg per datagram was half of the receiver's time.
  #readBatches(): void {
    if (!this.#drainBacklog()) return;
    let budget = MAX_READS_PER_WAKEUP;
    const limit = recvmmsgLimit(this.maxMessageSize);
    while (budget > 0 && this.#wantsRead()) {
      // Not flowing: take only as many as there are receive() callers to hand them to.
      const want = Math.min(budget, limit, this.#flowing ? limit : this.#waiters.length);
      let batch: RecvResult[] | null;
      try {
        batch = recvmmsg(this.fd, this.maxMessageSize, { maxFds: this.maxFds, maxMessages: want });
      } catch (err) {
        this.#destroy(err as Error);
        return;
      }
      if (batch === null) return;
      for (const r of batch) {
        const msg: Message = { data: r.data, fds: r.fds, creds: r.creds };
        if (r.truncated) msg.truncated = true;
        if (this.#closed) closeAll(msg.fds);
        else if (this.#wantsRead()) this.#deliver(msg);
        else this.#backlog.push(msg);
      }
      if (batch.length < want) return;
      budget -= batch.length;
    }
  }

  #updatePoll(): void {
    if (this.#closed) return;
    const readable = this.#wantsRead();
    const writable = this.#waitingWritable;
    if (readable === this.#polled.readable && writable === this.#polled.writable) return;
    this.#polled = { readable, writable };
    this.#poller.start({ readable, writable });
  }

  #readSome(): void {
    if (this.type === 'dgram') {
      this.#readBatches();
      return;
    }
    const maxLen = this.type === 'stream' ? STREAM_READ_SIZE : this.maxMessageSize;
    for (let i = 0; i < MAX_READS_PER_WAKEUP && this.#wantsRead(); i++) {
      let r;
      try {
        r = recvmsg(this.fd, maxLen, { maxFds: this.maxFds });
      } catch (err) {
        if (err instanceof SysError && err.code === 'ECONNRESET') {
          this.#end();
        } else {
          this.#destroy(err as Error);
        }
        return;
      }
      if (r === null) return;
      if (r.data.length === 0 && r.fds.length === 0) {
        this.#end();
        return;
      }
      const msg: Message = { data: r.data, fds: r.fds, creds: r.creds };
      if (r.truncated) msg.truncated = true;
      this.#deliver(msg);
    }
  }

  #deliver(msg: Message): void {
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      waiter.resolve(msg);
    } else if (!this.emit('message', msg)) {
      // Nobody took it: the fds would leak.
      closeAll(msg.fds);
    }
  }

  #end(): void {
    this.#ended = true;
    this.#failWaiters(closedError('end of stream'));
    this.#updatePoll();
    this.emit('end');
  }

  #destroy(err: Error): void {
    this.#sendError = err;
    this.#failSends(err);
    this.#failWaiters(err);
    if (this.listenerCount('error') > 0) this.emit('error', err);
    this.close();
  }

  #flush(): void {
    while (this.#sendHead < this.#sends.length && !this.#closed) {
      const entry = this.#sends[this.#sendHead];
      if (entry === undefined) break;
      let n: number | null;
      try {
        const data = entry.pieces.length === 1 ? (entry.pieces[0] ?? entry.pieces) : entry.pieces;
        n = sendmsg(this.fd, data, { fds: entry.fds, path: entry.path });
      } catch (err) {
        const fatal =
          err instanceof SysError && (this.type === 'stream' || (this.type === 'seqpacket' && FATAL_SEND.has(err.code)));
        if (fatal) {
          this.#sendError = err;
          this.#failSends(err);
          return;
        }
        this.#shiftSend();
        entry.reject(err as Error);
        continue;
      }
      if (n === null) {
        this.#backpressured = true;
        if (entry.path !== undefined) {
          this.#retryTimer = setTimeout(() => {
            this.#retryTimer = null;
            this.#flush();
          }, UNCONNECTED_RETRY_MS);
        } else {
          this.#waitingWritable = true;
          this.#updatePoll();
        }
        return;
      }
      if (n >= entry.remaining) {
        this.#shiftSend();
        entry.resolve();
        continue;
      }
      // Partial stream write: drop what went out; the fds went with the first byte.
      this.#pendingBytes -= n;
      entry.remaining -= n;
      entry.fds = undefined;
      let skip = n;
      while (skip > 0) {
        const first = entry.pieces[0];
        if (first === undefined) break;
        if (first.length <= skip) {
          skip -= first.length;
          entry.pieces.shift();
        } else {
          entry.pieces[0] = first.subarray(skip);
          skip = 0;
        }
      }
    }
    if (this.#waitingWritable) {
      this.#waitingWritable = false;
      this.#updatePoll();
    }
    this.#sends = [];
    this.#sendHead = 0;
    if (this.#backpressured && !this.#closed) {
      this.#backpressured = false;
      this.emit('drain');
    }
  }

  #shiftSend(): void {
    const entry = this.#sends[this.#sendHead];
    if (entry === undefined) return;
    this.#pendingBytes -= entry.remaining;
    this.#sendHead++;
    // Compact now and then so the queue array does not grow without bound.
    if (this.#sendHead > 1024 && this.#sendHead * 2 > this.#sends.length) {
      this.#sends = this.#sends.slice(this.#sendHead);
      this.#sendHead = 0;
    }
  }

  #failSends(err: Error): void {
    const sends = this.#sends.slice(this.#sendHead);
    this.#sends = [];
    this.#sendHead = 0;
    this.#pendingBytes = 0;
    this.#waitingWritable = false;
    for (const s of sends) s.reject(err);
  }

  #failWaiters(err: Error): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.reject(err);
  }
}

const ACCEPT_PAUSE_MS = 100;
// Out of fds or memory: accepting again at once would spin on the same error.
const ACCEPT_RESOURCE_ERRORS = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM']);
// The connection died while queued; the next one may be fine.
const ACCEPT_TRANSIENT_ERRORS = new Set(['ECONNABORTED', 'EPROTO', 'EPERM']);

/**
 * A listening stream or seqpacket socket. Accepts while a 'connection' listener is attached;
 * each connection is a UnixSocket of the same type. Events: 'connection', 'error' (only with a
 * listener; out of fds it retries after a pause), 'close'.
 */
export class UnixServer extends EventEmitter {
  readonly fd: number;
  readonly type: 'stream' | 'seqpacket';
  /** The filesystem path listen() created (unlinked by close()); null for abstract or fromFd. */
  readonly path: string | null;

  #poller: FdPoller;
  #polling = false;
  #closed = false;
  #pauseTimer: NodeJS.Timeout | null = null;

  /** Binds, applies mode (before listen(), so no connection is accepted with looser rights), listens. */
  static listen(
    path: string,
    type: 'stream' | 'seqpacket',
    opts?: { mode?: number; backlog?: number },
  ): UnixServer {
    const fd = socket(type);
    const abstract = path.startsWith('\0');
    let bound = false;
    try {
      bind(fd, path);
      bound = true;
      if (opts?.mode !== undefined && !abstract) fs.chmodSync(path, opts.mode);
      listen(fd, opts?.backlog ?? 128);
    } catch (err) {
      closeFd(fd);
      if (bound && !abstract) fs.rmSync(path, { force: true });
      throw err;
    }
    return new UnixServer(fd, type, abstract ? null : path);
  }

  /** Takes ownership of an already listening fd (socket activation, re-exec). */
  static fromFd(fd: number, type: 'stream' | 'seqpacket'): UnixServer {
    return new UnixServer(fd, type, null);
  }

  private constructor(fd: number, type: 'stream' | 'seqpacket', path: string | null) {
    super();
    this.fd = fd;
    this.type = type;
    this.path = path;
    this.#poller = new FdPoller(fd, (ev) => {
      this.#onEvent(ev);
    });
    this.on('newListener', (event) => {
      if (event === 'connection') {
        process.nextTick(() => {
          this.#updatePoll();
        });
      }
    });
    this.on('removeListener', (event) => {
      if (event === 'connection') this.#updatePoll();
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Idempotent: stops accepting, closes the fd and removes the path listen() created. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#pauseTimer !== null) clearTimeout(this.#pauseTimer);
    this.#pauseTimer = null;
    this.#poller.close();
    closeFd(this.fd);
    if (this.path !== null) fs.rmSync(this.path, { force: true });
    process.nextTick(() => this.emit('close'));
  }

  #updatePoll(): void {
    if (this.#closed) return;
    const want = this.#pauseTimer === null && this.listenerCount('connection') > 0;
    if (want === this.#polling) return;
    this.#polling = want;
    this.#poller.start({ readable: want });
  }

  #onEvent(ev: FdEvent): void {
    if (ev.error !== 0) this.#polling = false;
    for (let i = 0; i < MAX_READS_PER_WAKEUP && !this.#closed && this.listenerCount('connection') > 0; i++) {
      let fd: number | null;
      try {
        fd = accept(this.fd);
      } catch (err) {
        if (err instanceof SysError && ACCEPT_TRANSIENT_ERRORS.has(err.code)) continue;
        if (err instanceof SysError && ACCEPT_RESOURCE_ERRORS.has(err.code)) this.#pauseAccepting();
        if (this.listenerCount('error') > 0) this.emit('error', err);
        break;
      }
      if (fd === null) break;
      this.emit('connection', UnixSocket.fromFd(fd, this.type));
    }
    this.#updatePoll();
  }

  #pauseAccepting(): void {
    this.#poller.stop();
    this.#polling = false;
    this.#pauseTimer = setTimeout(() => {
      this.#pauseTimer = null;
      this.#updatePoll();
    }, ACCEPT_PAUSE_MS);
  }
}
