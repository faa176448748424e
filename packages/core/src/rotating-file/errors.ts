// Coded errors of the rotating file. I/O failures while writing are never thrown (they become
// counted drops); these codes are for misuse that the caller must fix.

export const ROTATING_FILE_ERRORS = {
  /** An option or argument has the wrong type or is out of range. */
  LW_ERR_ROTATING_FILE_INVALID_ARGUMENT: 'invalid argument',
  /** The writer or reader was used after close(). */
  LW_ERR_ROTATING_FILE_CLOSED: 'rotating file is closed',
  /** A position points past the end of the file that holds its inode. */
  LW_ERR_ROTATING_FILE_BAD_POSITION: 'position beyond the end of its file',
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
