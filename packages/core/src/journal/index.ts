// systemd-journald's wire protocols: native datagrams, stdout streams, export and JSON formats.
export { JOURNAL_ERROR_CODES, JournalError, type JournalErrorCode } from './errors.js';
export {
  assertFieldName,
  fieldText,
  groupFields,
  isPrintableText,
  isValidFieldName,
  isValidFieldNameBytes,
  toFields,
  type EntryInput,
  type EntryObject,
  type FieldNameOptions,
  type FieldValue,
  type JournalField,
} from './fields.js';
export {
  DATA_SIZE_MAX,
  ENTRY_FIELD_COUNT_MAX,
  ENTRY_SIZE_MAX,
  READER_FIELD_COUNT_MAX,
  encodeNativeEntry,
  encodeNativePieces,
  needsBinaryForm,
  parseNativeMessage,
  type NativeLimits,
  type NativeParseResult,
  type NativeProblem,
} from './native-format.js';
export {
  STDOUT_LINE_MAX,
  StdoutStreamParser,
  isValidUnitName,
  newStreamId,
  stdoutRecordFields,
  type LineBreak,
  type StdoutParserOptions,
  type StdoutRecord,
  type StdoutStreamHeader,
  type StreamCreds,
} from './stdout-format.js';
export { ExportReader, encodeExportEntry, formatExportEntry, parseExport, type ExportReaderOptions } from './export-format.js';
export {
  JSON_THRESHOLD,
  JsonLinesReader,
  formatJsonEntry,
  parseJsonEntry,
  type JsonEntry,
  type JsonLinesReaderOptions,
  type JsonReadOptions,
  type JsonWriteOptions,
} from './json-format.js';
export { JOURNAL_SOCKET_PATH, JournalClient, type JournalClientOptions, type JournalClientStats } from './native-client.js';
export { JournalNativeServer, type NativeServerOptions, type ReceivedEntry, type ServerProblem } from './native-server.js';
export {
  JOURNAL_STDOUT_PATH,
  JournalStdoutServer,
  openStdoutStream,
  type StdoutEntry,
  type StdoutServerOptions,
  type StdoutStreamOptions,
} from './stdout-stream.js';
