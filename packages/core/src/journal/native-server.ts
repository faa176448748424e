// JournalNativeServer: a socket speaking journald's native protocol, for logwarden to stand in
// for journald (or sit in front of it). It takes what journald takes: datagrams with entries, or
// an empty datagram with one sealed memfd; and adds the trusted fields from SCM_CREDENTIALS.
import { EventEmitter } from 'node:events';
import { chmodSync, readSync, rmSync } from 'node:fs';
import {
  SEAL,
  UnixSocket,
  bind,
  close as closeFd,
  fstat,
  getSeals,
  setPassCred,
  setReceiveBufferSize,
  socket,
  type Creds,
  type Message,
} from '../native/index.js';
import { JournalError } from './errors.js';
import type { JournalField } from './fields.js';
import { removeStaleSocket } from './socket-path.js';
import { DATA_SIZE_MAX, ENTRY_SIZE_MAX, parseNativeMessage, type NativeLimits, type NativeProblem } from './native-format.js';

const ALL_SEALS = SEAL.SEAL | SEAL.SHRINK | SEAL.GROW | SEAL.WRITE;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
// sd-journal forces an 8 MiB SO_SNDBUF, which the kernel doubles: datagrams up to 16 MiB exist.
const DEFAULT_MAX_DATAGRAM = 16 * 1024 * 1024;

export interface NativeServerOptions extends NativeLimits {
  /** File mode of the socket; journald uses 0666. */
  readonly mode?: number;
  /** Longest datagram read whole; a longer one is dropped (counted as 'truncated'). Default 16 MiB. */
  readonly maxDatagram?: number;
  /** Largest memfd accepted; default journald's ENTRY_SIZE_MAX. Its content is read into memory. */
  readonly maxMemfdSize?: number;
  /** SO_RCVBUF; default 8 MiB like journald. */
  readonly receiveBufferSize?: number;
}

export interface ReceivedEntry {
  /** The client's fields, then `_TRANSPORT=journal` and, when known, `_PID`, `_UID`, `_GID`. */
  readonly fields: JournalField[];
  readonly creds: Creds | null;
  /** How the entry came: in the datagram itself or in a memfd passed with it. */
  readonly via: 'datagram' | 'memfd';
}

/** Why a datagram (or part of it) was not logged. */
export type ServerProblem =
  | NativeProblem
  | 'truncated' // datagram longer than maxDatagram
  | 'fds-with-data' // journald ignores a datagram with both payload and fds
  | 'too-many-fds'
  | 'unsealed-fd' // only a memfd sealed SEAL|SHRINK|GROW|WRITE is taken
  | 'not-regular-fd'
  | 'memfd-too-big'
  | 'memfd-read-failed';

const field = (name: string, value: string): JournalField => ({ name, value: Buffer.from(value) });
// Fields every entry gets are built once (per sender for the trusted ones) and shared by the
// entries: field objects and their values are read-only to listeners.
const TRANSPORT = field('_TRANSPORT', 'journal');

interface TrustedFields {
  readonly creds: Creds;
  readonly pid: JournalField;
  readonly uid: JournalField;
  readonly gid: JournalField;
}

/**
 * Events: 'entry' (ReceivedEntry), 'problem' (ServerProblem, creds), 'error' (socket failure).
 * `problems` counts every problem since start.
 */
export class JournalNativeServer extends EventEmitter {
  readonly path: string | null;
  readonly problems = new Map<ServerProblem, number>();
  readonly #sock: UnixSocket;
  readonly #limits: NativeLimits;
  readonly #maxMemfd: number;
  #trusted: TrustedFields | null = null;
  #closed = false;

  /** Binds a datagram socket at path (replacing a stale socket file there) and starts receiving. */
  static listen(path: string, opts: NativeServerOptions = {}): JournalNativeServer {
    const fd = socket('dgram');
    try {
      removeStaleSocket(path);
      bind(fd, path);
      chmodSync(path, opts.mode ?? 0o666);
      return new JournalNativeServer(fd, path, opts);
    } catch (err) {
      closeFd(fd);
      throw new JournalError('LW_ERR_JOURNAL_CONNECT', `cannot listen on ${path}: ${String(err)}`, { cause: err });
    }
  }

  /** Takes over a bound datagram socket (socket activation, re-exec). */
  static fromFd(fd: number, opts: NativeServerOptions = {}): JournalNativeServer {
    return new JournalNativeServer(fd, null, opts);
  }

  private constructor(fd: number, path: string | null, opts: NativeServerOptions) {
    super();
    this.path = path;
    this.#limits = {
      dataSizeMax: opts.dataSizeMax ?? DATA_SIZE_MAX,
      entrySizeMax: opts.entrySizeMax ?? ENTRY_SIZE_MAX,
      ...(opts.fieldCountMax === undefined ? {} : { fieldCountMax: opts.fieldCountMax }),
    };
    this.#maxMemfd = opts.maxMemfdSize ?? opts.entrySizeMax ?? ENTRY_SIZE_MAX;
    setPassCred(fd, true);
    try {
      setReceiveBufferSize(fd, opts.receiveBufferSize ?? 8 * 1024 * 1024, { force: process.getuid?.() === 0 });
    } catch {
      // Not privileged in this namespace: the capped default still works, only bursts suffer.
    }
    this.#sock = UnixSocket.fromFd(fd, 'dgram');
    this.#sock.maxMessageSize = opts.maxDatagram ?? DEFAULT_MAX_DATAGRAM;
    // One fd is all the protocol allows; a few more let us see (and close) the excess.
    this.#sock.maxFds = 8;
    this.#sock.on('message', (msg: Message) => {
      this.#onMessage(msg);
    });
    this.#sock.on('error', (err: Error) => this.emit('error', err));
  }

  get fd(): number {
    return this.#sock.fd;
  }

  /** Stops receiving, closes the socket and removes the path listen() bound. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#sock.close();
    if (this.path !== null) rmSync(this.path, { force: true });
  }

  #problem(p: ServerProblem, creds: Creds | null): void {
    this.problems.set(p, (this.problems.get(p) ?? 0) + 1);
    this.emit('problem', p, creds);
  }

  #onMessage(msg: Message): void {
    const { data, fds, creds } = msg;
    if (msg.truncated === true) {
      closeFds(fds);
      this.#problem('truncated', creds);
      return;
    }
    if (fds.length === 0) {
      if (data.length > 0) this.#parse(data, creds, 'datagram');
      return;
    }
    if (data.length > 0 || fds.length > 1) {
      closeFds(fds);
      this.#problem(data.length > 0 ? 'fds-with-data' : 'too-many-fds', creds);
      return;
    }
    const fd = fds[0] as number;
    try {
      const content = this.#readMemfd(fd, creds);
      if (content !== null && content.length > 0) this.#parse(content, creds, 'memfd');
    } finally {
      closeFd(fd);
    }
  }

  #readMemfd(fd: number, creds: Creds | null): Buffer | null {
    let seals: number;
    try {
      seals = getSeals(fd);
    } catch {
      seals = 0;
    }
    if ((seals & ALL_SEALS) !== ALL_SEALS) {
      this.#problem('unsealed-fd', creds);
      return null;
    }
    const st = fstat(fd);
    if ((st.mode & S_IFMT) !== S_IFREG) {
      this.#problem('not-regular-fd', creds);
      return null;
    }
    if (st.size > this.#maxMemfd) {
      this.#problem('memfd-too-big', creds);
      return null;
    }
    // Sealed: the size cannot change under us, so this allocation is exactly what we checked.
    const buf = Buffer.allocUnsafe(st.size);
    let off = 0;
    try {
      while (off < st.size) {
        const n = readSync(fd, buf, off, st.size - off, off);
        if (n === 0) break;
        off += n;
      }
    } catch {
      this.#problem('memfd-read-failed', creds);
      return null;
    }
    return buf.subarray(0, off);
  }

  #parse(data: Buffer, creds: Creds | null, via: 'datagram' | 'memfd'): void {
    const { entries, problems } = parseNativeMessage(data, this.#limits);
    for (const p of problems) if (p !== 'invalid-field-name') this.#problem(p, creds);
    // pid 0: sent before SO_PASSCRED was on (the kernel then reports nobody), so nothing trustworthy.
    const trusted = creds && creds.pid > 0 ? this.#trustedFor(creds) : null;
    for (const fields of entries) {
      fields.push(TRANSPORT);
      if (trusted !== null) fields.push(trusted.pid, trusted.uid, trusted.gid);
      this.emit('entry', { fields, creds, via } satisfies ReceivedEntry);
    }
  }

  // Datagrams come in runs from one sender: its trusted fields are kept until another one sends.
  #trustedFor(creds: Creds): TrustedFields {
    const t = this.#trusted;
    if (t !== null && t.creds.pid === creds.pid && t.creds.uid === creds.uid && t.creds.gid === creds.gid) return t;
    const next = { creds: { ...creds }, pid: field('_PID', String(creds.pid)), uid: field('_UID', String(creds.uid)), gid: field('_GID', String(creds.gid)) };
    this.#trusted = next;
    return next;
  }
}

function closeFds(fds: number[]): void {
  for (const fd of fds) closeFd(fd);
}
