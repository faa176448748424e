// Frames on a UNIX stream socket: an 8-byte header, then a msgpack body.
//
//   0  'L' 'W'      magic
//   2  u8           frame format (1)
//   3  u8           number of fds sent with this frame
//   4  u32 BE       body length
//
// The header alone decides whether a frame is acceptable, so nothing is allocated for a frame that is not.
//
// Binding fds to frames: a frame that carries fds is written with ONE sendmsg whose SCM_RIGHTS hold
// exactly those fds. On Linux the fds of a unix stream sendmsg ride on its first skb, so they come back
// with the recvmsg that returns that skb's first byte, which is the frame's first byte; and a recvmsg
// never returns data from two fd-carrying skbs. So: the fds received with a chunk belong to the one frame
// that starts in that chunk and declares fds, and that frame must declare exactly that many. Anything
// else (fds with no frame starting, two frames claiming, a count that differs) is LW_ERR_PROTO_FD_MISMATCH.
import { LwError } from './errors.js';
import { LIMITS, type Limits } from './limits.js';

export const FRAME_HEADER_BYTES = 8;
export const FRAME_FORMAT = 1;
const MAGIC_0 = 0x4c;
const MAGIC_1 = 0x57;

export interface FrameHeader {
  fdCount: number;
  bodyLength: number;
}

export interface Frame {
  body: Buffer;
  fds: number[];
}

export function encodeFrameHeader(bodyLength: number, fdCount: number, limits: Limits = LIMITS): Buffer {
  if (fdCount > limits.maxFdsPerFrame) {
    throw new LwError('LW_ERR_PROTO_TOO_MANY_FDS', `${fdCount} fds, at most ${limits.maxFdsPerFrame} per frame`);
  }
  if (bodyLength + FRAME_HEADER_BYTES > limits.maxFrameBytes) {
    throw new LwError(
      'LW_ERR_PROTO_FRAME_TOO_LARGE',
      `frame of ${bodyLength + FRAME_HEADER_BYTES} bytes, at most ${limits.maxFrameBytes}`,
    );
  }
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header[0] = MAGIC_0;
  header[1] = MAGIC_1;
  header[2] = FRAME_FORMAT;
  header[3] = fdCount;
  header.writeUInt32BE(bodyLength, 4);
  return header;
}

/** Checks a complete header; throws the coded reason it is unacceptable. */
export function parseFrameHeader(header: Uint8Array, limits: Limits = LIMITS): FrameHeader {
  if (header[0] !== MAGIC_0 || header[1] !== MAGIC_1 || header[2] !== FRAME_FORMAT) {
    throw new LwError('LW_ERR_PROTO_BAD_MAGIC');
  }
  const fdCount = header[3] ?? 0;
  const bodyLength = ((header[4] ?? 0) * 2 ** 24) + (((header[5] ?? 0) << 16) | ((header[6] ?? 0) << 8) | (header[7] ?? 0));
  if (fdCount > limits.maxFdsPerFrame) {
    throw new LwError('LW_ERR_PROTO_TOO_MANY_FDS', `frame declares ${fdCount} fds, at most ${limits.maxFdsPerFrame}`, {
      fdCount,
    });
  }
  if (bodyLength > limits.maxFrameBytes - FRAME_HEADER_BYTES) {
    throw new LwError(
      'LW_ERR_PROTO_FRAME_TOO_LARGE',
      `frame declares ${bodyLength + FRAME_HEADER_BYTES} bytes, at most ${limits.maxFrameBytes}`,
      { bytes: bodyLength + FRAME_HEADER_BYTES },
    );
  }
  return { fdCount, bodyLength };
}

/** fds received with one chunk, and the stream offsets [start, end) of that chunk's bytes. */
interface FdGroup {
  start: number;
  end: number;
  fds: number[];
  claimed: boolean;
}

/**
 * Reassembles frames from stream chunks and binds received fds to them. Any error it throws is fatal for
 * the connection: the owner must stop feeding it and close `heldFds()`. fds handed out in a returned
 * Frame belong to the caller.
 */
export class FrameDecoder {
  readonly #limits: Limits;
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Stream offset of the first buffered byte, which is always the start of the next frame. */
  #consumed = 0;
  #received = 0;
  #header: FrameHeader | null = null;
  #frameFds: number[] = [];
  #groups: FdGroup[] = [];
  #failed = false;

  constructor(limits: Limits = LIMITS) {
    this.#limits = limits;
  }

  /** Bytes held for an incomplete frame; bounded by maxFrameBytes plus one chunk. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /** True when a frame has started but not finished (EOF now would be a truncation). */
  get midFrame(): boolean {
    return this.#buffered > 0;
  }

  /** fds received but not (yet) handed out with a frame. */
  heldFds(): number[] {
    return [...this.#frameFds, ...this.#groups.filter((g) => !g.claimed).flatMap((g) => g.fds)];
  }

  /** Releases everything held; returns the fds the owner must close. */
  dispose(): number[] {
    const fds = this.heldFds();
    this.#frameFds = [];
    this.#groups = [];
    this.#chunks = [];
    this.#buffered = 0;
    this.#failed = true;
    return fds;
  }

  push(data: Uint8Array, fds: readonly number[] = []): Frame[] {
    if (this.#failed) throw new LwError('LW_ERR_RPC_CLOSED', 'frame decoder already failed');
    const start = this.#received;
    this.#received += data.length;
    if (fds.length > 0) this.#groups.push({ start, end: this.#received, fds: [...fds], claimed: false });
    try {
      if (fds.length > this.#limits.maxFdsPerFrame) {
        throw new LwError('LW_ERR_PROTO_TOO_MANY_FDS', `received ${fds.length} fds, at most ${this.#limits.maxFdsPerFrame}`);
      }
      if (fds.length > 0 && data.length === 0) throw new LwError('LW_ERR_PROTO_FD_MISMATCH', 'fds without data');
      if (data.length > 0) {
        const chunk = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
        this.#chunks.push(chunk);
        this.#buffered += chunk.length;
      }
      const frames: Frame[] = [];
      try {
        this.#parse(frames);
      } catch (err) {
        // Frames completed in this push are dropped with the connection: their fds go back to the owner.
        for (const f of frames) this.#frameFds.push(...f.fds);
        throw err;
      }
      return frames;
    } catch (err) {
      this.#failed = true;
      throw err;
    }
  }

  #parse(out: Frame[]): void {
    for (;;) {
      if (this.#header === null) {
        if (this.#buffered < FRAME_HEADER_BYTES) break;
        const header = parseFrameHeader(this.#peek(FRAME_HEADER_BYTES), this.#limits);
        this.#bindFds(header);
        this.#header = header;
      }
      const total = FRAME_HEADER_BYTES + this.#header.bodyLength;
      if (this.#buffered < total) break;
      const whole = this.#take(total);
      out.push({ body: whole.subarray(FRAME_HEADER_BYTES), fds: this.#frameFds });
      this.#frameFds = [];
      this.#header = null;
    }
    this.#judgeGroups();
  }

  /** Claims the fds of the chunk this frame starts in, if the frame declares any. */
  #bindFds(header: FrameHeader): void {
    const at = this.#consumed;
    const group = this.#groups.find((g) => g.start <= at && at < g.end);
    if (header.fdCount === 0) return;
    if (group === undefined) {
      throw new LwError('LW_ERR_PROTO_FD_MISMATCH', `frame declares ${header.fdCount} fds but none came with it`);
    }
    if (group.claimed || group.fds.length !== header.fdCount) {
      throw new LwError(
        'LW_ERR_PROTO_FD_MISMATCH',
        `frame declares ${header.fdCount} fds, ${group.claimed ? 'they were already claimed' : `${group.fds.length} came with it`}`,
      );
    }
    group.claimed = true;
    this.#frameFds = group.fds;
  }

  /** A group no future frame can start in must have been claimed; claimed groups are forgotten once passed. */
  #judgeGroups(): void {
    const next = this.#consumed;
    // No frame starts before the end of the frame in progress (when its header is known).
    const horizon = this.#header === null ? next : next + FRAME_HEADER_BYTES + this.#header.bodyLength;
    for (const g of this.#groups) {
      if (!g.claimed && g.end <= horizon) {
        throw new LwError('LW_ERR_PROTO_FD_MISMATCH', `${g.fds.length} fds arrived with no frame starting to claim them`);
      }
    }
    this.#groups = this.#groups.filter((g) => g.end > next);
  }

  #peek(n: number): Buffer {
    const first = this.#chunks[0];
    if (first !== undefined && first.length >= n) return first.subarray(0, n);
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    for (const c of this.#chunks) {
      filled += c.copy(out, filled, 0, Math.min(c.length, n - filled));
      if (filled === n) break;
    }
    return out;
  }

  #take(n: number): Buffer {
    this.#buffered -= n;
    this.#consumed += n;
    const first = this.#chunks[0];
    if (first !== undefined && first.length >= n) {
      // Common case: the whole frame sits in one chunk, hand out a view instead of copying.
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.#chunks[0];
      if (c === undefined) break;
      const part = Math.min(c.length, n - filled);
      c.copy(out, filled, 0, part);
      filled += part;
      if (part === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(part);
    }
    return out;
  }
}
