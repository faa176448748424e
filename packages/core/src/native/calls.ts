// Typed wrappers over the addon calls: defaults, option objects, and the public shapes of
// docs/native-api.md. Hot-path functions are the addon's own functions (no wrapper cost).
import os from 'node:os';
import { binding } from './binding.js';
import { sysErrorFromErrno, type SysError } from './errors.js';
import type { FdEvent, FdPollerClass, FdPollerInstance, JournalSenderClass, JournalSenderInstance } from './binding.js';

export type { FdEvent, JournalSenderReport } from './binding.js';

const C = binding.constants;

export type SocketType = 'stream' | 'dgram' | 'seqpacket';

export interface Creds {
  pid: number;
  uid: number;
  gid: number;
}

export interface FdOptions {
  cloexec?: boolean;
  nonblock?: boolean;
}

export interface RecvResult {
  data: Buffer;
  fds: number[];
  creds: Creds | null;
  /** MSG_TRUNC: the datagram was longer than maxLen; the rest is lost. */
  truncated: boolean;
  /** MSG_CTRUNC: more fds arrived than maxFds allowed; the kernel closed the extra ones. */
  fdsTruncated: boolean;
}

/** Raw values of constants used by the layer and its tests. */
export const constants: Readonly<typeof C> = C;

export const SEAL = {
  SEAL: C.F_SEAL_SEAL,
  SHRINK: C.F_SEAL_SHRINK,
  GROW: C.F_SEAL_GROW,
  WRITE: C.F_SEAL_WRITE,
  FUTURE_WRITE: C.F_SEAL_FUTURE_WRITE,
} as const;

/** Kernel limit of fds in one message (SCM_MAX_FD). */
export const MAX_FDS = C.MAX_FDS;

// ---- fds and pipes ----

export const close: (fd: number) => void = binding.close;

export function pipe(opts?: FdOptions & { size?: number }): { readFd: number; writeFd: number } {
  const [readFd, writeFd] = binding.pipe(opts?.cloexec ?? true, opts?.nonblock ?? true);
  if (opts?.size !== undefined) {
    try {
      binding.setPipeSize(readFd, opts.size);
    } catch (err) {
      binding.close(readFd);
      binding.close(writeFd);
      throw err;
    }
  }
  return { readFd, writeFd };
}

/** F_SETPIPE_SZ; returns the size the kernel chose (rounded up to a power-of-two pages). */
export const setPipeSize: (fd: number, size: number) => number = binding.setPipeSize;
export const getPipeSize: (fd: number) => number = binding.getPipeSize;

/** Bytes read, 0 at EOF, null when nothing is available (EAGAIN). Reads into the caller's buffer. */
export const read: (fd: number, buf: Uint8Array, offset?: number, length?: number) => number | null =
  binding.read;
/** Bytes written (maybe fewer than asked), null when the fd is full (EAGAIN). */
export const write: (fd: number, buf: Uint8Array, offset?: number, length?: number) => number | null =
  binding.write;

/** SPLICE_F_NONBLOCK|SPLICE_F_MOVE. Bytes moved, 0 at EOF of fdIn, null on EAGAIN. */
export function splice(
  fdIn: number,
  fdOut: number,
  length: number,
  opts?: { offIn?: number; offOut?: number },
): number | null {
  return opts === undefined
    ? binding.splice(fdIn, fdOut, length)
    : binding.splice(fdIn, fdOut, length, opts.offIn, opts.offOut);
}

/** Duplicates up to length bytes from pipe fdIn to pipe fdOut without consuming them. */
export const tee: (fdIn: number, fdOut: number, length: number) => number | null = binding.tee;
/** Bytes a pipe holds unread (FIONREAD). */
export const pipeBytes: (fd: number) => number = binding.pipeBytes;

/** What spliceToFile() moved; `error` (a SysError) when the move stopped on one, maybe after some bytes. */
export interface SpliceResult {
  moved: number;
  error: Error | null;
  /** The pipe reported EOF (no writer left and empty). */
  eof: boolean;
}

/** One pipe -> file move of spliceToFiles(). */
export interface SpliceJob {
  fdIn: number;
  fdOut: number;
  length: number;
  offOut: number;
}

/**
 * Moves up to `length` bytes from pipe fdIn into file fdOut at offOut for each job, one after the
 * other on one of libuv's threadpool threads: the calling thread never waits on the disk, and many
 * small moves cost one thread hand-off. Each move stops early when its pipe runs dry or at EOF. The
 * fds must stay open until the promise settles (a reused number would be written).
 */
export function spliceToFiles(jobs: readonly SpliceJob[]): Promise<SpliceResult[]> {
  return new Promise((resolve, reject) => {
    const packed = new Float64Array(jobs.length * 4);
    jobs.forEach((j, i) => {
      packed.set([j.fdIn, j.fdOut, j.length, j.offOut], i * 4);
    });
    try {
      binding.spliceToFiles(packed, (r) => {
        resolve(jobs.map((_, i) => {
          const err = r[i * 3 + 1] ?? 0;
          return { moved: r[i * 3] ?? 0, error: err < 0 ? sysErrorFromErrno(-err, 'splice') : null, eof: r[i * 3 + 2] === 1 };
        }));
      });
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)));
    }
  });
}

/** spliceToFiles() for one move. */
export async function spliceToFile(fdIn: number, fdOut: number, length: number, offOut: number): Promise<SpliceResult> {
  const [result] = await spliceToFiles([{ fdIn, fdOut, length, offOut }]);
  if (result === undefined) throw new Error('spliceToFiles returned no result');
  return result;
}

export const fstat: (fd: number) => { dev: bigint; ino: bigint; size: number; mode: number } = binding.fstat;

export function getCloexec(fd: number): boolean {
  return (binding.fcntlGetFd(fd) & C.FD_CLOEXEC) !== 0;
}
export const setCloexec: (fd: number, on: boolean) => void = binding.setCloexec;
export function getNonblock(fd: number): boolean {
  return (binding.fcntlGetFl(fd) & C.O_NONBLOCK) !== 0;
}
export const setNonblock: (fd: number, on: boolean) => void = binding.setNonblock;
export const fcntlGetFd: (fd: number) => number = binding.fcntlGetFd;
export const fcntlGetFl: (fd: number) => number = binding.fcntlGetFl;

/** F_DUPFD_CLOEXEC (or F_DUPFD with cloexec: false). O_NONBLOCK is shared with the original. */
export function dup(fd: number, opts?: { cloexec?: boolean }): number {
  return binding.dup(fd, opts?.cloexec ?? true);
}

// ---- memfd and seals ----

export function memfdCreate(name: string, opts?: { cloexec?: boolean; allowSealing?: boolean }): number {
  return binding.memfdCreate(name, opts?.cloexec ?? true, opts?.allowSealing ?? true);
}
export const addSeals: (fd: number, seals: number) => void = binding.addSeals;
export const getSeals: (fd: number) => number = binding.getSeals;

// ---- processes ----

/** A pidfd (always CLOEXEC; opened with PIDFD_NONBLOCK). */
export const pidfdOpen: (pid: number) => number = binding.pidfdOpen;
/** Copies fd targetFd out of the pidfd's process (needs ptrace rights). The copy is CLOEXEC;
 *  its O_NONBLOCK is the shared file's, so it is left as the owner set it. */
export const pidfdGetfd: (pidfd: number, targetFd: number) => number = binding.pidfdGetfd;
function signalNumbers(signals: readonly NodeJS.Signals[]): number[] {
  return signals.map((name) => os.constants.signals[name]);
}

/**
 * Replaces the process image; only returns by throwing (the process then goes on unchanged).
 * `blockSignals` stay blocked across the exec, so one that arrives before the new image has its
 * handlers waits pending instead of killing it (Node itself keeps only SIGUSR1 blocked through its start-up).
 */
export function execve(path: string, argv: string[], env: string[], opts: { blockSignals?: readonly NodeJS.Signals[] } = {}): never {
  return binding.execve(path, argv, env, signalNumbers(opts.blockSignals ?? []));
}

/** Whether the calling thread blocks each of these signals. */
export function blockedSignals(signals: readonly NodeJS.Signals[]): boolean[] {
  return binding.blockedSignals(signalNumbers(signals));
}

// ---- files ----

/** renameat2 flags: fail with EEXIST instead of replacing; swap two existing names atomically. */
export const RENAME = { NOREPLACE: C.RENAME_NOREPLACE, EXCHANGE: C.RENAME_EXCHANGE } as const;

/**
 * rename(2) with flags (renameat2, paths relative to the working directory). EXCHANGE swaps two
 * existing files in one step, so a file can be replaced by a new version without a rename that
 * replaces (and frees) a file. File systems without support fail with EINVAL.
 */
export const renameat2: (from: string, to: string, flags: number) => void = binding.renameat2;

// ---- sockets (AF_UNIX) ----

function sockType(type: SocketType): number {
  switch (type) {
    case 'stream':
      return C.SOCK_STREAM;
    case 'dgram':
      return C.SOCK_DGRAM;
    case 'seqpacket':
      return C.SOCK_SEQPACKET;
    default:
      throw Object.assign(new TypeError(`unknown socket type ${String(type)}`), { code: 'ERR_INVALID_ARG_VALUE' });
  }
}

export function socket(type: SocketType, opts?: FdOptions): number {
  return binding.socket(sockType(type), opts?.cloexec ?? true, opts?.nonblock ?? true);
}

export function socketpair(type: SocketType, opts?: FdOptions): [number, number] {
  return binding.socketpair(sockType(type), opts?.cloexec ?? true, opts?.nonblock ?? true);
}

/** A leading '\0' in path means the abstract namespace. */
export const bind: (fd: number, path: string) => void = binding.bind;
/** Unix connect completes at once or throws (EAGAIN: the listener's backlog is full). */
export const connect: (fd: number, path: string) => void = binding.connect;
export const listen: (fd: number, backlog: number) => void = binding.listen;
/** accept4(CLOEXEC|NONBLOCK); null when no connection is pending. */
export const accept: (fd: number) => number | null = binding.accept;

/** One sendmsg gathering all pieces (iovec); fds ride along by SCM_RIGHTS. null on EAGAIN. */
export function sendmsg(
  fd: number,
  data: Uint8Array | Uint8Array[],
  opts?: { fds?: number[]; path?: string },
): number | null {
  return opts === undefined ? binding.sendmsg(fd, data) : binding.sendmsg(fd, data, opts.fds, opts.path);
}

// Per module instance, i.e. per environment (worker thread): reused by every recvmsg call.
const meta = new Int32Array(C.RECV_META_LENGTH);
let scratch = Buffer.allocUnsafeSlow(64 * 1024);
// Chunks at least this big are handed over instead of copied (the scratch is then replaced).
const HANDOVER_MIN = 16 * 1024;

/** MSG_CMSG_CLOEXEC. null on EAGAIN; data.length 0 on a stream (or seqpacket) means EOF. */
export function recvmsg(fd: number, maxLen: number, opts?: { maxFds?: number }): RecvResult | null {
  checkMaxLen(maxLen);
  if (scratch.length < maxLen) scratch = Buffer.allocUnsafeSlow(maxLen);
  const n = binding.recvmsg(fd, maxLen === scratch.length ? scratch : scratch.subarray(0, maxLen), opts?.maxFds ?? C.MAX_FDS, meta);
  if (n === null) return null;
  let data: Buffer;
  if (n >= HANDOVER_MIN && n * 2 >= scratch.length) {
    data = scratch.subarray(0, n);
    scratch = Buffer.allocUnsafeSlow(scratch.length);
  } else {
    data = Buffer.allocUnsafe(n);
    scratch.copy(data, 0, 0, n);
  }
  const nfds = meta[0] ?? 0;
  const fds: number[] = [];
  for (let i = 0; i < nfds; i++) fds.push(meta[7 + i] ?? -1);
  return {
    data,
    fds,
    creds: meta[1] === 1 ? { pid: meta[2] ?? 0, uid: (meta[3] ?? 0) >>> 0, gid: (meta[4] ?? 0) >>> 0 } : null,
    truncated: meta[5] === 1,
    fdsTruncated: meta[6] === 1,
  };
}

export interface RecvBatchOptions {
  /** At most this many fds per message (default MAX_FDS); the kernel closes the rest. */
  maxFds?: number;
  /** Messages per call, 1..MMSG_MAX (default 32). */
  maxMessages?: number;
}

/** Most messages one recvmmsg call takes. */
export const MMSG_MAX = C.MMSG_MAX;
const DEFAULT_BATCH = 32;
// Each message of a batch gets a slot of this size in one reused buffer and is copied out of it.
// A longer datagram spills into memory the addon reserves and arrives as a Buffer of its own.
const BATCH_SLOT = 16 * 1024;
const batchMeta = new Int32Array(C.MMSG_META_LENGTH);
const batchLong: (Buffer | undefined)[] = [];
let batchBuf = Buffer.allocUnsafeSlow(0);

/**
 * Most messages one recvmmsg call takes for datagrams up to maxLen: MMSG_MAX, or fewer for a
 * maxLen so large that reserving room for that many would pass MMSG_TAIL_ARENA_MAX (at least 1).
 */
export function recvmmsgLimit(maxLen: number): number {
  const tail = maxLen - BATCH_SLOT;
  return tail > 0 ? Math.min(C.MMSG_MAX, Math.max(1, Math.floor(C.MMSG_TAIL_ARENA_MAX / tail))) : C.MMSG_MAX;
}

function checkMaxLen(maxLen: number): void {
  if (!Number.isInteger(maxLen) || maxLen < 0 || maxLen > 0x7ffff000) {
    throw Object.assign(new RangeError('maxLen must be an integer in [0, 2147479552]'), { code: 'ERR_OUT_OF_RANGE' });
  }
}

/**
 * recvmmsg(MSG_DONTWAIT|MSG_CMSG_CLOEXEC): every datagram queued on fd, up to maxMessages, in one
 * call. Each message keeps exactly the fds and credentials that came with it. null on EAGAIN (no
 * message at all). At most min(maxMessages, recvmmsgLimit(maxLen)) messages; fewer means the
 * queue was empty when the call ended (or, rarely, that the kernel refused the address space for
 * long datagrams: the next call goes on).
 * For datagram sockets; on a seqpacket socket a batch after EOF repeats the empty message.
 */
export function recvmmsg(fd: number, maxLen: number, opts?: RecvBatchOptions): RecvResult[] | null {
  checkMaxLen(maxLen);
  const maxFds = opts?.maxFds ?? C.MAX_FDS;
  // A zero-byte slot is refused by the addon; a 1-byte one takes nothing for maxLen 0 anyway.
  const slot = Math.max(1, Math.min(maxLen, BATCH_SLOT));
  // The addon takes fewer messages than asked rather than reserve more than this for long ones:
  // ask for no more, so that a full batch still tells a short one apart.
  const asked = opts?.maxMessages ?? DEFAULT_BATCH;
  if (!Number.isInteger(asked) || asked < 1 || asked > C.MMSG_MAX) {
    throw Object.assign(new RangeError(`maxMessages must be an integer in [1, ${C.MMSG_MAX}]`), { code: 'ERR_OUT_OF_RANGE' });
  }
  const n = Math.min(asked, recvmmsgLimit(maxLen));
  if (batchBuf.length < slot * n) batchBuf = Buffer.allocUnsafeSlow(slot * n);
  const count = binding.recvmmsg(fd, batchBuf, slot, n, Math.max(maxLen, slot), maxFds, batchMeta, batchLong);
  if (count === null) return null;
  const out: RecvResult[] = [];
  const stride = C.MMSG_STRIDE;
  let hadLong = false;
  for (let i = 0; i < count; i++) {
    const m = i * stride;
    const len = Math.min(batchMeta[m] ?? 0, maxLen);
    let data: Buffer;
    if (len > slot) {
      data = batchLong[i] as Buffer;
      hadLong = true;
    } else {
      data = Buffer.allocUnsafe(len);
      batchBuf.copy(data, 0, i * slot, i * slot + len);
    }
    const nfds = batchMeta[m + 1] ?? 0;
    const fds: number[] = [];
    const base = C.MMSG_FDS + i * maxFds;
    for (let k = 0; k < nfds; k++) fds.push(batchMeta[base + k] ?? -1);
    out.push({
      data,
      fds,
      creds: batchMeta[m + 2] === 1 ? { pid: batchMeta[m + 3] ?? 0, uid: (batchMeta[m + 4] ?? 0) >>> 0, gid: (batchMeta[m + 5] ?? 0) >>> 0 } : null,
      truncated: batchMeta[m + 6] === 1 || (batchMeta[m] ?? 0) > maxLen,
      fdsTruncated: batchMeta[m + 7] === 1,
    });
  }
  if (hadLong) batchLong.length = 0;
  return out;
}

/** SO_PASSCRED: every message received carries the sender's pid/uid/gid. */
export function setPassCred(fd: number, on: boolean): void {
  binding.setsockoptInt(fd, C.SOL_SOCKET, C.SO_PASSCRED, on ? 1 : 0);
}

/** SO_PEERCRED: who created the connected peer (or socketpair). */
export const getPeerCred: (fd: number) => Creds = binding.getPeerCred;

/** SO_SNDBUF (or SO_SNDBUFFORCE, which ignores wmem_max and needs CAP_NET_ADMIN).
 *  Returns what getsockopt reports (the kernel doubles the request for its bookkeeping). */
export function setSendBufferSize(fd: number, size: number, opts?: { force?: boolean }): number {
  binding.setsockoptInt(fd, C.SOL_SOCKET, opts?.force === true ? C.SO_SNDBUFFORCE : C.SO_SNDBUF, size);
  return binding.getsockoptInt(fd, C.SOL_SOCKET, C.SO_SNDBUF);
}
export function getSendBufferSize(fd: number): number {
  return binding.getsockoptInt(fd, C.SOL_SOCKET, C.SO_SNDBUF);
}
export function setReceiveBufferSize(fd: number, size: number, opts?: { force?: boolean }): number {
  binding.setsockoptInt(fd, C.SOL_SOCKET, opts?.force === true ? C.SO_RCVBUFFORCE : C.SO_RCVBUF, size);
  return binding.getsockoptInt(fd, C.SOL_SOCKET, C.SO_RCVBUF);
}
export function getReceiveBufferSize(fd: number): number {
  return binding.getsockoptInt(fd, C.SOL_SOCKET, C.SO_RCVBUF);
}
/** SO_ERROR (reading it clears it): a pending asynchronous error's errno, or 0. */
export function getSocketError(fd: number): number {
  return binding.getsockoptInt(fd, C.SOL_SOCKET, C.SO_ERROR);
}

// ---- readiness ----

/** A libuv uv_poll_t on fd, level-triggered. The callback runs like any libuv callback (promise
 *  jobs run after it). One poller per fd per thread; close() it before closing the fd.
 *  libuv sets the fd O_NONBLOCK. */
export const FdPoller: FdPollerClass = binding.FdPoller;
export type FdPoller = FdPollerInstance;
export type FdPollerCallback = (ev: FdEvent) => void;

// ---- journald sender thread ----

/**
 * A native thread that sends already-encoded journald entries over a connected datagram socket,
 * in order, waiting in poll() when the socket is full; completions come back in batches through
 * `onReport` (see JournalSenderReport). Used by JournalClient (src/journal/native-client.ts).
 * The fd stays the caller's: close() the sender before closing it.
 */
export const JournalSender: JournalSenderClass = binding.JournalSender;
export type JournalSender = JournalSenderInstance;
/** The syscall a JournalSender failure names, by the number in its report. */
export const JOURNAL_SENDER_SYSCALLS = ['sendmsg', 'connect', 'memfd_create', 'write', 'fcntl'] as const;

/** The SysError of a failure in a JournalSender report (errno and syscall number). */
export function journalSenderError(errno: number, syscall: number): SysError {
  return sysErrorFromErrno(errno, JOURNAL_SENDER_SYSCALLS[syscall] ?? 'sendmsg');
}
