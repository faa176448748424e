// The writer of a rotating file: appends bytes, never lets a file grow past maxSize, rotates the
// chain, and survives write errors by counting drops and recording them in one marker line.
//
// write() and writeFromPipe() write synchronously, like virtlogd: a log write is a memcpy into the
// page cache. A caller that must not wait on a stalled disk (the daemon's event loop) takes a
// PipeChunk from the pipe instead and writes it with writeChunk() on libuv's threadpool: the bytes
// stay in the pipe until that write has returned. Everything that can be decided at open is.
import fs from 'node:fs';
import { read as readFd, setNonblock, splice, tee } from '../native/index.js';
import {
  type ChainLayout,
  type ChainOptions,
  DEFAULT_MODE,
  chainLayout,
  createFile,
  formatRecord,
  openMember,
  recoverChain,
  rewriteIndex,
  unlinkIfExists,
} from './chain.js';
import { RotatingFileError, invalidArgument, unsafeMember } from './errors.js';
import type { PipeScratch } from './pipe-scratch.js';
import type { Position } from './position.js';

export const DEFAULT_MAX_SIZE = 2 * 1024 * 1024;
const NEWLINE = 0x0a;
/** Readers parse the index on every read: it is rewritten to the live files after this many appends. */
const INDEX_APPENDS_BEFORE_REWRITE = 64;
const NO_BYTES = Buffer.alloc(0);

export interface RotatingFileWriterOptions extends ChainOptions {
  /** Largest size of any file of the chain in bytes (default 2 MiB; 0 = never rotate). */
  maxSize?: number;
  /** Remove the base file and every backup at open. */
  truncate?: boolean;
  /** Permission bits of the files created (default 0o600; umask does not apply). */
  mode?: number;
  /**
   * write(): a line that does not fit in what is left of the current file starts the next file
   * instead of being cut (only a line longer than maxSize is still cut). For line-oriented formats
   * such as JSON lines, where half a line is garbage. Default false (cut at the limit, like virtlogd).
   */
  wholeLines?: boolean;
}

export interface RotatingFileWriterStats {
  /** Payload bytes that reached a file (markers not included). */
  readonly bytesWritten: number;
  /** Payload bytes lost to write errors, ever. */
  readonly bytesDropped: number;
  /** Dropped bytes that no marker line records yet. */
  readonly pendingDropped: number;
  /** Bytes taken out of pipes: written, dropped, or in flight (a chunk released before its write returned). */
  readonly bytesFromPipe: number;
  /** Payload bytes of a chunk whose write has not returned yet. */
  readonly bytesInFlight: number;
  readonly markers: number;
  readonly rotations: number;
  /** Where the next byte goes (the end of the current file). */
  readonly position: Position;
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'EUNKNOWN';
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // Closing can report a deferred write error; the bytes are already accounted for.
  }
}

/** Bytes of data[off..] to put in a file with `room` left: up to the last newline that fits, else room. */
function cutLength(data: Uint8Array, off: number, room: number): number {
  const nl = data.subarray(off, off + room).lastIndexOf(NEWLINE);
  return nl >= 0 ? nl + 1 : room;
}

/** Reads exactly len bytes that tee showed in the pipe; fewer means someone else reads it too. */
function readExactly(fd: number, buf: Buffer, len: number): void {
  let got = 0;
  while (got < len) {
    const n = readFd(fd, buf, got, len - got);
    if (n === null || n === 0) {
      throw new RotatingFileError('LW_ERR_ROTATING_FILE_PIPE_SHORT', `${got} of ${len} bytes (does another reader drain the pipe?)`);
    }
    got += n;
  }
}

/**
 * Opens a member the writer keeps (see openMember() in chain.ts), made blocking again: O_NONBLOCK
 * only guards the open. With `ino`, it must still be the file the writer has open under that name.
 */
function openKept(p: string, flags: number, mode: number, ino?: bigint): { fd: number; st: fs.BigIntStats } {
  const opened = openMember(p, flags, mode);
  try {
    if (ino !== undefined && opened.st.ino !== ino) throw unsafeMember(p, 'no longer the file open for writing');
    setNonblock(opened.fd, false);
  } catch (err) {
    closeQuietly(opened.fd);
    throw err;
  }
  return opened;
}

/**
 * Bytes taken from a pipe by takeFromPipe(): a marker line owed (if any) followed by a copy of the
 * payload, to be written at `offset` of the current file. The payload stays in the pipe until the
 * chunk is settled (or released), so a kill before that loses nothing.
 */
export class PipeChunk {
  readonly data: Buffer;
  readonly offset: number;
  readonly markerLength: number;
  /** Payload bytes (data after the marker). */
  readonly length: number;
  /** The pipe held more than fits: the file ends after this payload. */
  readonly cut: boolean;
  /** The pipe was empty: a marker-only chunk. */
  readonly emptied: boolean;
  /** @internal */ readonly fd: number;
  /** @internal */ readonly pipeFd: number;
  /** @internal */ readonly scratch: PipeScratch;
  /** @internal */ readonly markerDrops: number;
  /** @internal */ settled = false;
  /** @internal */ released = false;

  /** @internal */
  constructor(c: {
    data: Buffer; offset: number; markerLength: number; cut: boolean; emptied: boolean; fd: number;
    pipeFd: number; scratch: PipeScratch; markerDrops: number;
  }) {
    this.data = c.data;
    this.offset = c.offset;
    this.markerLength = c.markerLength;
    this.length = c.data.length - c.markerLength;
    this.cut = c.cut;
    this.emptied = c.emptied;
    this.fd = c.fd;
    this.pipeFd = c.pipeFd;
    this.scratch = c.scratch;
    this.markerDrops = c.markerDrops;
  }
}

export class RotatingFileWriter {
  readonly path: string;
  readonly maxSize: number;
  readonly maxBackups: number;
  private readonly layout: ChainLayout;
  private readonly limit: number;
  private readonly mode: number;
  private readonly wholeLines: boolean;

  private fd = -1;
  /**
   * A second fd without O_APPEND for chunks: they are written at an offset decided before the write,
   * so a chunk rewritten synchronously while its threadpool write is pending lands on the same bytes.
   */
  private posFd = -1;
  private indexFd = -1;
  private indexAppends = 0;
  private positional = false;
  private ino = 0n;
  private size = 0;
  /** The current file's limit: maxSize, or its size once a cut ended it early at a newline. */
  private cap = Infinity;
  /** Stream offset of the current file's first byte. */
  private start = 0;
  private lastByte = NEWLINE;
  private fromPipe = 0;
  /** The chunk taken and not settled yet (at most one). */
  private pending: PipeChunk | null = null;
  /** The fd a threadpool write may still use: closing it is deferred (a reused fd number would be written). */
  private busyFd = -1;
  private deferredClose: number[] = [];
  private failure = 'EUNKNOWN';
  private closed = false;

  private written = 0;
  private dropped = 0;
  private pendingDrop = 0;
  private dropReasons: string[] = [];
  private markerCount = 0;
  private rotationCount = 0;

  private constructor(file: string, opts: RotatingFileWriterOptions) {
    const maxSize = opts.maxSize ?? DEFAULT_MAX_SIZE;
    if (!Number.isSafeInteger(maxSize) || maxSize < 0) throw invalidArgument('maxSize must be an integer >= 0');
    const mode = opts.mode ?? DEFAULT_MODE;
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw invalidArgument('mode must be 0..0o7777');
    if (opts.truncate !== undefined && typeof opts.truncate !== 'boolean') {
      throw invalidArgument('truncate must be a boolean');
    }
    this.layout = chainLayout(file, opts);
    this.path = this.layout.base;
    this.maxSize = maxSize;
    this.maxBackups = this.layout.backups.length;
    this.limit = maxSize === 0 ? Infinity : maxSize;
    this.mode = mode;
    this.wholeLines = opts.wholeLines === true;
    this.openChain(opts.truncate === true);
  }

  /**
   * Recovers the chain (see chain.ts) and opens its base. Throws LW_ERR_ROTATING_FILE_UNSAFE_MEMBER
   * when the base, or any name of the chain as a directory, holds what is not the chain's own;
   * otherwise what the file system says.
   */
  static open(file: string, opts: RotatingFileWriterOptions = {}): RotatingFileWriter {
    return new RotatingFileWriter(file, opts);
  }

  /** Where the next byte goes: the current file and the stream offset (see position.ts). */
  get position(): Position {
    return { inode: this.ino, offset: this.start + this.size };
  }

  get stats(): RotatingFileWriterStats {
    return {
      bytesWritten: this.written,
      bytesDropped: this.dropped,
      pendingDropped: this.pendingDrop,
      bytesFromPipe: this.fromPipe,
      bytesInFlight: this.pending?.length ?? 0,
      markers: this.markerCount,
      rotations: this.rotationCount,
      position: this.position,
    };
  }

  /**
   * Appends data; returns the bytes that reached a file. Never throws for I/O errors: what cannot
   * be written is counted as dropped and recorded by a marker line once writing works again.
   */
  write(data: Uint8Array): number {
    this.assertOpen();
    if (!(data instanceof Uint8Array)) throw invalidArgument('data must be a Uint8Array');
    this.settlePendingSync();
    const len = data.length;
    if (len === 0) return 0;
    if (!this.ready()) {
      this.drop(len);
      return 0;
    }
    let off = 0;
    while (off < len) {
      let room = this.cap - this.size;
      if (room <= 0) {
        if (!this.rotate()) break;
        room = this.limit;
      }
      const cut = len - off > room;
      const n = cut ? cutLength(data, off, room) : len - off;
      if (cut && this.wholeLines && n === room && data[off + room - 1] !== NEWLINE && this.size > 0 && this.atLineStart()) {
        // The next line does not fit: end this file here, the line starts the next one whole.
        this.cap = this.size;
        continue;
      }
      try {
        const w = fs.writeSync(this.fd, data, off, n);
        off += w;
        this.size += w;
        if (cut && w === n) this.cap = this.size;
      } catch (err) {
        this.failure = errorCode(err);
        break;
      }
    }
    if (off > 0) {
      this.written += off;
      this.lastByte = data[off - 1] as number;
    }
    if (off < len) this.drop(len - off);
    return off;
  }

  /**
   * Moves bytes from a pipe into the file, synchronously; they leave the pipe only once they are in
   * the file, so a kill at any instant loses nothing the pipe still holds. Returns the bytes consumed
   * (written or, on a write error, drained and counted as dropped), null when the pipe is empty
   * (EAGAIN), 0 at EOF. Call it again while it returns a number > 0. A chunk still pending (see
   * writeChunk()) is settled first by writing it again, synchronously, at its offset.
   */
  writeFromPipe(pipeFd: number, scratch: PipeScratch): number | null {
    for (;;) {
      const r = this.takeFromPipe(pipeFd, scratch);
      if (!(r instanceof PipeChunk)) return r;
      const n = this.writeChunkSync(r);
      if (r.length > 0) return n;
      if (r.emptied) return null;
    }
  }

  /**
   * Takes the next chunk to write from a pipe, without writing: the pending bytes are tee'd into
   * the scratch pipe and copied out of it (at most scratch.window at a time); within that distance of
   * the size limit the copy is cut at its last newline that fits. The chunk carries the marker line
   * owed, if any. The payload stays in the pipe until the chunk is settled by writeChunk() (or a
   * synchronous call). Returns the bytes drained and counted as dropped when the file cannot be
   * written, null when the pipe is empty and no marker is owed, 0 at EOF.
   *
   * Costs one copy more than splicing straight into the file, in exchange for a file write that
   * does not hold the guest pipe's lock: splice(pipe -> file) holds it for the whole write
   * (iter_file_splice_write), so a guest would block on a stalled disk whatever the daemon does.
   */
  takeFromPipe(pipeFd: number, scratch: PipeScratch): PipeChunk | number | null {
    this.assertOpen();
    this.settlePendingSync();
    if (!this.positional) this.enablePositional();
    if (this.fd < 0 && !this.reopen()) return this.discard(pipeFd, scratch.buffer, scratch.buffer.length);
    let marker = this.pendingDrop > 0 ? this.markerBytes() : NO_BYTES;
    if (this.size >= this.cap || marker.length > this.cap - this.size) {
      if (!this.rotate()) return this.discard(pipeFd, scratch.buffer, scratch.buffer.length);
      if (marker.length > 0) marker = this.markerBytes();
    }
    const room = this.cap - this.size - marker.length;
    const seen = room > 0 ? tee(pipeFd, scratch.writeFd, Math.min(room, scratch.window) + 1) : null;
    if (seen === 0) return 0;
    if (seen === null && marker.length === 0) return null;
    const got = seen ?? 0;
    const buf = Buffer.allocUnsafe(marker.length + got);
    marker.copy(buf);
    readExactly(scratch.readFd, buf.subarray(marker.length), got);
    const cut = got > room;
    const n = cut ? cutLength(buf, marker.length, room) : got;
    const chunk = new PipeChunk({
      data: buf.subarray(0, marker.length + n), offset: this.size, markerLength: marker.length, cut,
      emptied: room > 0 && seen === null, fd: this.posFd, pipeFd, scratch, markerDrops: this.pendingDrop,
    });
    this.pending = chunk;
    return chunk;
  }

  /**
   * Writes a chunk on libuv's threadpool (the caller's thread never waits on the disk) and settles
   * it: its payload is consumed from the pipe (written, or counted as dropped on a write error).
   * Resolves to the payload bytes settled by this call (0 when something settled it before).
   */
  writeChunk(chunk: PipeChunk): Promise<number> {
    // Settled synchronously meanwhile: its fd may be closed already (and the number reused).
    if (chunk.settled) return Promise.resolve(0);
    this.busyFd = chunk.fd;
    return new Promise((resolve, reject) => {
      let off = 0;
      const step = (): void => {
        fs.write(chunk.fd, chunk.data, off, chunk.data.length - off, chunk.offset + off, (err, w) => {
          if (err === null) off += w;
          if (err === null && off < chunk.data.length) {
            step();
            return;
          }
          this.busyFd = -1;
          for (const fd of this.deferredClose) closeQuietly(fd);
          this.deferredClose = [];
          try {
            resolve(this.settle(chunk, off, err));
          } catch (e) {
            reject(e instanceof Error ? e : new Error(String(e)));
          }
        });
      };
      step();
    });
  }

  /**
   * Consumes a pending chunk's payload from the pipe before its write returned, so the caller can
   * drain what the guest writes after it (a stalled disk). The chunk's bytes are then in flight: a
   * kill loses them. Returns the bytes consumed.
   */
  releaseChunk(chunk: PipeChunk): number {
    if (chunk.settled || chunk.released) return 0;
    chunk.released = true;
    consume(chunk.pipeFd, chunk.scratch, chunk.length);
    this.fromPipe += chunk.length;
    return chunk.length;
  }

  /** Drains up to a buffer of bytes from a pipe without writing them, counted as dropped for `reason`. */
  dropFromPipe(pipeFd: number, scratch: PipeScratch, reason: string): number | null {
    this.assertOpen();
    const n = readFd(pipeFd, scratch.buffer, 0, scratch.buffer.length);
    if (n !== null && n > 0) {
      this.fromPipe += n;
      this.drop(n, reason);
    }
    return n;
  }

  /** Closes the files; first tries once more to record pending drops. Idempotent, never throws. */
  close(): void {
    if (this.closed) return;
    this.settlePendingSync();
    if (this.pendingDrop > 0 && this.fd >= 0) this.writeMarker();
    this.closed = true;
    this.closeFiles();
  }

  private assertOpen(): void {
    if (this.closed) throw new RotatingFileError('LW_ERR_ROTATING_FILE_CLOSED', this.path);
  }

  private openChain(truncate: boolean): void {
    this.start = recoverChain(this.layout, this.mode, truncate, this.maxSize);
    const { O_WRONLY, O_APPEND, O_CREAT } = fs.constants;
    try {
      const { fd, st } = openKept(this.layout.base, O_WRONLY | O_APPEND, this.mode);
      this.fd = fd;
      this.ino = st.ino;
      this.size = Number(st.size);
      this.cap = this.limit;
      this.lastByte = this.size > 0 ? this.byteAt(this.size - 1) : NEWLINE;
      if (this.positional) this.posFd = openKept(this.layout.base, O_WRONLY, this.mode, this.ino).fd;
    } catch (err) {
      this.closeFiles();
      throw err;
    }
    this.indexAppends = 0;
    try {
      this.indexFd = openKept(this.layout.index, O_WRONLY | O_APPEND | O_CREAT, this.mode).fd;
    } catch {
      // Advisory (see appendIndex()); the next open tries again.
      this.indexFd = -1;
    }
  }

  /** True when a file is open and no marker is owed; reopens after a failed rotation. */
  private ready(): boolean {
    return this.reopen() && (this.pendingDrop === 0 || this.writeMarker());
  }

  private reopen(): boolean {
    if (this.fd >= 0) return true;
    try {
      this.openChain(false);
    } catch (err) {
      this.failure = errorCode(err);
      return false;
    }
    return true;
  }

  /** Writes a chunk synchronously (again, if a threadpool write of it is pending) and settles it. */
  private writeChunkSync(chunk: PipeChunk): number {
    let off = 0;
    try {
      while (off < chunk.data.length) {
        off += fs.writeSync(chunk.fd, chunk.data, off, chunk.data.length - off, chunk.offset + off);
      }
    } catch (err) {
      return this.settle(chunk, off, err);
    }
    return this.settle(chunk, off, null);
  }

  private settlePendingSync(): void {
    if (this.pending !== null) this.writeChunkSync(this.pending);
  }

  /** Accounts for a chunk of which `written` bytes reached the file; consumes its payload from the pipe. */
  private settle(chunk: PipeChunk, written: number, err: unknown): number {
    if (chunk.settled) return 0;
    chunk.settled = true;
    if (this.pending === chunk) this.pending = null;
    const m = chunk.markerLength;
    if (err !== null) this.failure = errorCode(err);
    if (written >= m) {
      this.size = chunk.offset + written;
      if (m > 0) {
        this.markerCount++;
        this.pendingDrop -= chunk.markerDrops;
        if (this.pendingDrop === 0) this.dropReasons = [];
        this.lastByte = NEWLINE;
      }
    } else {
      // A marker that failed part way is truncated away: the drops stay owed to one whole line.
      this.size = chunk.offset;
      try {
        if (written > 0) fs.ftruncateSync(chunk.fd, chunk.offset);
      } catch {
        this.size = chunk.offset + written;
      }
    }
    const payload = Math.max(0, written - m);
    this.written += payload;
    if (payload > 0) this.lastByte = chunk.data[m + payload - 1] as number;
    if (chunk.cut && payload === chunk.length) this.cap = this.size;
    if (!chunk.released) {
      consume(chunk.pipeFd, chunk.scratch, chunk.length);
      this.fromPipe += chunk.length;
    }
    if (payload < chunk.length) this.drop(chunk.length - payload);
    return chunk.length;
  }

  private enablePositional(): void {
    this.positional = true;
    if (this.fd < 0) return;
    try {
      this.posFd = openKept(this.layout.base, fs.constants.O_WRONLY, this.mode, this.ino).fd;
    } catch (err) {
      this.failure = errorCode(err);
      this.closeFiles();
    }
  }

  /** One byte of the base, read back to know whether a marker needs a line break before it. */
  private byteAt(offset: number): number {
    const one = Buffer.alloc(1);
    let fd = -1;
    try {
      const opened = openMember(this.layout.base, fs.constants.O_RDONLY);
      fd = opened.fd;
      if (opened.st.ino !== this.ino) return NEWLINE;
      return fs.readSync(fd, one, 0, 1, offset) === 1 ? (one[0] as number) : NEWLINE;
    } catch {
      return NEWLINE;
    } finally {
      if (fd >= 0) closeQuietly(fd);
    }
  }

  /**
   * Rotation, ordered so that a kill between any two steps leaves a chain recoverChain() repairs
   * without losing or repeating a byte: (1) prepare the next base under a hidden name and record
   * it in the index; (2) unlink the file the rotation drops (the oldest backup; with no backups,
   * the base); (3) shift the backups oldest first, each into the name just freed; (4) rename the
   * base to the newest backup name; (5) rename the prepared file to the base name.
   */
  private rotate(): boolean {
    const L = this.layout;
    let fd = -1;
    let posFd = -1;
    try {
      fd = createFile(L.newBase, this.mode, true);
      const ino = fs.fstatSync(fd, { bigint: true }).ino;
      const start = this.start + this.size;
      this.appendIndex(ino, start);
      if (this.positional) posFd = openKept(L.newBase, fs.constants.O_WRONLY, this.mode, ino).fd;
      // No rename replaces a file: on ext4 one that does writes the renamed file back at once
      // (auto_da_alloc) and frees the replaced one, ~1 ms per rotation measured here against
      // ~0.3 ms for unlink + renames; bench/pipe-to-rotating-file.ts on ext4 went from 552 to
      // ~1180 MB/s.
      unlinkIfExists(L.backups.length > 0 ? (L.backups[L.backups.length - 1] as string) : L.base);
      for (let i = L.backups.length - 1; i > 0; i--) renameIfExists(L.backups[i - 1] as string, L.backups[i] as string);
      if (L.backups.length > 0) fs.renameSync(L.base, L.backups[0] as string);
      fs.renameSync(L.newBase, L.base);
      this.closeFile();
      this.fd = fd;
      this.posFd = posFd;
      this.ino = ino;
      this.start = start;
      this.size = 0;
      this.cap = this.limit;
      this.rotationCount++;
    } catch (err) {
      if (fd >= 0) closeQuietly(fd);
      if (posFd >= 0) closeQuietly(posFd);
      this.failure = errorCode(err);
      // The chain may be half shifted: the next write runs the recovery of open() first.
      this.closeFiles();
      return false;
    }
    if (this.indexAppends >= INDEX_APPENDS_BEFORE_REWRITE) {
      rewriteIndex(L, this.mode);
      closeQuietly(this.indexFd);
      this.indexAppends = 0;
      try {
        this.indexFd = openKept(L.index, fs.constants.O_WRONLY | fs.constants.O_APPEND, this.mode).fd;
      } catch {
        // Advisory, like appendIndex(): the next open() recreates it.
        this.indexFd = -1;
      }
    }
    return true;
  }

  private appendIndex(ino: bigint, start: number): void {
    if (this.indexFd < 0) return;
    try {
      fs.writeSync(this.indexFd, formatRecord(ino, start));
      this.indexAppends++;
    } catch {
      // Advisory: without the record a reader reports the gap behind this file as unknown (-1).
    }
  }

  private drop(n: number, reason = this.failure): void {
    this.dropped += n;
    this.pendingDrop += n;
    if (!this.dropReasons.includes(reason)) this.dropReasons.push(reason);
  }

  /** Drains up to max bytes from a pipe the file cannot take, so the guest never blocks on us. */
  private discard(pipeFd: number, buf: Buffer, max: number): number | null {
    const n = readFd(pipeFd, buf, 0, max);
    if (n !== null && n > 0) {
      this.fromPipe += n;
      this.drop(n);
    }
    return n;
  }

  /**
   * Writes `[logwarden: dropped N bytes: CODES]` on a line of its own, in a file it fits in whole
   * (cut to maxSize if even an empty file is too small). A marker that fails part way is truncated
   * away, so the drops end up recorded by exactly one line.
   */
  private writeMarker(): boolean {
    const marker = this.markerBytes();
    if (marker.length > this.cap - this.size && !this.rotate()) return false;
    const before = this.size;
    let off = 0;
    try {
      while (off < marker.length) off += fs.writeSync(this.fd, marker, off, marker.length - off);
    } catch (err) {
      this.failure = errorCode(err);
      try {
        if (off > 0) fs.ftruncateSync(this.fd, before);
      } catch {
        this.size = before + off;
      }
      return false;
    }
    this.size = before + off;
    this.lastByte = NEWLINE;
    this.markerCount++;
    this.pendingDrop = 0;
    this.dropReasons = [];
    return true;
  }

  private markerBytes(): Buffer {
    const lead = this.atLineStart() ? '' : '\n';
    const marker = Buffer.from(
      `${lead}[logwarden: dropped ${this.pendingDrop} bytes: ${this.dropReasons.join(',')}]\n`,
      'latin1',
    );
    if (marker.length <= this.limit) return marker;
    return Buffer.concat([marker.subarray(0, this.limit - 1), Buffer.from('\n')]);
  }

  private atLineStart(): boolean {
    return this.lastByte === NEWLINE;
  }

  private closeFile(): void {
    if (this.fd >= 0) closeQuietly(this.fd);
    if (this.posFd === this.busyFd && this.posFd >= 0) this.deferredClose.push(this.posFd);
    else if (this.posFd >= 0) closeQuietly(this.posFd);
    this.fd = -1;
    this.posFd = -1;
  }

  private closeFiles(): void {
    this.closeFile();
    if (this.indexFd >= 0) closeQuietly(this.indexFd);
    this.indexFd = -1;
  }
}

function renameIfExists(from: string, to: string): void {
  try {
    fs.renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/**
 * Takes exactly len bytes that tee showed out of a pipe, by splicing them to /dev/null: the kernel
 * drops the page references, nothing is copied.
 */
function consume(pipeFd: number, scratch: PipeScratch, len: number): void {
  let done = 0;
  while (done < len) {
    const n = splice(pipeFd, scratch.nullFd, len - done);
    if (n === null || n === 0) {
      throw new RotatingFileError('LW_ERR_ROTATING_FILE_PIPE_SHORT', `${done} of ${len} bytes (does another reader drain the pipe?)`);
    }
    done += n;
  }
}
