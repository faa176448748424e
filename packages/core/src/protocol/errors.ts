// The one error registry of logwarden: every error that crosses the RPC boundary (or leaves the CLI)
// carries one of these codes. docs/errors.md documents each; test/protocol/errors-docs.test.ts keeps
// the two in sync.

export interface ErrorSpec {
  readonly message: string;
  /** True when the same call may succeed if simply retried later (nothing was wrong with the request). */
  readonly retryable: boolean;
}

export const ERROR_CODES = {
  // Framing and wire format (PROTO).
  LW_ERR_PROTO_BAD_MAGIC: { message: 'frame header does not start with the logwarden magic', retryable: false },
  LW_ERR_PROTO_FRAME_TOO_LARGE: { message: 'frame larger than the protocol limit', retryable: false },
  LW_ERR_PROTO_TOO_MANY_FDS: { message: 'frame carries more file descriptors than the protocol limit', retryable: false },
  LW_ERR_PROTO_FD_MISMATCH: { message: 'file descriptors received do not match the frame that declares them', retryable: false },
  LW_ERR_PROTO_MALFORMED: { message: 'frame body is not a valid protocol message', retryable: false },
  LW_ERR_PROTO_TRUNCATED: { message: 'connection ended in the middle of a frame', retryable: false },
  LW_ERR_PROTO_VERSION: { message: 'protocol version not supported', retryable: false },
  LW_ERR_PROTO_HELLO_REQUIRED: { message: 'the first call on a connection must be hello', retryable: false },
  LW_ERR_PROTO_UNKNOWN_METHOD: { message: 'unknown method', retryable: false },
  LW_ERR_PROTO_UNKNOWN_FLAGS: { message: 'unknown flags for this method', retryable: false },
  LW_ERR_PROTO_BAD_ARGS: { message: 'invalid arguments', retryable: false },
  LW_ERR_PROTO_UNEXPECTED_FDS: { message: 'this method does not accept file descriptors', retryable: false },
  LW_ERR_PROTO_DUPLICATE_ID: { message: 'call id already in use on this connection', retryable: false },
  // Connections, calls and streams (RPC).
  LW_ERR_RPC_CONNECT: { message: 'cannot connect to the daemon socket', retryable: true },
  LW_ERR_RPC_CLOSED: { message: 'connection closed', retryable: true },
  LW_ERR_RPC_TIMEOUT: { message: 'call timed out', retryable: true },
  LW_ERR_RPC_ABORTED: { message: 'call aborted by the caller', retryable: false },
  LW_ERR_RPC_TOO_MANY_CLIENTS: { message: 'too many clients connected', retryable: true },
  LW_ERR_RPC_NOT_IMPLEMENTED: { message: 'method not implemented by this server', retryable: false },
  LW_ERR_RPC_STREAM_CLOSED: { message: 'stream closed', retryable: false },
  LW_ERR_RPC_UNKNOWN_STREAM: { message: 'no such stream on this connection', retryable: false },
  LW_ERR_RPC_TOO_MANY_STREAMS: { message: 'too many streams open on this connection', retryable: true },
  // Peer authorization (AUTH).
  LW_ERR_AUTH_DENIED: { message: 'peer not authorized', retryable: false },
  // Log files (LOG).
  LW_ERR_LOG_NOT_FOUND: { message: 'no such log', retryable: false },
  LW_ERR_LOG_PATH_INVALID: { message: 'log path not allowed', retryable: false },
  LW_ERR_LOG_POSITION_INVALID: { message: 'position does not belong to this log', retryable: false },
  LW_ERR_LOG_BUSY: { message: 'log is in use by another writer', retryable: true },
  LW_ERR_LOG_IO: { message: 'I/O error on the log file', retryable: true },
  // Log paths confined to the daemon's log root (PATH).
  LW_ERR_PATH_INVALID: { message: 'malformed log path', retryable: false },
  LW_ERR_PATH_OUTSIDE_ROOT: { message: 'log path is outside the log root', retryable: false },
  LW_ERR_PATH_SYMLINK: { message: 'log path goes through a symlink', retryable: false },
  LW_ERR_PATH_NOT_REGULAR: { message: 'log path names something other than a regular file', retryable: false },
  // Daemon configuration and lifecycle (CONFIG, UPGRADE).
  LW_ERR_CONFIG_INVALID: { message: 'invalid configuration', retryable: false },
  LW_ERR_UPGRADE_IN_PROGRESS: { message: 'an upgrade is already in progress', retryable: true },
  LW_ERR_UPGRADE_FAILED: { message: 'upgrade failed; the daemon keeps running the old image', retryable: true },
  LW_ERR_UPGRADE_INTERRUPTED: { message: 'the daemon is re-executing itself; retry the call', retryable: true },
  // systemd integration: socket activation, sd_notify, the fd store (SYSTEMD).
  LW_ERR_SYSTEMD_ENV_INVALID: { message: 'malformed systemd environment variable', retryable: false },
  LW_ERR_SYSTEMD_MESSAGE_INVALID: { message: 'invalid notification for the service manager', retryable: false },
  LW_ERR_SYSTEMD_SEND_FAILED: { message: 'cannot send to the service manager notify socket', retryable: true },
  LW_ERR_SYSTEMD_FDNAME_INVALID: { message: 'invalid fd store name', retryable: false },
  LW_ERR_SYSTEMD_BARRIER_TIMEOUT: { message: 'the service manager did not answer BARRIER=1 in time', retryable: true },
  LW_ERR_SYSTEMD_CLOSED: { message: 'notifier is closed', retryable: false },
  LW_ERR_SYSTEMD_STATE_INVALID: { message: 'not a valid logwarden state record', retryable: false },
  // Local errors of core's building blocks (NATIVE, ROTATING_FILE, JOURNAL). They are raised by their own
  // Error classes and never cross the RPC boundary as such; they are registered here so that every code
  // in the tree has one home and one page (test/protocol/errors-docs.test.ts checks the sources).
  LW_ERR_NATIVE_SOCKET_CLOSED: { message: 'socket closed or at end of stream', retryable: false },
  LW_ERR_NATIVE_INVALID_ARGUMENT: { message: 'invalid argument to a native call', retryable: false },
  LW_ERR_NATIVE_POLLER_CLOSED: { message: 'fd poller is closed', retryable: false },
  LW_ERR_ROTATING_FILE_INVALID_ARGUMENT: { message: 'invalid rotating file argument', retryable: false },
  LW_ERR_ROTATING_FILE_CLOSED: { message: 'rotating file is closed', retryable: false },
  LW_ERR_ROTATING_FILE_BAD_POSITION: { message: 'position beyond the end of its file', retryable: false },
  LW_ERR_ROTATING_FILE_UNSAFE_MEMBER: { message: 'chain member is not a regular file of its own', retryable: false },
  LW_ERR_ROTATING_FILE_PIPE_SHORT: { message: 'pipe held fewer bytes than it had shown', retryable: false },
  LW_ERR_ROTATING_FILE_BUSY: { message: 'a pipe move is in progress', retryable: false },
  LW_ERR_JOURNAL_FIELD_NAME: { message: 'invalid journal field name', retryable: false },
  LW_ERR_JOURNAL_FIELD_VALUE: { message: 'journal field value is not a string or bytes', retryable: false },
  LW_ERR_JOURNAL_EMPTY_ENTRY: { message: 'journal entry has no fields', retryable: false },
  LW_ERR_JOURNAL_ENTRY_TOO_BIG: { message: 'journal entry exceeds the size or field-count limit', retryable: false },
  LW_ERR_JOURNAL_CONNECT: { message: 'cannot open or connect the journal socket', retryable: true },
  LW_ERR_JOURNAL_CLOSED: { message: 'journal client or server is closed', retryable: false },
  LW_ERR_JOURNAL_SEND: { message: 'journal entry could not be sent', retryable: true },
  LW_ERR_JOURNAL_STREAM_HEADER: { message: 'malformed stdout-stream header', retryable: false },
  LW_ERR_JOURNAL_EXPORT_SYNTAX: { message: 'malformed journal export format', retryable: false },
  LW_ERR_JOURNAL_JSON_SYNTAX: { message: 'malformed journal JSON', retryable: false },
  LW_ERR_JOURNAL_LIMIT: { message: 'journal input exceeds a size limit', retryable: false },
  // Command line (CLI).
  LW_ERR_CLI_USAGE: { message: 'invalid command line', retryable: false },
  // Anything unexpected: the server logs the details and never leaks them.
  LW_ERR_INTERNAL: { message: 'internal error', retryable: false },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** What crosses the wire for an error. */
export interface WireError {
  code: string;
  message: string;
  data?: unknown;
}

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code);
}

export class LwError extends Error {
  override readonly name = 'LwError';
  readonly code: ErrorCode;
  readonly data: unknown;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message?: string, data?: unknown, options?: { cause?: unknown }) {
    super(message ?? ERROR_CODES[code].message, options);
    this.code = code;
    this.data = data;
    this.retryable = ERROR_CODES[code].retryable;
  }

  toWire(): WireError {
    return this.data === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, data: this.data };
  }

  /** Rebuilds an error received from a peer; a code this side does not know (a newer peer) is kept in `data`. */
  static fromWire(wire: WireError): LwError {
    if (isErrorCode(wire.code)) return new LwError(wire.code, wire.message, wire.data);
    return new LwError('LW_ERR_INTERNAL', `${wire.code}: ${wire.message}`, { code: wire.code, data: wire.data });
  }
}

export function isLwError(err: unknown): err is LwError {
  return err instanceof LwError;
}
