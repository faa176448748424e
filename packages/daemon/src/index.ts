// @logwarden/daemon: the pieces of logwardend, for embedding and for tests. The executable is main.ts.
export { Daemon, type DaemonOptions } from './daemon.js';
export { BOUNDS, DEFAULTS, loadConfig, type ConfigFlags, type DaemonConfig } from './config.js';
export { LogHandler, type LogSettings, type OpenRequest, type ReadOutcome } from './log-handler.js';
export { LogRoot, type ConfinedPath } from './log-root.js';
export { Logger, isLogLevel, type LogFields, type LoggerOptions, type LogLevel } from './logger.js';
export { createHandlers, type DispatchContext } from './dispatch/index.js';
