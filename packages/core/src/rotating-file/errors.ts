// Coded errors of the rotating file. I/O failures while writing are never thrown (they become
// counted drops); these codes are for misuse that the caller must fix, and for a chain whose names
// hold what the rotating file refuses to touch.

export const ROTATING_FILE_ERRORS = {
  /** An option or argument has the wrong type or is out of range. */
  LW_ERR_ROTATING_FILE_INVALID_ARGUMENT: 'invalid argument',
  /** The writer or reader was used after close(). */
  LW_ERR_ROTATING_FILE_CLOSED: 'rotating file is closed',
  /** A position points past the end of the file that holds its inode. */
  LW_ERR_ROTATING_FILE_BAD_POSITION: 'position beyond the end of its file',
  /**
   * A name of the chain holds something that is not one of its own regular files (a symlink, a
   * hard link to a file elsewhere, a directory, a FIFO...) and cannot simply be removed: see chain.ts.
   */
  LW_ERR_ROTATING_FILE_UNSAFE_MEMBER: 'chain member is not a regular file of its own',
  /** writeFromPipe(): the pipe held fewer bytes than tee had shown (another reader drains it). */
  LW_ERR_ROTATING_FILE_PIPE_SHORT: 'pipe held fewer bytes than it had shown',
  /** The writer was asked to write while a pipe move (beginPipeMove) was not finished. */
  LW_ERR_ROTATING_FILE_BUSY: 'a pipe move is in progress',
} as const;

export type RotatingFileErrorCode = keyof typeof ROTATING_FILE_ERRORS;

export class RotatingFileError extends Error {
  readonly code: RotatingFileErrorCode;

  constructor(code: RotatingFileErrorCode, detail: string) {
    super(`${ROTATING_FILE_ERRORS[code]}: ${detail}`);
    this.name = 'RotatingFileError';
    this.code = code;
  }
}

export function invalidArgument(detail: string): RotatingFileError {
  return new RotatingFileError('LW_ERR_ROTATING_FILE_INVALID_ARGUMENT', detail);
}

export function unsafeMember(file: string, what: string): RotatingFileError {
  return new RotatingFileError('LW_ERR_ROTATING_FILE_UNSAFE_MEMBER', `${file} is ${what}`);
}
