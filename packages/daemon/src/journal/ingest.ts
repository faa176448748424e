// journald-compatible ingest for hosts and containers that run no journald: the daemon serves a
// native socket and a stdout-stream socket, and writes each entry as one line of journalctl's JSON
// to a size-capped rotating log per SYSLOG_IDENTIFIER (<log root>/<dir>/<identifier>.json).
import { closeSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  JournalNativeServer,
  JournalStdoutServer,
  type JournalField,
  type ReceivedEntry,
  type ServerProblem,
  type StdoutEntry,
} from '@logwarden/core/journal';
import { RotatingFileWriter } from '@logwarden/core/rotating-file';
import type { LogRoot } from '../log-root.js';
import { JsonLinesBuffer } from './json-lines.js';
import type { Logger } from '../logger.js';

export interface IngestOptions {
  root: LogRoot;
  logger: Logger;
  /** Absolute socket paths; null = that socket is not served. */
  nativeSocket: string | null;
  stdoutSocket: string | null;
  /** Directory of the JSON-lines logs, relative to the log root. */
  dir: string;
  maxSize: number;
  maxBackups: number;
  firstBackupIndex: 0 | 1;
  /** Stdout-stream records longer than this are cut (journald's LineMax=). */
  lineMax: number;
  /** Open files kept at once; the least recently written one is closed beyond it. Default 256. */
  maxOpenFiles?: number;
}

export interface IngestStats {
  /** Entries written (or handed to the writer: write errors are the writer's counted drops). */
  entries: number;
  /** Datagrams or parts of them not logged (malformed, too big, bad fds), by reason. */
  problems: Record<string, number>;
  /** Stdout streams dropped for a malformed header. */
  streamErrors: number;
  /** Entries dropped: their identifier's file could not be opened, or they fit no file even with large values nulled. */
  dropped: number;
  /** Entries too big for one file, stored with their values of 4096 bytes or more as null. */
  nulled: number;
  /** Identifiers whose file is open now. */
  openFiles: number;
}

/** One identifier's log: its writer and the lines waiting for the end of this event-loop turn. */
interface Sink {
  readonly name: string;
  readonly writer: RotatingFileWriter;
  readonly dirFd: number;
  /** Lines waiting for the end of this event-loop turn. */
  readonly batch: JsonLinesBuffer;
}

// Lines are gathered per identifier and written once per event-loop turn (or at this size): one
// write(2) per batch instead of per entry. A batch never outlives the turn it was received in.
const BATCH_BYTES = 256 * 1024;
const FALLBACK_NAME = 'unknown';
// Identifier -> file name, so the hot path does not sanitize the same identifier again.
const NAME_CACHE_MAX = 4096;

/**
 * A file name for an identifier: bytes other than `A-Za-z0-9._@+-` become `_`, a leading dot too
 * (no hidden files, no `.`/`..`), at most 128 characters; an empty or missing one is `unknown`.
 */
export function identifierFileName(identifier: string | undefined): string {
  if (identifier === undefined || identifier === '') return `${FALLBACK_NAME}.json`;
  let s = identifier.slice(0, 128).replace(/[^A-Za-z0-9._@+-]/g, '_');
  if (s.startsWith('.')) s = `_${s.slice(1)}`;
  return `${s}.json`;
}

/** Writes a non-negative integer below 2^53 in decimal at off; returns the offset after it. */
function writeDecimal(buf: Buffer, off: number, n: number): number {
  let digits = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
  let o = off + digits;
  let x = n;
  do {
    const q = Math.floor(x / 10);
    buf[--o] = 0x30 + (x - q * 10);
    x = q;
  } while (x > 0);
  return off + digits;
}

const REALTIME = Buffer.from('"__REALTIME_TIMESTAMP":"');
const MONOTONIC = Buffer.from('","__MONOTONIC_TIMESTAMP":"');

/**
 * journalctl's leading members of a line, `"__REALTIME_TIMESTAMP":"µs","__MONOTONIC_TIMESTAMP":"µs"`
 * and the boot id, written as bytes into one reused buffer: the per-entry strings they replace
 * cost ~0.25 µs per entry (measured with bench/journal-ingest.ts).
 */
class EntryHead {
  readonly #buf: Buffer;
  readonly #fixed: number;
  readonly #tail: Buffer;
  // performance.now() counts from a CLOCK_MONOTONIC instant (libuv's hrtime, like
  // process.hrtime): adding that instant gives the clock journald stamps __MONOTONIC_TIMESTAMP with.
  readonly #monoBaseUs = Number(process.hrtime.bigint()) / 1000 - performance.now() * 1000;

  constructor(boot: string) {
    this.#tail = Buffer.from(boot === '' ? '"' : `","_BOOT_ID":"${boot}"`, 'latin1');
    this.#buf = Buffer.alloc(REALTIME.length + MONOTONIC.length + 2 * 16 + this.#tail.length);
    REALTIME.copy(this.#buf);
    this.#fixed = REALTIME.length;
  }

  /** The head for an entry received now; valid until the next call. */
  now(): Buffer {
    const b = this.#buf;
    let o = writeDecimal(b, this.#fixed, Date.now() * 1000);
    o += MONOTONIC.copy(b, o);
    o = writeDecimal(b, o, Math.floor(this.#monoBaseUs + performance.now() * 1000));
    o += this.#tail.copy(b, o);
    return b.subarray(0, o);
  }
}

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim().replaceAll('-', '');
  } catch {
    return '';
  }
}

export class JournalIngest {
  readonly #opts: IngestOptions;
  readonly #native: JournalNativeServer | null;
  readonly #stdout: JournalStdoutServer | null;
  readonly #sinks = new Map<string, Sink>();
  readonly #dirty = new Set<Sink>();
  readonly #names = new Map<string, string>();
  // The identifier (null: none) of the last entry and its sink.
  #last: { id: Buffer | null; sink: Sink } | null = null;
  readonly #maxOpen: number;
  // journalctl's leading fields; the boot id is fixed for the life of the process.
  readonly #head: EntryHead;
  #flushScheduled = false;
  #entries = 0;
  #streamErrors = 0;
  #dropped = 0;
  #nulled = 0;
  #closed = false;

  /** Binds the configured sockets (replacing stale socket files) and starts writing entries. */
  static start(opts: IngestOptions): JournalIngest {
    return new JournalIngest(opts);
  }

  private constructor(opts: IngestOptions) {
    this.#opts = opts;
    this.#maxOpen = opts.maxOpenFiles ?? 256;
    this.#head = new EntryHead(bootId());
    for (const path of [opts.nativeSocket, opts.stdoutSocket]) if (path !== null) mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    this.#native = opts.nativeSocket === null ? null : JournalNativeServer.listen(opts.nativeSocket);
    try {
      this.#stdout = opts.stdoutSocket === null ? null : JournalStdoutServer.listen(opts.stdoutSocket, { lineMax: opts.lineMax });
    } catch (err) {
      this.#native?.close();
      throw err;
    }
    this.#native?.on('entry', (e: ReceivedEntry) => {
      this.#ingest(e.fields);
    });
    this.#native?.on('error', (err: Error) => {
      opts.logger.error('journal ingest: native socket failed', { err });
    });
    this.#stdout?.on('entry', (e: StdoutEntry) => {
      this.#ingest(e.fields);
    });
    this.#stdout?.on('stream-error', (err: Error) => {
      this.#streamErrors++;
      opts.logger.debug('journal ingest: stdout stream dropped', { err });
    });
    this.#stdout?.on('error', (err: Error) => {
      opts.logger.error('journal ingest: stdout socket failed', { err });
    });
  }

  get stats(): IngestStats {
    const problems: Record<string, number> = {};
    for (const [p, n] of this.#native?.problems ?? new Map<ServerProblem, number>()) problems[p] = n;
    return { entries: this.#entries, problems, streamErrors: this.#streamErrors, dropped: this.#dropped, nulled: this.#nulled, openFiles: this.#sinks.size };
  }

  /** Writes out every batch now (they are written at the end of each event-loop turn anyway). */
  flush(): void {
    for (const sink of this.#dirty) this.#write(sink);
    this.#dirty.clear();
  }

  /** Stops serving (the socket files are removed), writes out what was received and closes the files. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#native?.close();
    this.#stdout?.close();
    this.flush();
    for (const sink of this.#sinks.values()) this.#closeSink(sink);
    this.#sinks.clear();
  }

  #ingest(fields: JournalField[]): void {
    if (this.#closed) return;
    let identifier: Buffer | undefined;
    for (const f of fields) {
      if (f.name === 'SYSLOG_IDENTIFIER') {
        identifier = f.value;
        break;
      }
    }
    const sink = this.#sinkFor(identifier);
    if (sink === null) return;
    const head = this.#head.now();
    const before = sink.batch.length;
    // A stored log keeps large values whole. An entry that could not fit in one file keeps its
    // fields but its large values become null, as journalctl prints them without --all.
    if (sink.batch.append(head, fields) > this.#opts.maxSize) {
      sink.batch.truncate(before);
      this.#nulled++;
      if (sink.batch.append(head, fields, false) > this.#opts.maxSize) {
        sink.batch.truncate(before);
        this.#dropped++;
        return;
      }
    }
    this.#entries++;
    if (sink.batch.length >= BATCH_BYTES) {
      this.#write(sink);
      this.#dirty.delete(sink);
      return;
    }
    this.#dirty.add(sink);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => {
        this.#flushScheduled = false;
        this.flush();
      });
    }
  }

  // Most entries come in runs from one sender: the last identifier's sink is checked first, on
  // bytes, before any string is decoded.
  #sinkFor(identifier: Buffer | undefined): Sink | null {
    const last = this.#last;
    if (last !== null && (identifier === undefined ? last.id === null : last.id?.equals(identifier) === true) && this.#sinks.get(last.sink.name) === last.sink) {
      return last.sink;
    }
    let name: string;
    if (identifier === undefined) {
      name = identifierFileName(undefined);
    } else {
      const key = identifier.toString('utf8');
      let cached = this.#names.get(key);
      if (cached === undefined) {
        if (this.#names.size >= NAME_CACHE_MAX) this.#names.clear();
        cached = identifierFileName(key);
        this.#names.set(key, cached);
      }
      name = cached;
    }
    const sink = this.#sink(name);
    this.#last = sink === null ? null : { id: identifier === undefined ? null : Buffer.from(identifier), sink };
    return sink;
  }

  #write(sink: Sink): void {
    if (sink.batch.length === 0) return;
    // Write errors become the writer's counted drops and a marker line: ingest goes on. The
    // write is synchronous, so the batch buffer is free again right after it.
    sink.writer.write(sink.batch.view());
    sink.batch.clear();
  }

  #sink(name: string): Sink | null {
    const existing = this.#sinks.get(name);
    if (existing !== undefined) {
      // Map order is insertion order: re-inserting keeps the least recently used first.
      this.#sinks.delete(name);
      this.#sinks.set(name, existing);
      return existing;
    }
    if (this.#sinks.size >= this.#maxOpen) {
      const oldest = this.#sinks.values().next().value;
      if (oldest !== undefined) {
        this.#write(oldest);
        this.#dirty.delete(oldest);
        this.#closeSink(oldest);
        this.#sinks.delete(oldest.name);
      }
    }
    const o = this.#opts;
    let dirFd = -1;
    try {
      const confined = o.root.confine(`${o.dir}/${name}`, { create: true });
      dirFd = confined.dirFd;
      const writer = RotatingFileWriter.open(confined.fdPath, {
        maxSize: o.maxSize,
        maxBackups: o.maxBackups,
        firstBackupIndex: o.firstBackupIndex,
        mode: 0o640,
        // Half a JSON line is garbage to every reader: a line that does not fit starts the next file.
        wholeLines: true,
      });
      const sink: Sink = { name, writer, dirFd, batch: new JsonLinesBuffer() };
      this.#sinks.set(name, sink);
      return sink;
    } catch (err) {
      if (dirFd >= 0) closeSync(dirFd);
      this.#dropped++;
      // Logged at 1, 2, 4, 8... drops: a persistent failure must not flood the daemon's own log.
      if ((this.#dropped & (this.#dropped - 1)) === 0) {
        o.logger.error('journal ingest: cannot open the log of an identifier, entries dropped', { file: `${o.dir}/${name}`, dropped: this.#dropped, err });
      }
      return null;
    }
  }

  #closeSink(sink: Sink): void {
    sink.writer.close();
    closeSync(sink.dirFd);
  }
}
