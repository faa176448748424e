// What every CLI command gets and must provide.
import type { ParseArgsConfig } from 'node:util';
import type { Readable, Writable } from 'node:stream';
import type { LogwardenClient } from '../client.js';

export interface CliIo {
  stdout: Writable;
  stderr: Writable;
  stdin: Readable;
  env: NodeJS.ProcessEnv;
}

export interface CliContext {
  io: CliIo;
  json: boolean;
  socket: string;
  timeoutMs: number;
  /** Aborted on SIGINT/SIGTERM (the bin wires it): long-running commands stop cleanly. */
  signal: AbortSignal;
  /** Connects (once) to the daemon; the CLI closes the client when the command is done. */
  connect(): Promise<LogwardenClient>;
}

export type OptionsConfig = NonNullable<ParseArgsConfig['options']>;
export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface Command {
  name: string;
  /** Argument synopsis after the command name, e.g. "[--from INODE:OFFSET] PATH". */
  synopsis: string;
  summary: string;
  /** Extra lines for `logwarden COMMAND --help`. */
  details?: string;
  options: OptionsConfig;
  positionals: { min: number; max: number };
  run(ctx: CliContext, values: OptionValues, positionals: string[]): Promise<void>;
}

/** A bad command line: printed with the usage, exit status 2. */
export class UsageError extends Error {
  readonly code = 'LW_ERR_CLI_USAGE';
  override readonly name = 'UsageError';
}
