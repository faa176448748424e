// One framed connection over a UNIX stream socket: bytes and fds in, messages out; messages and fds in,
// frames out. Shared by RpcServer and RpcClient; knows nothing of calls or streams.
import { close as closeFd, type UnixSocket } from '../native/index.js';
import { LwError } from './errors.js';
import { FrameDecoder } from './frame.js';
import { LIMITS, type Limits } from './limits.js';
import { decodeMessage, encodeFrame, type Message } from './messages.js';

export function closeFds(fds: readonly number[]): void {
  for (const fd of fds) {
    try {
      closeFd(fd);
    } catch {
      // Already closed or never valid: nothing left to release.
    }
  }
}

export interface ConnectionEvents {
  /** A decoded message; the fds that came with its frame now belong to the callee. */
  message(msg: Message, fds: number[]): void;
  /** The byte stream became unusable (framing, fd binding, malformed body). Reading has stopped. */
  fatal(err: LwError): void;
  /** The socket closed (EOF, error, or close()). Called once. */
  closed(err: LwError | null): void;
}

export class FramedConnection {
  readonly #socket: UnixSocket;
  readonly #decoder: FrameDecoder;
  readonly #limits: Limits;
  readonly #events: ConnectionEvents;
  #failed = false;
  #closed = false;
  #draining = false;
  #paused = false;
  /** Messages decoded while paused (a chunk can hold many frames): delivered on resume(). */
  #backlog: { msg: Message; fds: number[] }[] = [];

  constructor(socket: UnixSocket, events: ConnectionEvents, limits: Limits = LIMITS) {
    this.#socket = socket;
    this.#events = events;
    this.#limits = limits;
    this.#decoder = new FrameDecoder(limits);
    // One more than a frame may carry, so an excess is seen (and the kernel closes the rest, not us).
    socket.maxFds = limits.maxFdsPerFrame + 1;
    socket.on('message', (m: { data: Buffer; fds: number[] }) => {
      this.#receive(m.data, m.fds);
    });
    socket.on('end', () => {
      if (this.#draining) {
        this.close(null);
        return;
      }
      // After a fatal error the owner is still sending its error frame and closes when that is done.
      if (this.#failed) return;
      if (this.#decoder.midFrame) this.close(new LwError('LW_ERR_PROTO_TRUNCATED'));
      else this.close(new LwError('LW_ERR_RPC_CLOSED', 'peer closed the connection'));
    });
    socket.on('error', (err: unknown) => {
      this.close(new LwError('LW_ERR_RPC_CLOSED', `connection error: ${err instanceof Error ? err.message : String(err)}`, undefined, { cause: err }));
    });
    socket.on('close', () => {
      this.close(null);
    });
  }

  get fd(): number {
    return this.#socket.fd;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /** Part of a frame was read: the connection cannot be handed to another process as it is. */
  get midFrame(): boolean {
    return this.#decoder.midFrame;
  }

  /** Bytes queued but not yet accepted by the kernel: the sender-side backpressure signal. */
  get pendingSendBytes(): number {
    return this.#socket.pendingSendBytes;
  }

  /** Stops delivering messages (including ones already received) and reading from the socket. */
  pause(): void {
    if (this.#closed || this.#paused) return;
    this.#paused = true;
    this.#socket.pause();
  }

  resume(): void {
    if (this.#closed || this.#failed || !this.#paused) return;
    this.#paused = false;
    // A delivered message may pause us again (or close us): re-check before each one.
    while (this.#flowing()) {
      const next = this.#backlog.shift();
      if (next === undefined) break;
      this.#events.message(next.msg, next.fds);
    }
    if (this.#flowing()) this.#socket.resume();
  }

  /**
   * Sends one message as one frame; its fds go with that frame's single sendmsg. The caller keeps its fds.
   * Encoding errors (a frame over the limit) throw synchronously, before anything is queued.
   */
  send(msg: Message, fds: readonly number[] = []): Promise<void> {
    if (this.#closed) throw new LwError('LW_ERR_RPC_CLOSED');
    const parts = encodeFrame(msg, fds.length, this.#limits);
    return this.#socket.send(parts, fds.length > 0 ? { fds: [...fds] } : undefined).catch((err: unknown) => {
      throw new LwError('LW_ERR_RPC_CLOSED', `send failed: ${err instanceof Error ? err.message : String(err)}`, undefined, {
        cause: err,
      });
    });
  }

  /**
   * Sends a last message, then reads and discards until the peer closes (or `lingerMs` passed), then
   * closes. Closing with unread data would make the kernel reset the connection, and the peer could
   * lose this very message.
   */
  closeAfter(msg: Message, lingerMs = 2000): void {
    if (this.#closed) return;
    const timer = setTimeout(() => {
      this.close(null);
    }, lingerMs);
    timer.unref();
    this.#socket.on('close', () => {
      clearTimeout(timer);
    });
    this.#draining = true;
    this.#dropBacklog();
    try {
      this.send(msg).catch(() => {
        this.close(null);
      });
    } catch {
      this.close(null);
      return;
    }
    this.#socket.resume();
  }

  /** Idempotent. Closes the socket and every fd received but not yet handed out. */
  close(err: LwError | null = null): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#dropBacklog();
    closeFds(this.#decoder.dispose());
    this.#socket.close();
    this.#events.closed(err);
  }

  #receive(data: Buffer, fds: number[]): void {
    if (this.#failed || this.#closed || this.#draining) {
      closeFds(fds);
      return;
    }
    let frames;
    try {
      frames = this.#decoder.push(data, fds);
    } catch (err) {
      this.#fail(err instanceof LwError ? err : new LwError('LW_ERR_INTERNAL', undefined, undefined, { cause: err }));
      return;
    }
    for (const frame of frames) {
      // A previous message of this chunk may have closed the connection.
      if (this.#stopped()) {
        closeFds(frame.fds);
        continue;
      }
      let msg: Message;
      try {
        msg = decodeMessage(frame.body, this.#limits);
      } catch (err) {
        closeFds(frame.fds);
        this.#fail(err instanceof LwError ? err : new LwError('LW_ERR_PROTO_MALFORMED', undefined, undefined, { cause: err }));
        continue;
      }
      if (this.#paused) this.#backlog.push({ msg, fds: frame.fds });
      else this.#events.message(msg, frame.fds);
    }
  }

  #dropBacklog(): void {
    for (const b of this.#backlog) closeFds(b.fds);
    this.#backlog = [];
  }

  #flowing(): boolean {
    return !this.#paused && !this.#stopped();
  }

  #stopped(): boolean {
    return this.#failed || this.#closed;
  }

  #fail(err: LwError): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#socket.pause();
    this.#dropBacklog();
    closeFds(this.#decoder.dispose());
    this.#events.fatal(err);
  }
}
