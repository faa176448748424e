// The scratch pipe and buffer writeFromPipe() peeks through: the guest pipe is tee'd into the
// scratch pipe and the copy read here, so the cut can be decided while the bytes stay in the guest
// pipe. One scratch serves any number of writers on the same thread; it is built once at setup.
import { close, pipe } from '../native/index.js';
import { invalidArgument } from './errors.js';

/** Newline look-back before the size limit; see writeFromPipe() for why it is bounded. */
export const DEFAULT_WINDOW = 64 * 1024;
const PAGE = 4096;

export class PipeScratch {
  readonly readFd: number;
  readonly writeFd: number;
  /** Bytes before a file's size limit that are inspected for a newline to cut at. */
  readonly window: number;
  /** Holds a tee'd copy (window + 1 bytes) or bytes drained while the file cannot be written. */
  readonly buffer: Buffer;
  private closed = false;

  private constructor(readFd: number, writeFd: number, window: number) {
    this.readFd = readFd;
    this.writeFd = writeFd;
    this.window = window;
    this.buffer = Buffer.allocUnsafe(Math.max(window + 1, DEFAULT_WINDOW));
  }

  static create(opts: { window?: number } = {}): PipeScratch {
    const window = opts.window ?? DEFAULT_WINDOW;
    if (!Number.isInteger(window) || window < 1 || window > 16 * 1024 * 1024) {
      throw invalidArgument('window must be an integer 1..16 MiB');
    }
    // tee() takes one scratch slot per guest pipe buffer it touches: two pages of slack let a
    // window that straddles page-sized buffers fit (the kernel rounds up to a power of two).
    const { readFd, writeFd } = pipe({ size: window + 2 * PAGE });
    return new PipeScratch(readFd, writeFd, window);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    close(this.readFd);
    close(this.writeFd);
  }
}
