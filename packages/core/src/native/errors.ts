// Errors of the native layer: SysError for failed syscalls, NativeError for the layer's own codes.
import { getSystemErrorMap } from 'node:util';

/** A failed syscall: `code` is the errno name ('EAGAIN'), `errno` its number, `syscall` the call. */
export class SysError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;

  // The addon constructs these (binding.ts registers the class), so the argument order is fixed.
  constructor(code: string, errno: number, syscall: string, description: string) {
    super(`${code}: ${description}, ${syscall}`);
    this.name = 'SysError';
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
  }
}

/** Codes of errors the native layer raises itself (not a syscall failure). */
export const NativeErrorCode = {
  /** send()/receive() on a UnixSocket (or UnixServer) that was closed or reached EOF. */
  SocketClosed: 'LW_ERR_NATIVE_SOCKET_CLOSED',
  /** A call's arguments were rejected before any syscall (e.g. fds on an empty stream send). */
  InvalidArgument: 'LW_ERR_NATIVE_INVALID_ARGUMENT',
} as const;

export type NativeErrorCode = (typeof NativeErrorCode)[keyof typeof NativeErrorCode];

export class NativeError extends Error {
  readonly code: NativeErrorCode;

  constructor(code: NativeErrorCode, message: string) {
    super(message);
    this.name = 'NativeError';
    this.code = code;
  }
}

/** True for a SysError with the given code (or any SysError without one). */
export function isSysError(err: unknown, code?: string): err is SysError {
  return err instanceof SysError && (code === undefined || err.code === code);
}

/** A SysError for an errno obtained without a throwing call (SO_ERROR, poll errors). */
export function sysErrorFromErrno(errno: number, syscall: string): SysError {
  const entry = getSystemErrorMap().get(-errno);
  return new SysError(entry?.[0] ?? `E${errno}`, errno, syscall, entry?.[1] ?? 'unknown error');
}
