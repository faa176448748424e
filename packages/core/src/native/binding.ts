// The one place that loads the compiled addon. Everything else imports ./index.js.
import { createRequire } from 'node:module';
import { SysError } from './errors.js';

const require = createRequire(import.meta.url);

export interface FdEvent {
  readable: boolean;
  writable: boolean;
  /** The peer hung up (EPOLLRDHUP); reported only while watching for readable. */
  disconnect: boolean;
  /** errno of a poll error (libuv reports EBADF for EPOLLERR and stops the poller), else 0. */
  error: number;
}

export interface FdPollerInstance {
  start(want: { readable?: boolean; writable?: boolean }): void;
  stop(): void;
  close(): void;
}

export type FdPollerClass = new (fd: number, onEvent: (ev: FdEvent) => void) => FdPollerInstance;

/**
 * A report of the JournalSender thread: `[done, sent, viaMemfd, waits, ...failures]`, counts since
 * the previous report; `done` entries finished in order, each failure is three numbers
 * (index among those `done`, errno, syscall: see JOURNAL_SENDER_SYSCALLS).
 */
export type JournalSenderReport = number[];

export interface JournalSenderInstance {
  /**
   * Copies `count` entries laid end to end in `data` (their sizes in `lengths`) onto the queue.
   * Entries that wait together share a datagram (journald reads an empty line as the end of an entry)
   * unless their length carries ALONE.
   */
  push(data: Uint8Array, lengths: Uint32Array, count: number): void;
  /** Copies one entry gathered from its pieces onto the queue; it travels alone. */
  pushPieces(pieces: readonly Uint8Array[]): void;
  /** What finished since the last report (also delivered to onReport), or null. */
  take(): JournalSenderReport | null;
  /** Stops and joins the thread; what it had not sent is dropped and never reported. Idempotent. */
  close(): void;
}

export interface JournalSenderClass {
  new (fd: number, path: string, onReport: (report: JournalSenderReport) => void): JournalSenderInstance;
  /** Or'ed into a length given to push(): that entry never shares a datagram with others. */
  readonly ALONE: number;
}

export interface RawConstants {
  SOCK_STREAM: number;
  SOCK_DGRAM: number;
  SOCK_SEQPACKET: number;
  SOL_SOCKET: number;
  SO_PASSCRED: number;
  SO_SNDBUF: number;
  SO_SNDBUFFORCE: number;
  SO_RCVBUF: number;
  SO_RCVBUFFORCE: number;
  SO_ERROR: number;
  FD_CLOEXEC: number;
  O_NONBLOCK: number;
  F_SEAL_SEAL: number;
  F_SEAL_SHRINK: number;
  F_SEAL_GROW: number;
  F_SEAL_WRITE: number;
  F_SEAL_FUTURE_WRITE: number;
  MAX_FDS: number;
  /** Length of the Int32Array recvmsg fills: nfds, hasCred, pid, uid, gid, trunc, ctrunc, fds... */
  RECV_META_LENGTH: number;
  IOV_MAX: number;
  RENAME_NOREPLACE: number;
  RENAME_EXCHANGE: number;
  /** Most messages one recvmmsg call takes. */
  MMSG_MAX: number;
  /** recvmmsg meta: values per message (length, nfds, hasCred, pid, uid, gid, trunc, ctrunc)... */
  MMSG_STRIDE: number;
  /** ...then from this index the fds, maxFds per message... */
  MMSG_FDS: number;
  /** ...in an Int32Array of this length. */
  MMSG_META_LENGTH: number;
  /** Address space recvmmsg reserves at most for the parts of long datagrams beyond their slots. */
  MMSG_TAIL_ARENA_MAX: number;
}

/** The addon's exports: positional arguments, booleans spelled out; src/native/index.ts adds defaults. */
export interface RawBinding {
  constants: RawConstants;
  setErrorClass: (ctor: typeof SysError) => void;
  close: (fd: number) => void;
  pipe: (cloexec: boolean, nonblock: boolean) => [number, number];
  setPipeSize: (fd: number, size: number) => number;
  getPipeSize: (fd: number) => number;
  read: (fd: number, buf: Uint8Array, offset?: number, length?: number) => number | null;
  write: (fd: number, buf: Uint8Array, offset?: number, length?: number) => number | null;
  splice: (fdIn: number, fdOut: number, length: number, offIn?: number, offOut?: number) => number | null;
  tee: (fdIn: number, fdOut: number, length: number) => number | null;
  pipeBytes: (fd: number) => number;
  /** jobs: 4 numbers each (fdIn, fdOut, length, offOut); results: 3 each (moved, -errno or 0, 1 at EOF). */
  spliceToFiles: (jobs: Float64Array, done: (results: Float64Array) => void) => void;
  fstat: (fd: number) => { dev: bigint; ino: bigint; size: number; mode: number };
  fcntlGetFd: (fd: number) => number;
  fcntlGetFl: (fd: number) => number;
  setCloexec: (fd: number, on: boolean) => void;
  setNonblock: (fd: number, on: boolean) => void;
  dup: (fd: number, cloexec: boolean) => number;
  memfdCreate: (name: string, cloexec: boolean, allowSealing: boolean) => number;
  addSeals: (fd: number, seals: number) => void;
  getSeals: (fd: number) => number;
  pidfdOpen: (pid: number) => number;
  pidfdGetfd: (pidfd: number, targetFd: number) => number;
  execve: (path: string, argv: string[], env: string[], blockSignals?: number[]) => never;
  blockedSignals: (signals: number[]) => boolean[];
  renameat2: (from: string, to: string, flags: number) => void;
  socket: (type: number, cloexec: boolean, nonblock: boolean) => number;
  socketpair: (type: number, cloexec: boolean, nonblock: boolean) => [number, number];
  bind: (fd: number, path: string) => void;
  connect: (fd: number, path: string) => void;
  listen: (fd: number, backlog: number) => void;
  accept: (fd: number) => number | null;
  sendmsg: (fd: number, data: Uint8Array | Uint8Array[], fds?: number[], path?: string) => number | null;
  recvmsg: (fd: number, buf: Uint8Array, maxFds: number, meta: Int32Array) => number | null;
  /** Message i lands in buf at i * slotSize; one longer than slotSize is copied to long[i]. */
  recvmmsg: (
    fd: number,
    buf: Uint8Array,
    slotSize: number,
    maxMessages: number,
    maxLen: number,
    maxFds: number,
    meta: Int32Array,
    long: (Buffer | undefined)[],
  ) => number | null;
  setsockoptInt: (fd: number, level: number, name: number, value: number) => void;
  getsockoptInt: (fd: number, level: number, name: number) => number;
  getPeerCred: (fd: number) => { pid: number; uid: number; gid: number };
  FdPoller: FdPollerClass;
  JournalSender: JournalSenderClass;
}

export const binding = require('../../../build/Release/logwarden_core.node') as RawBinding;

// Per environment: each worker thread that imports this module registers its own class.
binding.setErrorClass(SysError);
