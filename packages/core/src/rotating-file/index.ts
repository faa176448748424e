// Size-capped rotating log files: a writer (append, zero-loss pipe ingest, crash-safe rotation,
// counted drops) and a position-aware reader. Knows nothing about VMs.
export { RotatingFileWriter, DEFAULT_MAX_SIZE } from './writer.js';
export type { PipeMove, RotatingFileWriterOptions, RotatingFileWriterStats } from './writer.js';
export { RotatingFileReader } from './reader.js';
export type { ReadResult } from './reader.js';
export { PipeScratch, DEFAULT_WINDOW } from './pipe-scratch.js';
export { START } from './position.js';
export type { Position } from './position.js';
export { DEFAULT_MAX_BACKUPS, DEFAULT_MODE } from './chain.js';
export type { ChainOptions } from './chain.js';
export { RotatingFileError, ROTATING_FILE_ERRORS } from './errors.js';
export type { RotatingFileErrorCode } from './errors.js';
