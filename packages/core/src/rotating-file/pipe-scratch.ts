// The scratch pipe and buffer takeFromPipe() peeks through: the guest pipe is tee'd into the
// scratch pipe and the copy read out of it, so the bytes stay in the guest pipe until the copy is in
// the file. One scratch serves any number of writers on the same thread (each copy is read out at
// once); it is built once at setup.
import fs from 'node:fs';
import { close, pipe } from '../native/index.js';
import { invalidArgument } from './errors.js';

const PAGE = 4096;
const DRAIN_BUFFER = 64 * 1024;
/**
 * Most bytes copied per chunk, which is also the newline look-back before the size limit. Two pages
 * short of 1 MiB so the scratch pipe fits /proc/sys/fs/pipe-max-size's default (see create()).
 */
export const DEFAULT_WINDOW = 1024 * 1024 - 2 * PAGE;

export class PipeScratch {
  readonly readFd: number;
  readonly writeFd: number;
  /** /dev/null, where chunks written are spliced out of their pipe. */
  readonly nullFd: number;
  /** Bytes before a file's size limit that are inspected for a newline to cut at. */
  readonly window: number;
  /** Holds bytes drained while the file cannot take them. */
  readonly buffer: Buffer;
  private closed = false;

  private constructor(readFd: number, writeFd: number, nullFd: number, window: number) {
    this.readFd = readFd;
    this.writeFd = writeFd;
    this.nullFd = nullFd;
    this.window = window;
    this.buffer = Buffer.allocUnsafe(DRAIN_BUFFER);
  }

  static create(opts: { window?: number } = {}): PipeScratch {
    const window = opts.window ?? DEFAULT_WINDOW;
    if (!Number.isInteger(window) || window < 1 || window > 16 * 1024 * 1024) {
      throw invalidArgument('window must be an integer 1..16 MiB');
    }
    // tee() takes one scratch slot per guest pipe buffer it touches: two pages of slack let a
    // window that straddles page-sized buffers fit (the kernel rounds up to a power of two).
    const { readFd, writeFd } = pipe({ size: window + 2 * PAGE });
    let nullFd: number;
    try {
      nullFd = fs.openSync('/dev/null', fs.constants.O_WRONLY);
    } catch (err) {
      close(readFd);
      close(writeFd);
      throw err;
    }
    return new PipeScratch(readFd, writeFd, nullFd, window);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    close(this.readFd);
    close(this.writeFd);
    fs.closeSync(this.nullFd);
  }
}
