// The reader of a rotating file: position-aware, binary-safe, and honest about rotated-away bytes.
// It never changes the chain, so it may run beside a live writer (in any process).
import { constants as bufferConstants } from 'node:buffer';
import fs from 'node:fs';
import { type ChainFile, type ChainLayout, type ChainOptions, chainLayout, listChain, readIndex } from './chain.js';
import { RotatingFileError, invalidArgument } from './errors.js';
import { type Position, START } from './position.js';

export interface ReadResult {
  /** Bytes from the position on, oldest first, across as many files as maxLen allows. */
  readonly data: Buffer;
  /** Where the next read continues. */
  readonly next: Position;
  /**
   * Bytes between the requested position and the first byte of `data` that were rotated away
   * before they could be read; -1 if bytes were lost but the chain index cannot say how many.
   */
  readonly gap: number;
}

/** Re-listings of the chain a read allows when rotations keep moving files under it. */
const MAX_RESCANS = 8;

function validPosition(p: unknown): p is Position {
  if (typeof p !== 'object' || p === null) return false;
  const { inode, offset } = p as { inode?: unknown; offset?: unknown };
  return typeof inode === 'bigint' && inode >= 0n && Number.isSafeInteger(offset) && (offset as number) >= 0;
}

function addGap(a: number, b: number): number {
  return a < 0 || b < 0 ? -1 : a + b;
}

/** Reads until len bytes or the end of the file; returns the count. */
function preadFully(fd: number, buf: Buffer, position: number): number {
  let got = 0;
  while (got < buf.length) {
    const n = fs.readSync(fd, buf, got, buf.length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

export class RotatingFileReader {
  readonly path: string;
  private readonly layout: ChainLayout;
  private cursor: Position = START;

  /** `opts` must name the chain the way its writer does (maxBackups, firstBackupIndex). */
  constructor(file: string, opts: ChainOptions = {}) {
    this.layout = chainLayout(file, opts);
    this.path = this.layout.base;
  }

  /** The cursor consume() reads from (START until seek() or consume() moves it). */
  get position(): Position {
    return this.cursor;
  }

  /** Sets the cursor to an inode and offset, e.g. a position a writer or an earlier read returned. */
  seek(inode: bigint, offset = 0): void {
    const p = { inode, offset };
    if (!validPosition(p)) throw invalidArgument('seek needs an inode (bigint >= 0) and an offset (integer >= 0)');
    this.cursor = p;
  }

  /** read() from the cursor, then moves the cursor past what was returned. */
  consume(maxLen: number): { data: Buffer; gap: number } {
    const r = this.read(this.cursor, maxLen);
    this.cursor = r.next;
    return { data: r.data, gap: r.gap };
  }

  /** The position just past the last byte written so far (START if there is no base yet). */
  end(): Position {
    const chain = listChain(this.layout);
    const base = chain[chain.length - 1];
    return base === undefined || base.path !== this.layout.base ? START : { inode: base.ino, offset: base.size };
  }

  /**
   * Up to maxLen bytes from `from` on. The file holding the position is found by inode wherever
   * rotation moved it; reading goes on into newer files. If that file was rotated away, reading
   * resumes at the oldest file still there and `gap` says how much was skipped.
   */
  read(from: Position, maxLen: number): ReadResult {
    if (!validPosition(from)) throw invalidArgument('position needs an inode (bigint >= 0) and an offset (integer >= 0)');
    if (!Number.isSafeInteger(maxLen) || maxLen < 0 || maxLen > bufferConstants.MAX_LENGTH) {
      throw invalidArgument('maxLen must be an integer 0..buffer.constants.MAX_LENGTH');
    }
    const pieces: Buffer[] = [];
    let total = 0;
    let gap = 0;
    let inode = from.inode;
    let offset = from.offset;
    for (let scan = 0; scan <= MAX_RESCANS; scan++) {
      const chain = listChain(this.layout);
      const oldest = chain[0];
      if (oldest === undefined) break;
      let i = inode === 0n ? 0 : chain.findIndex((f) => f.ino === inode);
      if (i < 0) {
        gap = addGap(gap, this.gapBefore(inode, offset, oldest));
        i = 0;
        offset = 0;
      }
      inode = (chain[i] as ChainFile).ino;
      const outcome = this.readFrom(chain, i, offset, maxLen - total, pieces);
      total += outcome.got;
      inode = outcome.inode;
      offset = outcome.offset;
      if (!outcome.moved) break;
    }
    return { data: Buffer.concat(pieces, total), next: { inode, offset }, gap };
  }

  /**
   * Reads chain[i..] from offset into pieces. `moved` is true when a file was no longer under the
   * name it was listed with (a rotation in between): the caller lists the chain again and goes on
   * from the returned inode and offset, which are always where the bytes read so far end.
   */
  private readFrom(
    chain: ChainFile[],
    i: number,
    offset: number,
    maxLen: number,
    pieces: Buffer[],
  ): { got: number; inode: bigint; offset: number; moved: boolean } {
    let got = 0;
    for (;;) {
      const f = chain[i] as ChainFile;
      let fd: number;
      try {
        fd = fs.openSync(f.path, 'r');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { got, inode: f.ino, offset, moved: true };
        throw err;
      }
      let size: number;
      try {
        const st = fs.fstatSync(fd, { bigint: true });
        if (st.ino !== f.ino) return { got, inode: f.ino, offset, moved: true };
        size = Number(st.size);
        if (offset > size) {
          throw new RotatingFileError('LW_ERR_ROTATING_FILE_BAD_POSITION', `offset ${offset} > size ${size} of ${f.path}`);
        }
        const want = Math.min(size - offset, maxLen - got);
        if (want > 0) {
          const buf = Buffer.allocUnsafe(want);
          const n = preadFully(fd, buf, offset);
          pieces.push(n === want ? buf : buf.subarray(0, n));
          got += n;
          offset += n;
        }
      } finally {
        fs.closeSync(fd);
      }
      i++;
      if (got >= maxLen || i >= chain.length || offset < size) return { got, inode: f.ino, offset, moved: false };
      offset = 0;
    }
  }

  /** Bytes rotated away between a lost position and the start of the oldest file left. */
  private gapBefore(inode: bigint, offset: number, oldest: ChainFile): number {
    const records = readIndex(this.layout);
    const lostStart = records.get(inode);
    const oldestStart = records.get(oldest.ino);
    if (lostStart === undefined || oldestStart === undefined) return -1;
    const gap = oldestStart - (lostStart + offset);
    return gap >= 0 ? gap : -1;
  }
}
