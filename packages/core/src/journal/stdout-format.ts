// journald's stdout-stream protocol, server side: a 7-line header, then log records split at
// `\n`, NUL and the line-length limit (systemd 252, journald-stream.c).
import { randomBytes } from 'node:crypto';
import { JournalError } from './errors.js';
import type { JournalField } from './fields.js';

/** journald's default LineMax=48K. */
export const STDOUT_LINE_MAX = 48 * 1024;
// During the header a line holds at most a unit name (UNIT_NAME_MAX - 1, and the newline must fit too).
const SETUP_LINE_MAX = 255;

export interface StdoutStreamHeader {
  /** SYSLOG_IDENTIFIER of every record; null when the client sent an empty line. */
  readonly identifier: string | null;
  /** The unit the client claims (only a syntactically valid unit name, else null); journald honours it only for uid 0. */
  readonly unit: string | null;
  /** Default priority, facility included (0-999: facility * 8 + level). */
  readonly priority: number;
  readonly levelPrefix: boolean;
  readonly forwardToSyslog: boolean;
  readonly forwardToKmsg: boolean;
  readonly forwardToConsole: boolean;
}

export type LineBreak = 'newline' | 'nul' | 'line-max' | 'eof' | 'pid-change';

export interface StreamCreds {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

export interface StdoutRecord {
  /** The text after any `<N>` prefix, trailing blanks removed; never empty (journald skips empty records). */
  readonly message: Buffer;
  /** Priority with facility (facility * 8 + level). */
  readonly priority: number;
  readonly lineBreak: LineBreak;
  /** Credentials of the writer when the record was read (SCM_CREDENTIALS), if known. */
  readonly creds: StreamCreds | null;
}

const HEADER_LINES = ['identifier', 'unit', 'priority', 'level_prefix', 'forward_to_syslog', 'forward_to_kmsg', 'forward_to_console'];
const TRUE_WORDS = new Set(['1', 'yes', 'y', 'true', 't', 'on']);
const FALSE_WORDS = new Set(['0', 'no', 'n', 'false', 'f', 'off']);

function parseBoolean(s: string, what: string): boolean {
  const w = s.toLowerCase();
  if (TRUE_WORDS.has(w)) return true;
  if (FALSE_WORDS.has(w)) return false;
  throw new JournalError('LW_ERR_JOURNAL_STREAM_HEADER', `stdout stream: bad ${what} line ${JSON.stringify(s.slice(0, 40))}`);
}

const UNIT_TYPES = new Set(['service', 'socket', 'target', 'device', 'mount', 'automount', 'swap', 'timer', 'path', 'slice', 'scope']);
const UNIT_PREFIX_RE = /^[A-Za-z0-9:_.\\-]+$/;
const UNIT_INSTANCE_RE = /^[A-Za-z0-9:_.\\@-]+$/;

/** A plain (`foo.service`) or instance (`foo@bar.service`) unit name, as journald requires for UNIT. */
export function isValidUnitName(name: string): boolean {
  if (name.length === 0 || name.length > 255) return false;
  const dot = name.lastIndexOf('.');
  if (dot <= 0 || !UNIT_TYPES.has(name.slice(dot + 1))) return false;
  const body = name.slice(0, dot);
  const at = body.indexOf('@');
  if (at === -1) return UNIT_PREFIX_RE.test(body);
  return at > 0 && UNIT_PREFIX_RE.test(body.slice(0, at)) && at + 1 < body.length && UNIT_INSTANCE_RE.test(body.slice(at + 1));
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

function strip(b: Buffer): Buffer {
  let s = 0;
  let e = b.length;
  while (s < e && WS.has(b[s] ?? 0)) s++;
  while (e > s && WS.has(b[e - 1] ?? 0)) e--;
  return b.subarray(s, e);
}

// syslog_parse_priority without facility: `<N>`, `<0N>`, `<00N>` with N 0-7 replaces the level.
function parseLevelPrefix(line: Buffer, priority: number): { rest: Buffer; priority: number } {
  if (line[0] !== 0x3c) return { rest: line, priority };
  const end = line.indexOf(0x3e);
  if (end < 2 || end > 4) return { rest: line, priority };
  let v = 0;
  for (let i = 1; i < end; i++) {
    const d = (line[i] ?? 0) - 0x30;
    if (d < 0 || d > 9) return { rest: line, priority };
    v = v * 10 + d;
  }
  if (v > 7) return { rest: line, priority };
  return { rest: line.subarray(end + 1), priority: (priority & ~7) | v };
}

export interface StdoutParserOptions {
  /** Records longer than this are cut (LineMax=); default 48 KiB. */
  readonly lineMax?: number;
  /** The peer's credentials at connect time (SO_PEERCRED). */
  readonly creds?: StreamCreds | null;
}

/**
 * Incremental parser for one stdout stream. `push()` bytes as they arrive (with the
 * SCM_CREDENTIALS that came with them), `end()` at EOF. A malformed header throws
 * LW_ERR_JOURNAL_STREAM_HEADER; journald then drops the connection. Memory held between calls
 * stays below the line limit.
 */
export class StdoutStreamParser {
  readonly lineMax: number;
  #header: StdoutStreamHeader | null = null;
  #lines: Buffer[] = [];
  #pending: Buffer = Buffer.alloc(0);
  #creds: StreamCreds | null;
  #failed = false;
  #identifierBytes: Buffer | null = null;

  constructor(opts: StdoutParserOptions = {}) {
    const lineMax = opts.lineMax ?? STDOUT_LINE_MAX;
    if (!Number.isInteger(lineMax) || lineMax < 79) {
      throw new JournalError('LW_ERR_JOURNAL_LIMIT', 'lineMax must be an integer >= 79 (journald refuses smaller LineMax=)');
    }
    this.lineMax = lineMax;
    this.#creds = opts.creds ?? null;
  }

  /** The parsed header once all 7 lines arrived, else null. */
  get header(): StdoutStreamHeader | null {
    return this.#header;
  }

  /** Bytes held for an unfinished record: always below the line limit. */
  get pendingBytes(): number {
    return this.#pending.length;
  }

  /** SYSLOG_IDENTIFIER as the client sent it (bytes), or null. */
  get identifierBytes(): Buffer | null {
    return this.#identifierBytes;
  }

  push(chunk: Buffer, creds?: StreamCreds | null): StdoutRecord[] {
    this.#checkUsable();
    const out: StdoutRecord[] = [];
    try {
      if (creds && this.#creds && creds.pid !== this.#creds.pid && this.#pending.length > 0) {
        // A different process writes now (a fork inherited the fd): flush the half line of the old one.
        this.#found(this.#pending, 'pid-change', out);
        this.#pending = Buffer.alloc(0);
      }
      if (creds) this.#creds = creds;
      const buf = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
      const consumed = this.#scan(buf, out);
      // Copy the leftover so a small tail does not pin a large chunk.
      this.#pending = Buffer.from(buf.subarray(consumed));
    } catch (err) {
      this.#failed = true;
      throw err;
    }
    return out;
  }

  /** End of stream: the unterminated tail becomes a record (`_LINE_BREAK=eof`). */
  end(): StdoutRecord[] {
    this.#checkUsable();
    const out: StdoutRecord[] = [];
    this.#failed = true;
    const rest = this.#pending;
    this.#pending = Buffer.alloc(0);
    if (rest.length > 0) this.#found(rest, 'eof', out);
    return out;
  }

  #checkUsable(): void {
    if (this.#failed) throw new JournalError('LW_ERR_JOURNAL_CLOSED', 'stdout stream parser already ended or failed');
  }

  #scan(buf: Buffer, out: StdoutRecord[]): number {
    let p = 0;
    for (;;) {
      const remaining = buf.length - p;
      const max = this.#header ? this.lineMax : SETUP_LINE_MAX;
      const window = buf.subarray(p, p + Math.min(remaining, max));
      const nl = window.indexOf(0x0a);
      const nul = (nl === -1 ? window : window.subarray(0, nl)).indexOf(0);
      if (nul !== -1) {
        this.#found(window.subarray(0, nul), 'nul', out);
        p += nul + 1;
      } else if (nl !== -1) {
        this.#found(window.subarray(0, nl), 'newline', out);
        p += nl + 1;
      } else if (remaining >= max) {
        this.#found(window, 'line-max', out);
        p += max;
      } else {
        return p;
      }
    }
  }

  #found(line: Buffer, lineBreak: LineBreak, out: StdoutRecord[]): void {
    if (this.#header) {
      // journald strips trailing blanks (space, tab, CR, LF) of every record but keeps leading ones.
      let end = line.length;
      while (end > 0 && WS.has(line[end - 1] ?? 0)) end--;
      const trimmed = line.subarray(0, end);
      const { rest, priority } = this.#header.levelPrefix
        ? parseLevelPrefix(trimmed, this.#header.priority)
        : { rest: trimmed, priority: this.#header.priority };
      // Records are views into the read buffer only until the next push; copy them out.
      if (rest.length > 0) out.push({ message: Buffer.from(rest), priority, lineBreak, creds: this.#creds });
      return;
    }
    if (lineBreak !== 'newline') {
      throw new JournalError('LW_ERR_JOURNAL_STREAM_HEADER', 'stdout stream: header line not terminated by a newline');
    }
    const text = Buffer.from(strip(line));
    const index = this.#lines.length;
    // Like journald, each header line is checked as it arrives.
    if (index === 2) {
      const p = text.toString('latin1');
      if (!/^\+?[0-9]+$/.test(p) || Number(p) > 999) {
        throw new JournalError('LW_ERR_JOURNAL_STREAM_HEADER', `stdout stream: bad priority line ${JSON.stringify(p.slice(0, 40))}`);
      }
    } else if (index >= 3) {
      parseBoolean(text.toString('latin1'), HEADER_LINES[index] ?? '');
    }
    this.#lines.push(text);
    if (this.#lines.length < 7) return;
    const [ident, unit, prio, level, syslog, kmsg, console] = this.#lines.map((b) => b.toString('utf8'));
    const identBytes = this.#lines[0] ?? Buffer.alloc(0);
    this.#identifierBytes = identBytes.length > 0 ? identBytes : null;
    this.#header = {
      identifier: ident ? ident : null,
      unit: unit !== undefined && isValidUnitName(unit) ? unit : null,
      priority: Number(prio),
      levelPrefix: parseBoolean(level ?? '', 'level_prefix'),
      forwardToSyslog: parseBoolean(syslog ?? '', 'forward_to_syslog'),
      forwardToKmsg: parseBoolean(kmsg ?? '', 'forward_to_kmsg'),
      forwardToConsole: parseBoolean(console ?? '', 'forward_to_console'),
    };
    this.#lines = [];
  }
}

/** A random `_STREAM_ID` value (128 bits, lower-case hex), one per connection like journald's. */
export function newStreamId(): string {
  return randomBytes(16).toString('hex');
}

const f = (name: string, value: string | Buffer): JournalField => ({ name, value: typeof value === 'string' ? Buffer.from(value) : value });

/** The fields journald stores for a stdout record (trusted `_PID`/`_UID`/`_GID` when credentials are known). */
export function stdoutRecordFields(parser: StdoutStreamParser, record: StdoutRecord, streamId: string): JournalField[] {
  const fields: JournalField[] = [f('_TRANSPORT', 'stdout'), f('_STREAM_ID', streamId), f('PRIORITY', String(record.priority & 7))];
  if (record.priority >> 3 !== 0) fields.push(f('SYSLOG_FACILITY', String(record.priority >> 3)));
  const ident = parser.identifierBytes;
  if (ident) fields.push(f('SYSLOG_IDENTIFIER', ident));
  if (record.lineBreak !== 'newline') fields.push(f('_LINE_BREAK', record.lineBreak));
  fields.push(f('MESSAGE', record.message));
  if (record.creds) {
    fields.push(f('_PID', String(record.creds.pid)), f('_UID', String(record.creds.uid)), f('_GID', String(record.creds.gid)));
  }
  return fields;
}
