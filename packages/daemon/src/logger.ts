// The daemon's own messages (not guest logs): one line each on stderr, filtered by level.
// Under a supervisor that reads stderr as a stream of syslog-style lines (journald's stdout
// transport) each line starts with `<N>` so the priority survives; elsewhere with a timestamp.

import type { LogLevel } from '@logwarden/core/protocol';

export type { LogLevel };

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };
// syslog priorities: err, warning, info, debug.
const SYSLOG: Record<LogLevel, number> = { error: 3, warn: 4, info: 6, debug: 7 };

export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && Object.hasOwn(RANK, value);
}

export type LogFields = Record<string, unknown>;

export interface LoggerOptions {
  level?: LogLevel;
  /** `syslog`: `<N>` priority prefixes; `plain`: ISO timestamp and level. */
  style?: 'plain' | 'syslog';
  /** Where finished lines go (each ends with a newline); stderr by default. */
  write?: (line: string) => void;
}

/** Where a logger's lines go: what `daemonLogOutput()` (journal/log-output.ts) provides. */
export interface LoggerOutput {
  style: 'plain' | 'syslog';
  write: (line: string) => void;
}

type Held = [LogLevel, string, LogFields | undefined, Date];

// A held logger keeps at most this many messages (a re-exec's first steps log a handful).
const MAX_HELD = 1000;

export class Logger {
  #rank: number;
  #level: LogLevel;
  #style: 'plain' | 'syslog';
  #write: (line: string) => void;
  /** Messages waiting for setOutput() (see held()); null once lines go out. */
  #held: Held[] | null = null;

  constructor(opts: LoggerOptions = {}) {
    this.#level = opts.level ?? 'info';
    this.#rank = RANK[this.#level];
    this.#style = opts.style ?? 'plain';
    this.#write = opts.write ?? ((line) => process.stderr.write(line));
  }

  /**
   * A logger that keeps its messages (all levels, with their time) until setOutput(): the first
   * steps after a re-exec log before the output and the level are known, which costs loading the
   * journal client and the configuration.
   */
  static held(): Logger {
    const logger = new Logger({ level: 'debug' });
    logger.#held = [];
    return logger;
  }

  /** Sends lines to `out` from now on; a held logger first writes what it kept, filtered by the current level. */
  setOutput(out: LoggerOutput): void {
    this.#style = out.style;
    this.#write = out.write;
    const held = this.#held;
    this.#held = null;
    for (const [level, msg, fields, at] of held ?? []) {
      if (RANK[level] <= this.#rank) this.#emit(level, msg, fields, at);
    }
  }

  get level(): LogLevel {
    return this.#level;
  }

  setLevel(level: LogLevel): void {
    this.#level = level;
    this.#rank = RANK[level];
  }

  enabled(level: LogLevel): boolean {
    return RANK[level] <= this.#rank;
  }

  error(msg: string, fields?: LogFields): void {
    this.#log('error', msg, fields);
  }

  warn(msg: string, fields?: LogFields): void {
    this.#log('warn', msg, fields);
  }

  info(msg: string, fields?: LogFields): void {
    this.#log('info', msg, fields);
  }

  debug(msg: string, fields?: LogFields): void {
    this.#log('debug', msg, fields);
  }

  #log(level: LogLevel, msg: string, fields: LogFields | undefined): void {
    // Checked first so a disabled debug line costs one comparison.
    if (RANK[level] > this.#rank) return;
    if (this.#held !== null) {
      if (this.#held.length < MAX_HELD) this.#held.push([level, msg, fields, new Date()]);
      return;
    }
    this.#emit(level, msg, fields, new Date());
  }

  #emit(level: LogLevel, msg: string, fields: LogFields | undefined, at: Date): void {
    const head = this.#style === 'syslog' ? `<${SYSLOG[level]}>` : `${at.toISOString()} ${level.toUpperCase()} `;
    this.#write(`${head}${oneLine(msg)}${fields === undefined ? '' : formatFields(fields)}\n`);
  }
}

// A message must stay one line, or a reader of the stream would take its tail for a new entry.
function oneLine(s: string): string {
  return s.includes('\n') ? s.replaceAll('\n', '\\n') : s;
}

function formatFields(fields: LogFields): string {
  let out = '';
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    out += ` ${key}=${formatValue(value)}`;
  }
  return out;
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return /^[\w./:@+-]+$/.test(value) ? value : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return JSON.stringify(typeof code === 'string' ? `${code}: ${value.message}` : value.message);
  }
  try {
    // JSON.stringify gives undefined (typed as string) for functions and symbols.
    const json = JSON.stringify(value) as string | undefined;
    return oneLine(json ?? String(value));
  } catch {
    // A bigint or a cycle inside: the plain conversion is still better than losing the line.
    return oneLine(String(value));
  }
}
