// journald's stdout-stream protocol over AF_UNIX stream sockets: openStdoutStream() gives an fd a
// child can use as its stdout/stderr (what systemd does for StandardOutput=journal), and
// JournalStdoutServer accepts such streams and turns their lines into entries.
import { EventEmitter } from 'node:events';
import {
  UnixServer,
  close as closeFd,
  connect,
  setNonblock,
  setPassCred,
  setSendBufferSize,
  socket,
  write,
  type Creds,
  type Message,
  type UnixSocket,
} from '../native/index.js';
import { JournalError } from './errors.js';
import type { JournalField } from './fields.js';
import { removeStaleSocket } from './socket-path.js';
import {
  StdoutStreamParser,
  newStreamId,
  stdoutRecordFields,
  type StdoutRecord,
  type StdoutStreamHeader,
} from './stdout-format.js';

export const JOURNAL_STDOUT_PATH = '/run/systemd/journal/stdout';

export interface StdoutStreamOptions {
  /** Default /run/systemd/journal/stdout. */
  readonly path?: string;
  /** SYSLOG_IDENTIFIER of every line; default none. */
  readonly identifier?: string;
  /** UNIT the stream claims (journald honours it for root clients only). */
  readonly unit?: string;
  /** Default priority 0-7 (LOG_INFO = 6), may include a facility (facility * 8 + level). */
  readonly priority?: number;
  /** Lines may start with `<N>` to set their own level (sd-daemon prefixes). Default false. */
  readonly levelPrefix?: boolean;
  readonly forwardToSyslog?: boolean;
  readonly forwardToKmsg?: boolean;
  readonly forwardToConsole?: boolean;
  /** Keep the fd non-blocking; default false, since a child expects a blocking stdout. */
  readonly nonblock?: boolean;
}

function headerLine(value: string, what: string): string {
  // journald reads header lines of at most 254 bytes plus the newline, and strips blanks.
  if (value.includes('\n') || value.includes('\0') || Buffer.byteLength(value) > 254) {
    throw new JournalError('LW_ERR_JOURNAL_STREAM_HEADER', `stdout stream ${what} must be one line of at most 254 bytes without NUL`);
  }
  return value;
}

/**
 * Connects to journald's stdout socket, sends the 7-line header and returns the connected fd
 * (CLOEXEC; blocking unless asked otherwise). Give it to a child as stdout/stderr, then close it.
 */
export function openStdoutStream(opts: StdoutStreamOptions = {}): number {
  const priority = opts.priority ?? 6;
  if (!Number.isInteger(priority) || priority < 0 || priority > 999) {
    throw new JournalError('LW_ERR_JOURNAL_STREAM_HEADER', 'stdout stream priority must be an integer 0-999');
  }
  const b = (v: boolean | undefined): string => (v === true ? '1' : '0');
  const header = Buffer.from(
    [
      headerLine(opts.identifier ?? '', 'identifier'),
      headerLine(opts.unit ?? '', 'unit'),
      String(priority),
      b(opts.levelPrefix),
      b(opts.forwardToSyslog),
      b(opts.forwardToKmsg),
      b(opts.forwardToConsole),
      '',
    ].join('\n'),
  );
  const path = opts.path ?? JOURNAL_STDOUT_PATH;
  let fd: number;
  try {
    fd = socket('stream');
  } catch (err) {
    throw new JournalError('LW_ERR_JOURNAL_CONNECT', `cannot create a stream socket: ${String(err)}`, { cause: err });
  }
  try {
    connect(fd, path);
    try {
      setSendBufferSize(fd, 8 * 1024 * 1024);
    } catch {
      // A smaller buffer only means the child blocks sooner.
    }
    // A fresh connection has an empty buffer: the small header goes in one write.
    if (write(fd, header) !== header.length) throw new Error('short write of the stream header');
    if (opts.nonblock !== true) setNonblock(fd, false);
    return fd;
  } catch (err) {
    closeFd(fd);
    throw new JournalError('LW_ERR_JOURNAL_CONNECT', `cannot open a stdout stream on ${path}: ${String(err)}`, { cause: err });
  }
}

export interface StdoutServerOptions {
  /** Records longer than this are cut; default 48 KiB like journald's LineMax=. */
  readonly lineMax?: number;
  /** File mode of the socket; journald uses 0666. */
  readonly mode?: number;
}

export interface StdoutEntry {
  /** What journald stores: _TRANSPORT=stdout, _STREAM_ID, PRIORITY, ..., MESSAGE, _PID/_UID/_GID. */
  readonly fields: JournalField[];
  readonly record: StdoutRecord;
  readonly header: StdoutStreamHeader;
  readonly streamId: string;
}

/**
 * Listens for stdout streams. Events: 'entry' (StdoutEntry), 'stream-error' (JournalError, when a
 * client's header is malformed: its connection is dropped as journald does), 'error'.
 */
export class JournalStdoutServer extends EventEmitter {
  readonly #server: UnixServer;
  readonly #lineMax: number | undefined;
  readonly #streams = new Set<UnixSocket>();
  #closed = false;

  static listen(path: string, opts: StdoutServerOptions = {}): JournalStdoutServer {
    removeStaleSocket(path);
    let server: UnixServer;
    try {
      server = UnixServer.listen(path, 'stream', { mode: opts.mode ?? 0o666, backlog: 4096 });
    } catch (err) {
      throw new JournalError('LW_ERR_JOURNAL_CONNECT', `cannot listen on ${path}: ${String(err)}`, { cause: err });
    }
    return new JournalStdoutServer(server, opts);
  }

  /** Takes over a listening stream socket (socket activation, re-exec). */
  static fromFd(fd: number, opts: StdoutServerOptions = {}): JournalStdoutServer {
    return new JournalStdoutServer(UnixServer.fromFd(fd, 'stream'), opts);
  }

  private constructor(server: UnixServer, opts: StdoutServerOptions) {
    super();
    this.#server = server;
    this.#lineMax = opts.lineMax;
    // Validates lineMax now rather than at the first connection.
    new StdoutStreamParser(opts.lineMax === undefined ? {} : { lineMax: opts.lineMax });
    // Accepted sockets inherit SO_PASSCRED: every read says which process wrote it.
    setPassCred(server.fd, true);
    server.on('connection', (sock: UnixSocket) => {
      this.#onConnection(sock);
    });
    server.on('error', (err: Error) => this.emit('error', err));
  }

  get fd(): number {
    return this.#server.fd;
  }

  /** Open client streams. */
  get streamCount(): number {
    return this.#streams.size;
  }

  /** Stops listening and drops every open stream (what they sent so far was emitted). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#server.close();
    for (const s of this.#streams) s.close();
    this.#streams.clear();
  }

  #onConnection(sock: UnixSocket): void {
    let creds: Creds | null = null;
    try {
      creds = sock.peerCred();
    } catch {
      // Unknown peer: entries carry no trusted credentials.
    }
    const parser = new StdoutStreamParser({ ...(this.#lineMax === undefined ? {} : { lineMax: this.#lineMax }), creds });
    const streamId = newStreamId();
    this.#streams.add(sock);
    let done = false;
    const finish = (): void => {
      done = true;
      this.#streams.delete(sock);
      sock.close();
    };
    const emit = (records: StdoutRecord[]): void => {
      const header = parser.header;
      if (header === null) return;
      for (const record of records) {
        this.emit('entry', { fields: stdoutRecordFields(parser, record, streamId), record, header, streamId } satisfies StdoutEntry);
      }
    };
    sock.on('message', (msg: Message) => {
      // The protocol carries no fds; never keep any a client pushed at us.
      for (const fd of msg.fds) closeFd(fd);
      if (done) return;
      try {
        emit(parser.push(msg.data, msg.creds));
      } catch (err) {
        finish();
        this.emit('stream-error', err);
      }
    });
    sock.on('end', () => {
      if (done) return;
      try {
        emit(parser.end());
      } catch (err) {
        this.emit('stream-error', err);
      }
      finish();
    });
    sock.on('error', () => {
      finish();
    });
  }
}
