// Coded errors of the journal protocols. Every code is documented in README.md of this folder;
// test/journal/errors.test.ts keeps the two in sync.

export const JOURNAL_ERROR_CODES = {
  LW_ERR_JOURNAL_FIELD_NAME: 'a field name is not what journald accepts (1-64 of A-Z 0-9 _, no leading digit or _)',
  LW_ERR_JOURNAL_FIELD_VALUE: 'a field value is not a string or a byte array',
  LW_ERR_JOURNAL_EMPTY_ENTRY: 'an entry has no fields',
  LW_ERR_JOURNAL_ENTRY_TOO_BIG: 'an entry exceeds the size or field-count limit',
  LW_ERR_JOURNAL_CONNECT: 'cannot open or connect the socket of journald (or of a journald-compatible server)',
  LW_ERR_JOURNAL_CLOSED: 'the client or server is closed (or was never opened)',
  LW_ERR_JOURNAL_SEND: 'the entry could not be handed to journald; it was not logged',
  LW_ERR_JOURNAL_STREAM_HEADER: 'a stdout-stream header is malformed',
  LW_ERR_JOURNAL_EXPORT_SYNTAX: 'export-format input is malformed',
  LW_ERR_JOURNAL_JSON_SYNTAX: 'journal JSON input is malformed',
  LW_ERR_JOURNAL_LIMIT: 'input exceeds a configured size limit',
} as const;

export type JournalErrorCode = keyof typeof JOURNAL_ERROR_CODES;

export class JournalError extends Error {
  readonly code: JournalErrorCode;

  constructor(code: JournalErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'JournalError';
    this.code = code;
  }
}
