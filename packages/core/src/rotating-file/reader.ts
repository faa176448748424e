// The reader of a rotating file: position-aware, binary-safe, and honest about rotated-away bytes.
// It never changes the chain, so it may run beside a live writer (in any process). What is not a
// member of the chain (a symlink, a hard link to a file elsewhere, a FIFO...: see chain.ts) is
// skipped as missing, never opened through.
import { constants as bufferConstants } from 'node:buffer';
import fs from 'node:fs';
import {
  type ChainFile,
  type ChainLayout,
  type ChainOptions,
  chainLayout,
  chainStarts,
  isUnsafeMember,
  listChain,
  openMember,
  readIndex,
} from './chain.js';
import { RotatingFileError, invalidArgument } from './errors.js';
import { type Position, START } from './position.js';

export interface ReadResult {
  /** Bytes from the position on, oldest first, across as many files as maxLen allows. */
  readonly data: Buffer;
  /** Where the next read continues. */
  readonly next: Position;
  /**
   * Bytes between the requested position and the first byte of `data` that were rotated away
   * before they could be read; -1 if the position does not belong to what the chain's index
   * knows (bytes may be missing, their count is unknown).
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

/** Reads until the buffer is full or the file ends; returns the count. */
function preadFully(fd: number, buf: Buffer, position: number): number {
  let got = 0;
  while (got < buf.length) {
    const n = fs.readSync(fd, buf, got, buf.length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/** The chain as a reader sees it at one instant: files oldest first and their stream starts. */
interface Snapshot {
  readonly files: ChainFile[];
  readonly starts: number[];
  /** False when the index knows none of the files: starts are then guesses from 0. */
  readonly anchored: boolean;
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

  /** Moves the cursor to a position a writer or an earlier read returned. */
  seek(position: Position): void {
    if (!validPosition(position)) throw invalidArgument('position needs an inode (bigint >= 0) and an offset (integer >= 0)');
    this.cursor = { inode: position.inode, offset: position.offset };
  }

  /**
   * Seek by inode (virtlogd's seek): moves the cursor to byte `fileOffset` of the file that has
   * this inode now, wherever rotation moved it. Returns the position; throws
   * LW_ERR_ROTATING_FILE_BAD_POSITION when no file of the chain has the inode or it is shorter.
   */
  seekInode(inode: bigint, fileOffset = 0): Position {
    if (typeof inode !== 'bigint' || inode <= 0n || !Number.isSafeInteger(fileOffset) || fileOffset < 0) {
      throw invalidArgument('seekInode needs an inode (bigint > 0) and a file offset (integer >= 0)');
    }
    const snap = this.snapshot();
    const i = snap.files.findIndex((f) => f.ino === inode);
    const file = snap.files[i];
    if (file === undefined || fileOffset > file.size) {
      throw new RotatingFileError('LW_ERR_ROTATING_FILE_BAD_POSITION', `no file with inode ${inode} and ${fileOffset} bytes`);
    }
    this.cursor = { inode, offset: (snap.starts[i] as number) + fileOffset };
    return this.cursor;
  }

  /** read() from the cursor, then moves the cursor past what was returned. */
  consume(maxLen: number): { data: Buffer; gap: number } {
    const r = this.read(this.cursor, maxLen);
    this.cursor = r.next;
    return { data: r.data, gap: r.gap };
  }

  /** The position just past the last byte written so far (START if there is no file yet). */
  end(): Position {
    const snap = this.snapshot();
    const last = snap.files.length - 1;
    const base = snap.files[last];
    return base === undefined ? START : { inode: base.ino, offset: (snap.starts[last] as number) + base.size };
  }

  /**
   * Up to maxLen bytes from `from` on. The file holding the position is found by inode wherever
   * rotation moved it; reading goes on into newer files. If the position's bytes were rotated
   * away, reading resumes at the oldest file still there and `gap` says how much was skipped.
   */
  read(from: Position, maxLen: number): ReadResult {
    if (!validPosition(from)) throw invalidArgument('position needs an inode (bigint >= 0) and an offset (integer >= 0)');
    if (!Number.isSafeInteger(maxLen) || maxLen < 0 || maxLen > bufferConstants.MAX_LENGTH) {
      throw invalidArgument('maxLen must be an integer 0..buffer.constants.MAX_LENGTH');
    }
    const pieces: Buffer[] = [];
    let total = 0;
    let gap = 0;
    let at: Position = from;
    for (let scan = 0; scan <= MAX_RESCANS; scan++) {
      const snap = this.snapshot();
      const oldest = snap.files[0];
      if (oldest === undefined) break;
      let i = 0;
      if (at.inode !== 0n) {
        i = snap.files.findIndex((f) => f.ino === at.inode);
        const file = snap.files[i];
        const start = snap.starts[i] as number;
        if (file !== undefined && at.offset > start + file.size) {
          throw new RotatingFileError('LW_ERR_ROTATING_FILE_BAD_POSITION', `offset ${at.offset} is past ${file.path}`);
        }
        if (file === undefined || at.offset < start) {
          // Rotated away (or its inode number since reused by a newer file): go on at the first
          // file after the position. A position inside another file's range is not ours: -1.
          const next = snap.starts.findIndex((s) => s >= at.offset);
          const before = snap.files[next - 1];
          const consistent =
            snap.anchored && next >= 0 && (before === undefined || (snap.starts[next - 1] as number) + before.size <= at.offset);
          i = consistent ? next : 0;
          gap = gap < 0 || !consistent ? -1 : gap + (snap.starts[i] as number) - at.offset;
          at = { inode: (snap.files[i] as ChainFile).ino, offset: snap.starts[i] as number };
        }
      } else {
        at = { inode: oldest.ino, offset: snap.starts[0] as number };
      }
      const outcome = this.readFrom(snap, i, at.offset - (snap.starts[i] as number), maxLen - total, pieces);
      total += outcome.got;
      at = outcome.at;
      if (!outcome.moved) break;
    }
    return { data: Buffer.concat(pieces, total), next: at, gap };
  }

  private snapshot(): Snapshot {
    const files = listChain(this.layout);
    const records = readIndex(this.layout);
    const known = chainStarts(files, records);
    return { files, starts: known ?? (chainStarts(files, records, 0) as number[]), anchored: known !== undefined };
  }

  /**
   * Reads files[i..] from fileOffset into pieces. `moved` is true when a file was no longer under
   * the name it was listed with (a rotation in between): the caller lists the chain again and
   * goes on from `at`, which is always where the bytes read so far end.
   */
  private readFrom(
    snap: Snapshot,
    i: number,
    fileOffset: number,
    maxLen: number,
    pieces: Buffer[],
  ): { got: number; at: Position; moved: boolean } {
    let got = 0;
    let offset = fileOffset;
    for (;;) {
      const f = snap.files[i] as ChainFile;
      const at = (): Position => ({ inode: f.ino, offset: (snap.starts[i] as number) + offset });
      let fd: number;
      let st: fs.BigIntStats;
      try {
        ({ fd, st } = openMember(f.path, fs.constants.O_RDONLY));
      } catch (err) {
        // Gone, or something else took the name since the listing (a listing again skips it).
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' || isUnsafeMember(err)) return { got, at: at(), moved: true };
        throw err;
      }
      let size: number;
      try {
        if (st.ino !== f.ino) return { got, at: at(), moved: true };
        size = Number(st.size);
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
      if (got >= maxLen || i + 1 >= snap.files.length || offset < size) return { got, at: at(), moved: false };
      i++;
      offset = 0;
    }
  }
}
